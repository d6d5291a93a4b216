"""Tasks: publish, read, list, accept, complete, cancel, expire. Framework-free.

Callers own the transaction (one per request); nothing here commits. Each state change is
one conditional UPDATE from `flows` and, when it won, the matching money movement from
the wallet ledger right after it in the same transaction:

    publish  -> hold_escrow      (publisher balance -> task escrow)
    complete -> settle_escrow    (task escrow -> assignee)
    cancel   -> refund_escrow    (task escrow -> publisher)
    expire   -> refund_escrow
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from aipod_api.core import counters
from aipod_api.core.errors import Conflict, FieldError, Forbidden, NotFound
from aipod_api.core.i18n import register_messages
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agent_capabilities, agents, task_capabilities, tasks
from aipod_api.core.types import (
    COUNT_CAP,
    TASK_ID,
    Total,
    iso,
    money_out,
    page_data,
)
from aipod_api.tasks import flows
from aipod_api.wallet import service as wallet

register_messages(
    {
        "task_published": ("任务发布成功", "Task published"),
        "task_accepted": ("承接成功", "Task accepted"),
        "task_completed": ("任务已完成,报酬已支付", "Task completed; payment released"),
        "task_cancelled": ("任务已取消,预算已退回", "Task cancelled; budget refunded"),
        "deadline_not_future": (
            "字段 deadline 必须是将来的时间",
            "Field deadline must be in the future",
        ),
        "own_task": ("不能承接自己发布的任务", "You cannot accept your own task"),
        "missing_capabilities": (
            "缺少任务所需能力: {missing}",
            "You lack required capabilities: {missing}",
        ),
        "not_assignee": (
            "只有任务承接者可以提交完成",
            "Only the task's assignee can complete it",
        ),
        "not_publisher": ("只有任务发布者可以取消任务", "Only the task's publisher can cancel it"),
        "task_not_acceptable": (
            "任务当前状态为 {status},无法承接",
            "Task is {status}; it cannot be accepted",
        ),
        "task_not_in_progress": (
            "任务当前状态为 {status},无法提交完成",
            "Task is {status}; it cannot be completed",
        ),
        "task_not_cancellable": (
            "任务当前状态为 {status},无法取消",
            "Task is {status}; it cannot be cancelled",
        ),
        "task_in_progress_before_deadline": (
            "任务进行中且未到截止时间,不能取消",
            "Task is in progress and its deadline has not passed; it cannot be cancelled",
        ),
    }
)


# --- domain errors ---------------------------------------------------------------------


class TaskNotFound(NotFound):
    key = "task_not_found"


class DeadlineNotFuture(FieldError):
    def __init__(self) -> None:
        super().__init__("deadline", "deadline_not_future")


class OwnTask(Forbidden):
    key = "own_task"


class MissingCapabilities(Forbidden):
    key = "missing_capabilities"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(data={"missing_capabilities": missing}, missing=", ".join(missing))


class NotAssignee(Forbidden):
    key = "not_assignee"


class NotPublisher(Forbidden):
    key = "not_publisher"


class IllegalTransition(Conflict):
    """The task's state does not allow the action (409)."""

    key = "illegal_transition"

    def __init__(self, key: str, *, status: str) -> None:
        super().__init__(key, data={"status": status})
        self.params = {"status": status}  # `status` would clash with ApiError's HTTP status
        self.task_status = status


class TaskDue(IllegalTransition):
    """The task was open but its deadline has passed: it is expired (409).

    The service has already expired and refunded it in the caller's transaction; the view
    commits that before answering, so the refund does not wait for the sweep.
    """


# --- serialisation ---------------------------------------------------------------------


def public_id(seq: int) -> str:
    return TASK_ID.format(seq)


