"""Task request/response models, split by direction.

`TaskPublic` is the one definition of a task's shape: what the service returns (mypy
checks it) and the OpenAPI response schema. The status enums come from the transition
table (tasks/flows.py).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, Strict, WithJsonSchema
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

    review_seconds: Annotated[int, Strict(), Field(ge=0, le=2_592_000)] | None = Field(
        default=None,
        description=(
            "验收期(秒,0–2592000);0:完成即付款;默认 AIPOD_REVIEW_SECONDS / review "
            "window in seconds (0-2592000); 0: complete pays at once; default "
            "AIPOD_REVIEW_SECONDS. With > 0, complete submits the work for review and the "
            "publisher approves it (or the clock does when the window ends)"
        ),
    )


class TaskComplete(Body):
    deliverables: Annotated[dict[str, Any], Strict()] = Field(
        description="交付物(JSON 对象)/ deliverables (a JSON object)"
    )
    quality_notes: Annotated[StrictStr, Field(max_length=2000)] | None = None


Reason = Annotated[StrictStr, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]


class TaskReason(Body):
    """`PUT .../request-changes` and `PUT .../dispute`."""

    reason: Reason = Field(description="原因(1–2000 字)/ why (1-2000 characters)")


SHARE_SCALE = 10_000  # an assignee share has at most 4 decimals: stored in 1/10000


def _to_share(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("必须是数字|must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("必须是有限数字|must be a finite number")
    try:
        share = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not share.is_finite() or not 0 <= share <= 1:
            raise ValueError("必须在 0 到 1 之间|must be between 0 and 1")
        if share != share.quantize(Decimal("0.0001")):
            raise ValueError("最多四位小数|at most 4 decimal places")
    except InvalidOperation as exc:
        raise ValueError("不是合法数字|not a valid number") from exc
    return share.quantize(Decimal("0.0001"))


Share = Annotated[
    Decimal,
    BeforeValidator(_to_share),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]


class TaskResolve(Body):
    """`PUT .../resolve` (an operator)."""

    outcome: Literal["release", "refund", "split"] = Field(
        description=(
            "release: 全额付给承接者 / all to the assignee; refund: 全额退给发布者 / all back "
            "to the publisher; split: 按 assignee_share 分配 / by assignee_share"
        )
    )
    assignee_share: Share | None = Field(
        default=None,
        description=(
            "承接者所得比例(0–1,最多 4 位小数;split 必填)/ the assignee's fraction (0-1, "
            "at most 4 decimals; required for split, must be 1 for release and 0 for "
            "refund if given). The assignee gets budget × share rounded half up to 0.01; "
            "the publisher gets the rest, so the parts always add up to the budget"
        ),
    )
    reason: Reason | None = None


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
    review_seconds: int
    submitted_at: str | None
    review_due: Annotated[
        str | None,
        Field(description="验收期结束时间,届时自动验收 / when the review ends (auto-approval)"),
    ]
    change_rounds: int
    max_change_rounds: int
    disputed_at: str | None
    dispute_reason: Annotated[
        str | None, Field(description="当事方与运营者可见 / parties and operators only")
    ]
    resolution: Literal["release", "refund", "split"] | None
    assignee_share: float | None
    payout: Annotated[
        float | None,
        Field(description="已付给承接者的金额(完成后)/ what the assignee was paid (once done)"),
    ]


class TaskHistoryEntry(TypedDict):
    action: str
    from_status: TaskStatus | None
    to_status: TaskStatus
    actor_id: Annotated[str | None, Field(description="null: 时间 / the clock")]
    role: Literal["publisher", "assignee", "contractor", "operator", "clock"]
    at: str
    reason: Annotated[
        str | None, Field(description="当事方与运营者可见 / parties and operators only")
    ]


class TaskDetail(TaskPublic):
    history: Annotated[
        list[TaskHistoryEntry],
        Field(description="状态变更记录,最早在前 / the task's transitions, oldest first"),
    ]
