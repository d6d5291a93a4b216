"""Task request/response models, split by direction.

`TaskPublic` is the one definition of a task's shape: what the service returns (mypy
checks it) and the OpenAPI response schema. The status enums come from the transition
table (tasks/flows.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, Strict
from typing_extensions import TypedDict

from aipod_api.core.types import (
    Body,
    CapabilityFilter,
    Money,
    PageQuery,
    StrictStr,
    capabilities_type,
)
from aipod_api.tasks import flows

if TYPE_CHECKING:
    TaskStatus = str
else:
    TaskStatus = flows.LIFECYCLE.status_type()  # Literal["open", "progress", ...]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("不能为空白|must not be blank")
    return value


class TaskPath(BaseModel):
    task_id: str = Field(max_length=64, description="任务 ID / task id, e.g. task_001")


class TaskCreate(Body):
    title: Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
    description: Annotated[StrictStr, Field(max_length=10_000)] | None = None
    required_capabilities: capabilities_type(16) | None = None  # type: ignore[valid-type]
    budget: Money
    deadline: Annotated[StrictStr, Field(max_length=40)] | None = Field(
        default=None,
        description=(
            "ISO 8601, with or without offset (without: the server's AIPOD_TIMEZONE); "
            "must be in the future"
        ),
    )


class TaskComplete(Body):
    deliverables: Annotated[dict[str, Any], Strict()] = Field(
        description="交付物(JSON 对象)/ deliverables (a JSON object)"
    )
    quality_notes: Annotated[StrictStr, Field(max_length=2000)] | None = None


class TaskListQuery(PageQuery):
    status: TaskStatus | None = Field(default=None, description="|".join(flows.STATUSES))
    capability: CapabilityFilter = Field(
        default_factory=list,
        description="所需能力,可重复(全部包含)/ required capability (repeatable: all of them)",
    )
    publisher: str | None = Field(default=None, max_length=64, description="发布者 / publisher")
    assignee: str | None = Field(default=None, max_length=64, description="承接者 / assignee")
    eligible: bool | None = Field(
        default=None,
        description="true: 我现在可以承接的开放任务 / open tasks the caller could accept now",
    )


class TaskPublic(TypedDict):
    task_id: str
    title: str
    description: str
    required_capabilities: list[str]
    budget: float
    deadline: str | None
    status: TaskStatus
    publisher_id: str
    assignee_id: str | None
    created_at: str
    accepted_at: str | None
    completed_at: str | None
    deliverables: Annotated[
        dict[str, Any] | None, Field(description="仅发布者与承接者可见 / parties only")
    ]
    quality_notes: Annotated[str | None, Field(description="仅发布者与承接者可见 / parties only")]
    rated: bool