def serialize(row: Any, *, viewer_id: str | None, now: int) -> dict[str, Any]:
    party = viewer_id is not None and viewer_id in (row.publisher_id, row.assignee_id)
    return {
        "task_id": public_id(row.seq),
        "title": row.title,
        "description": row.description,
        "required_capabilities": orjson.loads(row.required_capabilities),
        "budget": money_out(row.budget_cents),
        "deadline": iso(row.deadline),
        "status": flows.effective_status(row.status, row.deadline, now),
        "publisher_id": row.publisher_id,
        "assignee_id": row.assignee_id,
        "created_at": iso(row.created_at),
        "accepted_at": iso(row.accepted_at),
        "completed_at": iso(row.completed_at),
        "deliverables": (
            orjson.loads(row.deliverables) if party and row.deliverables is not None else None
        ),
        "quality_notes": row.quality_notes if party else None,
        "rated": bool(row.rated),
    }


def _row(conn: Connection, task_seq: int) -> Any:
    row = _TASK_ROW.execute(conn, {"seq": task_seq}).first()
    if row is None:
        raise TaskNotFound(task_id=public_id(task_seq))
    return row


def parse_task_id(task_id: str) -> int:
    seq = TASK_ID.parse(task_id)
    if seq is None:
        raise TaskNotFound(task_id=task_id[:64])
    return seq


def get_task(conn: Connection, *, task_seq: int, viewer_id: str | None, now: int) -> dict[str, Any]:
    return serialize(_row(conn, task_seq), viewer_id=viewer_id, now=now)


# --- publish ---------------------------------------------------------------------------


def due_condition(now: Any, publisher_id: Any = None) -> ColumnElement[bool]:
    """Open tasks whose deadline has passed (optionally one publisher's)."""
    cond = and_(tasks.c.status == "open", flows.deadline_passed(now))
    if publisher_id is not None:
        cond = and_(cond, tasks.c.publisher_id == publisher_id)
    return cond


def _due_seqs(publisher: bool) -> Prepared:
    cond = due_condition(_NOW, bindparam("publisher_id", type_=String) if publisher else None)
    # SKIP LOCKED (PostgreSQL; nothing on SQLite): a batch never waits for a task another
    # transaction is transitioning (that one settles it, or the next round does), so it
    # can hold its own task locks without ever waiting behind a single expiry or cancel.
    return Prepared(
        select(tasks.c.seq, tasks.c.publisher_id, tasks.c.budget_cents)
        .where(cond)
        .order_by(tasks.c.deadline, tasks.c.seq)
        .limit(bindparam("lim"))
        .with_for_update(skip_locked=True)
    )


_NOW = bindparam("now", type_=BigInteger)
_DUE_SEQS = _due_seqs(False)
_DUE_SEQS_FOR = _due_seqs(True)
_NEW_TASK = Prepared(
    insert(tasks)
    .values(
        title=bindparam("title", type_=String),
        description=bindparam("description", type_=String),
        required_capabilities=bindparam("required_capabilities", type_=String),
        budget_cents=bindparam("budget_cents", type_=BigInteger),
        deadline=bindparam("deadline", type_=BigInteger),
        status="open",
        publisher_id=bindparam("publisher_id", type_=String),
        assignee_id=None,
        created_at=_NOW,
        rated=False,
    )
    .returning(tasks.c.seq)
)
_NEW_TASK_CAP = Prepared(
    insert(task_capabilities).values(
        task_seq=bindparam("task_seq", type_=BigInteger),
        capability=bindparam("capability", type_=String),
        position=bindparam("position", type_=Integer),
    )
)
_COUNT_COMPLETED = Prepared(
    update(agents)
    .where(agents.c.agent_id == bindparam("agent_id", type_=String))
    .values(tasks_completed=agents.c.tasks_completed + 1)
)
_CALLER_CAPS = Prepared(
    select(agent_capabilities.c.capability).where(
        agent_capabilities.c.agent_id == bindparam("agent_id", type_=String)
    )
)
_TASK_ROW = Prepared(select(tasks).where(tasks.c.seq == bindparam("seq", type_=BigInteger)))


