"""Memory request/response models. The response shapes are TypedDicts: one definition
for what the service returns (mypy checks it) and for the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema, field_validator
from typing_extensions import TypedDict

from aipod_api.core.types import Body, PageQuery, StrictStr

MAX_CONTENT = 20_000
MAX_TAGS = 20
MAX_TAG_LEN = 32
MAX_PARTICIPANTS = 50
MAX_QUERY = 100


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("包含无效的 Unicode 字符|contains invalid Unicode characters") from exc
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("必须是字符串数组|must be an array of strings")
    return value


def _tags(value: Any) -> list[str]:
    out: dict[str, None] = {}
    for item in _string_list(value):
        tag = _utf8(item.strip())
        if not 1 <= len(tag) <= MAX_TAG_LEN:
            raise ValueError(
                f"标签 {item[:40]!r} 长度须为 1–{MAX_TAG_LEN} 个字符"
                f"|tag {item[:40]!r} must be 1–{MAX_TAG_LEN} characters"
            )
        out.setdefault(tag)
    return list(out)


def _participants(value: Any) -> list[str]:
    out: dict[str, None] = {}
    for item in _string_list(value):
        agent_id = item.strip().lower()
        if not 1 <= len(agent_id) <= 64:
            raise ValueError(
                "参与节点 ID 长度须为 1–64 个字符|participant ids must be 1–64 characters"
            )
        out.setdefault(agent_id)
    return list(out)


def _content(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("不能为空白|must not be blank")
    return _utf8(value) if isinstance(value, str) else value


Tags = Annotated[
    list[str],
    BeforeValidator(_tags),
    Field(max_length=MAX_TAGS),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LEN},
            "maxItems": MAX_TAGS,
        }
    ),
]
Participants = Annotated[
    list[str],
    BeforeValidator(_participants),
    Field(max_length=MAX_PARTICIPANTS),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
            "maxItems": MAX_PARTICIPANTS,
        }
    ),
]


class MemoryCreate(Body):
    content: Annotated[
        StrictStr, Field(min_length=1, max_length=MAX_CONTENT), BeforeValidator(_content)
    ] = Field(description="记忆内容 / content (1–20000 characters)")
    participants: Participants = Field(
        default_factory=list,
        description="参与节点 / participant agent ids (0–50, existing, lower-cased, in order)",
    )
    tags: Tags = Field(
        default_factory=list,
        description="标签 / tags (0–20, each 1–32 characters, trimmed, duplicates removed)",
    )
    visibility: Literal["public", "participants"] = Field(
        default="public",
        description='"public" (everyone) or "participants" (only the author and participants)',
    )


class MemoryPath(BaseModel):
    memory_id: str = Field(max_length=32, description="mem_001")


class MemoryListQuery(PageQuery):
    participant: str | None = Field(
        default=None, min_length=1, max_length=64, description="按参与节点筛选 / participant id"
    )
    tag: str | None = Field(
        default=None, min_length=1, max_length=MAX_TAG_LEN, description="按标签筛选 / tag"
    )
    author: str | None = Field(
        default=None, min_length=1, max_length=64, description="按作者筛选 / author agent id"
    )
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_QUERY,
        description="全文检索(子串,中文可用,ASCII 不区分大小写)/ full-text search "
        "(substring; Chinese works; ASCII case-insensitive; 1–100 characters)",
    )
    sort: Literal["newest", "relevance"] = Field(
        default="newest",
        description="newest(默认,按创建顺序倒序)| relevance(需要 q)",
    )

    @field_validator("participant", "author")
    @classmethod
    def _agent_id(cls, value: str | None) -> str | None:
        return None if value is None else value.strip().lower()

    @field_validator("tag", "q")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _utf8(value.strip())
        if not value:
            raise ValueError("不能为空白|must not be blank")
        return value


class MemoryPublic(TypedDict):
    memory_id: str
    content: str
    participants: list[str]
    tags: list[str]
    author_id: str
    visibility: Literal["public", "participants"]
    created_at: str


# A page of memories: `Page` (core/types.py) with the search's own wording of
# `total_capped` (a comment: pydantic would publish a docstring).
class MemoryPage(TypedDict):
    items: list[MemoryPublic]
    page: int
    page_size: int
    total: Annotated[
        int, Field(description="exact up to 10,000; beyond that 10,000 and total_capped")
    ]
    total_capped: Annotated[
        bool,
        Field(
            description="true 表示匹配数超过上限,total 为上限值 / true when more rows match "
            "than are counted; total is then the cap (has_more stays exact)"
        ),
    ]
    has_more: bool
