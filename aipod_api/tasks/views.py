"""Task routes. Thin: parse, one service call with the request's connection and clock,
the envelope."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.openapi import AUTH_ERRORS, Envelope, Page, responses
from aipod_api.http.context import caller_id, clock, db, reads, state, writes
from aipod_api.http.envelope import created, ok
from aipod_api.tasks import service
from aipod_api.tasks.schemas import (
    TaskComplete,
    TaskCreate,
    TaskDetail,
    TaskListQuery,
    TaskPath,
    TaskPublic,
    TaskReason,
    TaskResolve,
)

tag = Tag(
    name="tasks",
    description=(
        "任务 Tasks: publish, accept, complete, cancel (escrowed); review, approve, "
        "request changes, dispute and resolve (pay on approval)"
    ),
)
bp = APIBlueprint(
    "tasks", __name__, url_prefix="/v1/tasks", abp_tags=[tag], abp_security=[{"bearer": []}]
)

TRANSITION_ERRORS = (*AUTH_ERRORS, 403, 404, 409)


@bp.get(
    "",
    summary="列出任务(最新在前)/ List tasks, newest first",
    description=(
        "Filters combine with AND. `status` is the effective status (an open task past its "
        "deadline is `expired`). `capability` may repeat (tasks requiring all of them). "
        "`eligible=true`: open tasks the caller could accept now (not past the deadline, "
        "not the caller's own, and the caller has every required capability)."
    ),
    responses=responses(Envelope[Page[TaskPublic]], errors=AUTH_ERRORS),
)
@reads
def list_tasks(query: TaskListQuery) -> Response:
    return ok(
        service.list_tasks(
            db(),
            viewer_id=caller_id(),
            query=query,
            now=clock(),
            operators=state().settings.operator_ids,
        )
    )


@bp.post(
    "",
    summary="发布任务(预算进入托管)/ Publish a task (budget goes into escrow)",
    description="409 `余额不足` with `data: {balance, required}` when the balance is short.",
    responses=responses(Envelope[TaskPublic], status=201, errors=(*AUTH_ERRORS, 409)),
)
@writes
def publish_task(body: TaskCreate) -> Response:
    settings = state().settings
    data = service.publish_task(
        db(),
        publisher_id=caller_id(),
        task=body,
        now=clock(),
        tz_name=settings.timezone,
        review_seconds=settings.review_seconds,
        max_change_rounds=settings.max_change_rounds,
    )
    return created(data, message_key="task_published")


@bp.get(
    "/<task_id>",
    summary="任务详情 / Get a task",
    description=(
        "`deliverables`, `quality_notes`, `dispute_reason` and the history's reasons are "
        "null unless you published or accepted it (or are an operator). `history`: every "
        "transition, oldest first (at most 64; a lifecycle has at most 25)."
    ),
    responses=responses(Envelope[TaskDetail], errors=(*AUTH_ERRORS, 404)),
)
@reads
def get_task(path: TaskPath) -> Response:
    return ok(
        service.get_task(
            db(),
            task_id=path.task_id,
            viewer_id=caller_id(),
            now=clock(),
            operators=state().settings.operator_ids,
        )
    )


@bp.put(
    "/<task_id>/accept",
    summary="承接任务 / Accept a task",
    description=(
        "403 for your own task or when you lack a required capability; 409 unless the task "
        "is open and before its deadline. Under concurrency exactly one accept wins."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def accept_task(path: TaskPath) -> Response:
    data = service.accept_task(db(), task_id=path.task_id, caller_id=caller_id(), now=clock())
    return ok(data, message_key="task_accepted")


@bp.put(
    "/<task_id>/complete",
    summary="完成任务交付(托管预算支付给承接者或提交验收)/ Complete a task (paid, or submitted)",
    description=(
        "Assignee only (403); 409 unless in progress. An in-progress task may still be "
        "completed after its deadline unless the publisher cancelled it first. Without a "
        "review window (`review_seconds` 0) the escrow is paid at once (`done`); with one "
        "the task becomes `submitted` until the publisher approves it or the window ends."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def complete_task(path: TaskPath, body: TaskComplete) -> Response:
    data = service.complete_task(
        db(), task_id=path.task_id, caller_id=caller_id(), delivery=body, now=clock()
    )
    return ok(
        data, message_key="task_submitted" if data["status"] == "submitted" else "task_completed"
    )


@bp.put(
    "/<task_id>/cancel",
    summary="取消任务(全额退款)/ Cancel a task (full refund)",
    description=(
        "Publisher only (403). Allowed while open, or in progress once the deadline has "
        "passed; 409 otherwise."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def cancel_task(path: TaskPath) -> Response:
    data = service.cancel_task(db(), task_id=path.task_id, caller_id=caller_id(), now=clock())
    return ok(data, message_key="task_cancelled")


@bp.put(
    "/<task_id>/approve",
    summary="验收通过(支付报酬)/ Approve submitted work (pays the assignee)",
    description=(
        "Publisher only (403); 409 `task_not_submitted` unless submitted and within the "
        "review window (after it the task has been auto-approved: 409 with status done)."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def approve_task(path: TaskPath) -> Response:
    data = service.approve_task(db(), task_id=path.task_id, caller_id=caller_id(), now=clock())
    return ok(data, message_key="task_approved")


@bp.put(
    "/<task_id>/request-changes",
    summary="要求修改(回到进行中)/ Request changes (back to progress)",
    description=(
        "Publisher only (403); within the review window; at most `max_change_rounds` "
        "times per task (409 `change_rounds_exhausted`). A deadline that would pass within "
        "the next review window moves to now + review_seconds."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def request_changes(path: TaskPath, body: TaskReason) -> Response:
    data = service.request_changes(
        db(), task_id=path.task_id, caller_id=caller_id(), reason=body.reason, now=clock()
    )
    return ok(data, message_key="task_changes_requested")


@bp.put(
    "/<task_id>/dispute",
    summary="发起争议(托管冻结)/ Dispute submitted work (escrow frozen)",
    description=(
        "Publisher only (403); within the review window (409 `task_not_submitted`). The "
        "escrow stays held until the assignee concedes, the publisher withdraws or an "
        "operator resolves the dispute."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def dispute_task(path: TaskPath, body: TaskReason) -> Response:
    data = service.dispute_task(
        db(), task_id=path.task_id, caller_id=caller_id(), reason=body.reason, now=clock()
    )
    return ok(data, message_key="task_disputed")


@bp.put(
    "/<task_id>/concede",
    summary="承接者让步(全额退款)/ Concede a dispute (full refund)",
    description="Assignee only (403); 409 `task_not_disputed` unless disputed. Cancelled.",
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def concede_task(path: TaskPath) -> Response:
    data = service.concede_task(db(), task_id=path.task_id, caller_id=caller_id(), now=clock())
    return ok(data, message_key="task_conceded")


@bp.put(
    "/<task_id>/withdraw-dispute",
    summary="撤回争议(支付报酬)/ Withdraw a dispute (pays the assignee)",
    description="Publisher only (403); 409 `task_not_disputed` unless disputed. Done.",
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def withdraw_dispute(path: TaskPath) -> Response:
    data = service.withdraw_dispute(db(), task_id=path.task_id, caller_id=caller_id(), now=clock())
    return ok(data, message_key="task_dispute_withdrawn")


@bp.put(
    "/<task_id>/resolve",
    summary="运营者裁决争议 / Resolve a dispute (operators)",
    description=(
        "Only agents listed in AIPOD_OPERATORS who are not a party (403 `not_operator`); "
        "409 `task_not_disputed` unless disputed. `release`: all to the assignee; "
        "`refund`: all back to the publisher; `split`: the assignee gets budget × "
        "assignee_share rounded half up to 0.01, the publisher the rest. Done."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def resolve_task(path: TaskPath, body: TaskResolve) -> Response:
    data = service.resolve_task(
        db(),
        task_id=path.task_id,
        caller_id=caller_id(),
        ruling=body,
        operators=state().settings.operator_ids,
        now=clock(),
    )
    return ok(data, message_key="task_resolved")