def expire_due(
    conn: Connection, *, now: int, publisher_id: str | None = None, limit: int = 500
) -> int:
    """Expire and refund up to `limit` due tasks; returns how many this call settled.

    Each expiry is `expire_task`'s conditional update, so racing sweepers, accepts and
    cancels refund every task exactly once. Lock order (wallet/service.py): every task's
    transition first, then all the accounts involved at once, in id order, then the
    refunds — a batch never holds an account while it waits for a task or a counter.
    """
    stmt, params = (
        (_DUE_SEQS, {"now": now, "lim": limit})
        if publisher_id is None
        else (_DUE_SEQS_FOR, {"now": now, "lim": limit, "publisher_id": publisher_id})
    )
    due = stmt.execute(conn, params).all()
    won = [
        row
        for row in due
        if flows.apply(
            conn, task_seq=int(row.seq), action="expire", now=now, values={"closed_at": now}
        )
    ]
    if not won:
        return 0
    if len(won) > 1:
        publishers = wallet.agent_account_ids(conn, (row.publisher_id for row in won))
        wallet.lock_accounts(conn, publishers.values())
    for row in won:
        wallet.refund_escrow(
            conn,
            publisher_id=row.publisher_id,
            task_seq=int(row.seq),
            amount_cents=row.budget_cents,
            now=now,
        )
    return len(won)


def publish_task(
    conn: Connection,
    *,
    publisher_id: str,
    title: str,
    description: str,
    required_capabilities: list[str],
    budget_cents: int,
    deadline: int | None,
    now: int,
) -> dict[str, Any]:
    """Create an open task and move its budget into escrow (409 `余额不足` if short)."""
    if deadline is not None and deadline <= now:
        raise DeadlineNotFuture()
    # The publisher's own expired tasks are refunded first, in this transaction: money
    # that reads as refunded (the task reads `expired`) must also be spendable.
    expire_due(conn, now=now, publisher_id=publisher_id)
    seq = int(
        _NEW_TASK.execute(
            conn,
            {
                "title": title,
                "description": description,
                "required_capabilities": orjson.dumps(required_capabilities).decode(),
                "budget_cents": budget_cents,
                "deadline": deadline,
                "publisher_id": publisher_id,
                "now": now,
            },
        ).scalar_one()
    )
    for i, cap in enumerate(required_capabilities):
        _NEW_TASK_CAP.execute(conn, {"task_seq": seq, "capability": cap, "position": i})
    # The conditional debit inside refuses to overdraw; the whole request rolls back then.
    wallet.hold_escrow(
        conn, publisher_id=publisher_id, task_seq=seq, amount_cents=budget_cents, now=now
    )
    return get_task(conn, task_seq=seq, viewer_id=publisher_id, now=now)


# --- transitions -----------------------------------------------------------------------


def _caller_capabilities(conn: Connection, agent_id: str) -> set[str]:
    return set(_CALLER_CAPS.execute(conn, {"agent_id": agent_id}).scalars())


def expire_task(conn: Connection, *, task_seq: int, now: int) -> bool:
    """Expire an open task whose deadline has passed and refund it. True if this call won."""
    row = _TASK_ROW.execute(conn, {"seq": task_seq}).first()
    if row is None:
        return False
    if not flows.apply(
        conn, task_seq=task_seq, action="expire", now=now, values={"closed_at": now}
    ):
        return False
    wallet.refund_escrow(
        conn,
        publisher_id=row.publisher_id,
        task_seq=task_seq,
        amount_cents=row.budget_cents,
        now=now,
    )
    return True


def _refuse(conn: Connection, *, task_seq: int, now: int, key: str) -> IllegalTransition:
    """Explain why a conditional transition matched no row (409), settling expiry if due."""
    row = _row(conn, task_seq)
    status = flows.effective_status(row.status, row.deadline, now)
    if row.status == "open" and status == "expired":
        expire_task(conn, task_seq=task_seq, now=now)
        return TaskDue(key, status="expired")
    return IllegalTransition(key, status=status)


