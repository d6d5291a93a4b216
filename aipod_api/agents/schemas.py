"""Agent request/response models, split by direction. The response shapes are
TypedDicts: one definition for what the service returns (mypy checks it) and for the
OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator
from typing_extensions import TypedDict

from aipod_api.core.types import Body, CapabilityFilter, PageQuery, StrictStr, capabilities_type


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError("必须是 http(s) URL|must be an http(s) URL")
    return value


class AgentPath(BaseModel):
    agent_id: str = Field(max_length=64, description="节点 ID / agent id (= username, lower-cased)")


class AgentListQuery(PageQuery):
    capability: CapabilityFilter = Field(
        default_factory=list,
        description="按能力筛选,可重复 / filter by capability (repeatable: agents having all)",
    )
    min_trust: float | None = Field(default=None, ge=0, le=1, description="最低信任分 / min trust")


class AgentUpdate(Body):
    nickname: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    capabilities: capabilities_type(32) | None = None  # type: ignore[valid-type]
    description: Annotated[StrictStr, Field(max_length=2000)] | None = None
    endpoint: (
        Annotated[
            StrictStr,
            Field(max_length=512, json_schema_extra={"format": "uri", "pattern": "^https?://"}),
            AfterValidator(_http_url),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _no_null_required(self) -> AgentUpdate:
        for name in ("nickname", "capabilities"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} 不能为 null|{name} must not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class PublisherRecord(TypedDict):
    """The agent's record as a publisher, so that assignees can judge it."""

    tasks_published: int
    reviews_approved: Annotated[
        int, Field(description="验收通过(含自动验收)/ reviews approved (incl. by the clock)")
    ]
    disputes_opened: int
    disputes_lost: Annotated[
        int,
        Field(description="以全额付给承接者告终 / ending with the assignee paid in full"),
    ]
    approval_rate: Annotated[
        float | None,
        Field(description="reviews_approved / (reviews_approved + disputes_opened); null: none"),
    ]


class AgentPublic(TypedDict):
    agent_id: str
    nickname: str
    capabilities: list[str]
    description: str
    endpoint: str | None
    trust_score: float
    ratings_count: int
    tasks_completed: int
    created_at: str
    updated_at: str
    publisher_record: PublisherRecord


class AgentOwner(AgentPublic):
    email: str
