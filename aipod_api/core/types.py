"""Shared field types: strict JSON scalars, exact money, times, IDs, pagination."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar, overload
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)
from sqlalchemy import Connection, Select, func, select
from typing_extensions import TypedDict

T = TypeVar("T")

MAX_MONEY = Decimal("1000000000")
CENT = Decimal("0.01")


@lru_cache(maxsize=1 << 16)
def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@overload
def iso(ts: int) -> str: ...
@overload
def iso(ts: None) -> None: ...
@overload
def iso(ts: int | None) -> str | None: ...
def iso(ts: int | None) -> str | None:
    """UNIX seconds -> `2026-03-27T10:30:00Z` (memoised: lists repeat the same instants)."""
    if ts is None:
        return None
    return _iso(ts)


# --- money ---------------------------------------------------------------------------


def _to_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("必须是数字|must be a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("必须是有限数字|must be a finite number")
        amount = Decimal(repr(value))
    else:
        amount = Decimal(value)
    try:
        if not amount.is_finite():
            raise ValueError("必须是有限数字|must be a finite number")
        if amount < 0:
            raise ValueError("不能为负数|must not be negative")
        if amount > MAX_MONEY:
            raise ValueError("不能超过 1000000000|must not exceed 1000000000")
        if amount != amount.quantize(CENT):
            raise ValueError("最多两位小数|at most 2 decimal places")
    except InvalidOperation as exc:
        raise ValueError("不是合法金额|not a valid amount") from exc
    return amount.quantize(CENT)


Money = Annotated[
    Decimal,
    BeforeValidator(_to_money),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1_000_000_000}),
]


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def money_out(cents: int) -> int | float:
    """Cents to a JSON number: 500 -> 500, 1250 -> 12.5. Exact for |x| < 2**53 cents."""
    if cents % 100 == 0:
        return cents // 100
    return float(Decimal(cents) / 100)


# --- strict scalars ------------------------------------------------------------------

StrictStr = Annotated[str, Strict()]
StrictBool = Annotated[bool, Strict()]

_TZ_CACHE: dict[str, ZoneInfo] = {}


def _tz(name: str) -> ZoneInfo:
    zone = _TZ_CACHE.get(name)
    if zone is None:
        zone = _TZ_CACHE[name] = ZoneInfo(name)
    return zone


MIN_INSTANT = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())  # 0001-01-01T00:00:00Z
MAX_INSTANT = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())


def parse_instant(value: Any, *, tz_name: str = "UTC") -> int:
    """ISO 8601 with or without offset (without: read in `tz_name`) -> UNIX seconds."""
    if not isinstance(value, str):
        raise ValueError("必须是 ISO 8601 时间字符串|must be an ISO 8601 string")
    text = value.strip()
    if not text or len(text) > 40:
        raise ValueError("不是合法的 ISO 8601 时间|not a valid ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("不是合法的 ISO 8601 时间|not a valid ISO 8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_tz(tz_name))
    try:
        ts = int(parsed.timestamp())
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError("时间超出范围|time out of range") from exc
    # An offset can push a year-9999 local time past 9999-12-31 in UTC, which no
    # timestamp output (ISO 8601, 4-digit year) can show.
    if not MIN_INSTANT <= ts <= MAX_INSTANT:
        raise ValueError("时间超出范围|time out of range")
    return ts


# --- identifiers ---------------------------------------------------------------------

CAPABILITY_RE = re.compile(r"^[a-z0-9_.-]{1,64}$")


def normalise_capability(value: str) -> str:
    """The one spelling of a capability: trimmed, lower-cased (bodies and filters)."""
    return value.strip().lower()


def _capability_filter(values: list[str]) -> list[str]:
    return list(dict.fromkeys(normalise_capability(v) for v in values))


# A repeatable `capability=` query filter: normalised, duplicates removed, in order (a
# filter is not validated further: an unknown spelling simply matches nothing).
CapabilityFilter = Annotated[list[str], AfterValidator(_capability_filter)]


def _capabilities(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("必须是字符串数组|must be an array of strings")
    out: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise ValueError("必须是字符串数组|must be an array of strings")
        cap = normalise_capability(item)
        if not CAPABILITY_RE.fullmatch(cap):
            raise ValueError(
                f"能力名 {item[:70]!r} 须为 1–64 个 [a-z0-9_.-] 字符"
                f"|capability {item[:70]!r} must be 1–64 chars of [a-z0-9_.-]"
            )
        if cap not in seen:
            seen.add(cap)
            out.append(cap)
    return out


def capabilities_type(max_items: int) -> Any:
    return Annotated[
        list[str],
        BeforeValidator(_capabilities),
        Field(max_length=max_items),
        WithJsonSchema(
            {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                "maxItems": max_items,
            }
        ),
    ]


class PublicIdCodec:
    """`task_001` <-> 1: a prefix and a zero-padded sequence, parsed strictly."""

    def __init__(self, prefix: str, width: int) -> None:
        self.prefix = prefix
        self.width = width
        self._re = re.compile(rf"^{re.escape(prefix)}_(\d{{{width},18}})$")

    def format(self, seq: int) -> str:
        return f"{self.prefix}_{seq:0{self.width}d}"

    def parse(self, public_id: str) -> int | None:
        match = self._re.fullmatch(public_id)
        if match is None:
            return None
        seq = int(match.group(1))
        if self.format(seq) != public_id:
            return None
        return seq


TASK_ID = PublicIdCodec("task", 3)
MEMORY_ID = PublicIdCodec("mem", 3)
RATING_ID = PublicIdCodec("rate", 3)
TX_ID = PublicIdCodec("tx", 6)
KEY_ID = PublicIdCodec("key", 3)


# --- request models ------------------------------------------------------------------


class Body(BaseModel):
    """Base for JSON bodies: unknown fields are errors; scalars are never coerced."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Query(BaseModel):
    """Base for query strings: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    page: int = Field(default=1, ge=1, le=1_000_000, description="页码 / page number (≥ 1)")
    page_size: int = Field(default=20, ge=1, le=100, description="每页数量 / page size (1–100)")


# Totals are counted exactly up to this many rows; beyond it `total` is the cap and
# `total_capped` is true, so a page never scans a million rows just to count them.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Total:
    value: int
    capped: bool = False


def capped_count(conn: Connection, query: Select[Any], *, cap: int = COUNT_CAP) -> Total:
    """COUNT(*) of `query`'s rows, reading at most `cap + 1` of them."""
    sub = query.limit(cap + 1).subquery()
    counted = int(conn.execute(select(func.count()).select_from(sub)).scalar_one())
    return Total(min(counted, cap), counted > cap)


def fetch_page(
    conn: Connection, query: Select[Any], *, page: int, page_size: int
) -> tuple[list[Any], bool]:
    """One page of an ordered query plus an exact `has_more` (one extra row is read)."""
    rows = conn.execute(query.limit(page_size + 1).offset((page - 1) * page_size)).all()
    return list(rows[:page_size]), len(rows) > page_size


# One page of a list: what every list service returns, and its OpenAPI schema (a comment,
# not a docstring: pydantic would publish a docstring as the schema's description).
class Page(TypedDict, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: Annotated[
        int, Field(description="exact up to 10,000; beyond that 10,000 and total_capped")
    ]
    total_capped: Annotated[bool, Field(description="true when there are more than 10,000 matches")]
    has_more: bool


def page_data(
    items: list[T],
    *,
    page: int,
    page_size: int,
    total: int | Total,
    has_more: bool | None = None,
) -> Page[T]:
    if isinstance(total, int):
        total = Total(total)
    return {
        "items": items,
        "page": page,
        "page_size": page_size,
        "total": total.value,
        "total_capped": total.capped,
        "has_more": page * page_size < total.value if has_more is None else has_more,
    }