def accept_task(conn: Connection, *, task_seq: int, caller_id: str, now: int) -> dict[str, Any]:
    row = _row(conn, task_seq)  # 404
    if row.publisher_id == caller_id:  # 403
        raise OwnTask()
    required: list[str] = orjson.loads(row.required_capabilities)
    if required:
        have = _caller_capabilities(conn, caller_id)
        missing = [cap for cap in required if cap not in have]
        if missing:
            raise MissingCapabilities(missing)
    won = flows.apply(
        conn,
        task_seq=task_seq,
        action="accept",
        now=now,
        actor=caller_id,
        values={"assignee_id": caller_id, "accepted_at": now},
    )
    if not won:  # 409: someone else accepted first, or it is closed / expired
        raise _refuse(conn, task_seq=task_seq, now=now, key="task_not_acceptable")
    return get_task(conn, task_seq=task_seq, viewer_id=caller_id, now=now)


def complete_task(
    conn: Connection,
    *,
    task_seq: int,
    caller_id: str,
    deliverables: dict[str, Any],
    quality_notes: str | None,
    now: int,
) -> dict[str, Any]:
    row = _row(conn, task_seq)  # 404
    if row.assignee_id != caller_id:  # 403 (also for an open task: nobody is assignee yet)
        raise NotAssignee()
    won = flows.apply(
        conn,
        task_seq=task_seq,
        action="complete",
        now=now,
        actor=caller_id,
        values={
            "completed_at": now,
            "closed_at": now,
            "deliverables": orjson.dumps(deliverables).decode(),
            "quality_notes": quality_notes,
        },
    )
    if not won:
        raise _refuse(conn, task_seq=task_seq, now=now, key="task_not_in_progress")
    wallet.settle_escrow(
        conn,
        publisher_id=row.publisher_id,
        assignee_id=caller_id,
        task_seq=task_seq,
        amount_cents=row.budget_cents,
        now=now,
    )
    _COUNT_COMPLETED.execute(conn, {"agent_id": caller_id})
    return get_task(conn, task_seq=task_seq, viewer_id=caller_id, now=now)


def cancel_task(conn: Connection, *, task_seq: int, caller_id: str, now: int) -> dict[str, Any]:
    row = _row(conn, task_seq)  # 404
    if row.publisher_id != caller_id:  # 403
        raise NotPublisher()
    won = flows.apply(
        conn,
        task_seq=task_seq,
        action="cancel",
        now=now,
        actor=caller_id,
        values={"closed_at": now},
    )
    if not won:
        current = _row(conn, task_seq)
        if current.status == "progress":
            raise IllegalTransition("task_in_progress_before_deadline", status="progress")
        raise _refuse(conn, task_seq=task_seq, now=now, key="task_not_cancellable")
    wallet.refund_escrow(
        conn,
        publisher_id=row.publisher_id,
        task_seq=task_seq,
        amount_cents=row.budget_cents,
        now=now,
    )
    return get_task(conn, task_seq=task_seq, viewer_id=caller_id, now=now)


# --- lists -----------------------------------------------------------------------------


def _eligible(caller_id: Any, now: Any) -> ColumnElement[bool]:
    """Open, not past the deadline, not mine, and I have every required capability."""
    missing_cap = exists().where(
        and_(
            task_capabilities.c.task_seq == tasks.c.seq,
            not_(
                exists().where(
                    and_(
                        agent_capabilities.c.agent_id == caller_id,
                        agent_capabilities.c.capability == task_capabilities.c.capability,
                    )
                )
            ),
        )
    )
    return and_(
        flows.status_filter("open", now),
        tasks.c.publisher_id != caller_id,
        not_(missing_cap),
    )


# Prepared list statements, one pair (count, page) per filter shape: which filters are
# present, the status value (a handful) and how many capabilities (up to a few).
_LIST_SHAPES: dict[tuple[Any, ...], tuple[Prepared, Prepared]] = {}
_MAX_PREPARED_CAPS = 4


