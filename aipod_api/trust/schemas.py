"""Trust request/response models, split by direction."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, Strict
from typing_extensions import TypedDict

from aipod_api.core.openapi import Page
from aipod_api.core.types import Body, PageQuery, StrictBool, StrictStr


def _two_decimals(value: float) -> float:
    if Decimal(repr(value)) != Decimal(repr(value)).quantize(Decimal("0.01")):
        raise ValueError("最多两位小数|at most 2 decimal places")
    return value


class RatingCreate(Body):
    agent_id: Annotated[StrictStr, Field(min_length=1, max_length=64)] = Field(
        description="被评价的节点(须为任务承接者)/ the rated agent (the task's assignee)"
    )
    task_id: Annotated[StrictStr, Field(min_length=1, max_length=64)] = Field(
        description="已完成的任务 / the completed task, e.g. task_001"
    )
    quality_score: Annotated[float, Strict(), Field(ge=1.0, le=5.0), AfterValidator(_two_decimals)]
    on_time: StrictBool
    comment: Annotated[StrictStr, Field(max_length=1000)] | None = None


class TrustPath(BaseModel):
    agent_id: str = Field(max_length=64, description="节点 ID / agent id")


class TrustQuery(PageQuery):
    pass


# Response shapes: what the service returns, typed for mypy, and the OpenAPI schema.
class RatingPublic(TypedDict):
    rating_id: str
    agent_id: str
    rater_id: str
    task_id: str
    quality_score: float
    on_time: bool
    comment: str | None
    created_at: str


class RatingResult(TypedDict):
    rating: RatingPublic
    trust_score: float


class TrustPublic(TypedDict):
    agent_id: str
    trust_score: float
    ratings_count: int
    average_quality: float | None
    on_time_rate: float | None
    history: Page[RatingPublic]
