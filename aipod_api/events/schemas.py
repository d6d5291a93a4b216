"""Event request/response models (the response shapes are TypedDicts, as elsewhere)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from typing_extensions import TypedDict

from aipod_api.core.types import Query

MAX_CURSOR = 2**62
TYPES_DESCRIPTION = (
    "事件类型,逗号分隔 / event types, comma-separated (e.g. `task.accepted,wallet.credited`); "
    "absent: all"
)


class EventsQuery(Query):
    after: int = Field(
        default=0, ge=0, le=MAX_CURSOR, description="游标:只返回 id 更大的事件 / cursor"
    )
    types: str | None = Field(default=None, max_length=1000, description=TYPES_DESCRIPTION)
    limit: int = Field(default=50, ge=1, le=100, description="每页数量 / page size (1–100)")


class StreamQuery(Query):
    after: int | None = Field(
        default=None,
        ge=0,
        le=MAX_CURSOR,
        description="游标(`Last-Event-ID` 优先)/ cursor (the `Last-Event-ID` header wins)",
    )
    types: str | None = Field(default=None, max_length=1000, description=TYPES_DESCRIPTION)


class EventPublic(TypedDict):
    id: int
    type: str
    created_at: str
    data: dict[str, Any]


class EventFeed(TypedDict):
    items: list[EventPublic]
    next_cursor: int
    has_more: bool