def _list_statements(
    status: str | None, n_caps: int, publisher: bool, assignee: bool, eligible: bool
) -> tuple[Prepared, Prepared]:
    key = (status, n_caps, publisher, assignee, eligible)
    found = _LIST_SHAPES.get(key)
    if found is not None:
        return found
    clauses: list[ColumnElement[bool]] = []
    if status is not None:
        clauses.append(flows.status_filter(status, _NOW))
    for i in range(n_caps):
        clauses.append(
            exists().where(
                and_(
                    task_capabilities.c.task_seq == tasks.c.seq,
                    task_capabilities.c.capability == bindparam(f"cap{i}", type_=String),
                )
            )
        )
    if publisher:
        clauses.append(tasks.c.publisher_id == bindparam("publisher", type_=String))
    if assignee:
        clauses.append(tasks.c.assignee_id == bindparam("assignee", type_=String))
    if eligible:
        clauses.append(_eligible(bindparam("viewer", type_=String), _NOW))
    cond = and_(True, *clauses)
    count = Prepared(
        select(func.count()).select_from(
            select(literal(1))
            .select_from(tasks)
            .where(cond)
            .limit(bindparam("count_limit"))
            .subquery()
        )
    )
    page = Prepared(
        select(tasks)
        .where(cond)
        .order_by(tasks.c.seq.desc())
        .limit(bindparam("lim"))
        .offset(bindparam("off"))
    )
    if n_caps <= _MAX_PREPARED_CAPS:
        _LIST_SHAPES[key] = (count, page)
    return count, page


_DUE_COUNT = Prepared(
    select(func.count()).select_from(
        select(literal(1))
        .select_from(tasks)
        .where(due_condition(_NOW))
        .limit(bindparam("count_limit"))
        .subquery()
    )
)


def _status_total(conn: Connection, status: str | None, now: int) -> Total | None:
    """The total of a status-only (or unfiltered) list from the kept counters.

    Stored status differs from what readers see only for open tasks past their deadline
    that the sweep has not yet expired: they count as expired. Those are counted directly
    (an index range, small while the sweep keeps up); None if there are too many."""
    if status is None:
        return Total(sum(counters.total(conn, f"tasks.status:{s}") for s in flows.STATUSES))
    kept = counters.total(conn, f"tasks.status:{status}")
    if status not in ("open", "expired"):
        return Total(kept)
    due = int(_DUE_COUNT.execute(conn, {"now": now, "count_limit": COUNT_CAP + 1}).scalar())
    if due > COUNT_CAP:
        return None
    if status == "open":
        return Total(kept - due)
    return Total(kept + due)


def list_tasks(
    conn: Connection,
    *,
    viewer_id: str,
    status: str | None,
    capabilities: list[str],
    publisher: str | None,
    assignee: str | None,
    eligible: bool,
    page: int,
    page_size: int,
    now: int,
) -> dict[str, Any]:
    """Newest first (seq descending)."""
    caps = list(dict.fromkeys(capabilities))
    count_stmt, page_stmt = _list_statements(
        status, len(caps), publisher is not None, assignee is not None, eligible
    )
    params: dict[str, Any] = {f"cap{i}": cap for i, cap in enumerate(caps)}
    params.update(
        now=now,
        publisher=publisher.lower() if publisher is not None else None,
        assignee=assignee.lower() if assignee is not None else None,
        viewer=viewer_id,
    )
    total: Total | None = None
    if not caps and publisher is None and assignee is None and not eligible:
        total = _status_total(conn, status, now)
    if total is None:
        counted = int(count_stmt.execute(conn, {**params, "count_limit": COUNT_CAP + 1}).scalar())
        total = Total(min(counted, COUNT_CAP), counted > COUNT_CAP)
    rows = page_stmt.execute(
        conn, {**params, "lim": page_size + 1, "off": (page - 1) * page_size}
    ).all()
    has_more = len(rows) > page_size
    items = [serialize(r, viewer_id=viewer_id, now=now) for r in rows[:page_size]]
    return page_data(items, page=page, page_size=page_size, total=total, has_more=has_more)
