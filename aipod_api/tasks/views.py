"""Task routes. Thin: parse, one service call with the request's connection and clock,
the envelope."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.openapi import AUTH_ERRORS, Envelope, Page, responses
from aipod_api.http.context import caller_id, clock, db, reads, state, writes
from aipod_api.http.envelope import created, ok
from aipod_api.tasks import service
from aipod_api.tasks.schemas import TaskComplete, TaskCreate, TaskListQuery, TaskPath, TaskPublic

tag = Tag(name="tasks", description="任务 Tasks: publish, accept, complete, cancel (escrowed)")
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
    return ok(service.list_tasks(db(), viewer_id=caller_id(), query=query, now=clock()))


@bp.post(
    "",
    summary="发布任务(预算进入托管)/ Publish a task (budget goes into escrow)",
    description="409 `余额不足` with `data: {balance, required}` when the balance is short.",
    responses=responses(Envelope[TaskPublic], status=201, errors=(*AUTH_ERRORS, 409)),
)
@writes
def publish_task(body: TaskCreate) -> Response:
    data = service.publish_task(
        db(),
        publisher_id=caller_id(),
        task=body,
        now=clock(),
        tz_name=state().settings.timezone,
    )
    return created(data, message_key="task_published")


@bp.get(
    "/<task_id>",
    summary="任务详情 / Get a task",
    description="`deliverables` and `quality_notes` are null unless you published or accepted it.",
    responses=responses(Envelope[TaskPublic], errors=(*AUTH_ERRORS, 404)),
)
@reads
def get_task(path: TaskPath) -> Response:
    return ok(service.get_task(db(), task_id=path.task_id, viewer_id=caller_id(), now=clock()))


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
    summary="完成任务交付(托管预算支付给承接者)/ Complete a task (escrow paid to you)",
    description=(
        "Assignee only (403); 409 unless in progress. An in-progress task may still be "
        "completed after its deadline unless the publisher cancelled it first."
    ),
    responses=responses(Envelope[TaskPublic], errors=TRANSITION_ERRORS),
)
@writes
def complete_task(path: TaskPath, body: TaskComplete) -> Response:
    data = service.complete_task(
        db(), task_id=path.task_id, caller_id=caller_id(), delivery=body, now=clock()
    )
    return ok(data, message_key="task_completed")


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
