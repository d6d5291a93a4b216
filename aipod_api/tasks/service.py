"""Tasks: publish, read, list, accept, complete (or submit for review), approve,
request changes, dispute, concede, withdraw a dispute, resolve, cancel, and settling
what is due. Framework-free.

Callers own the transaction (one per request); nothing here commits — except
`settle_due`, which runs its own short write transactions. The lifecycle (statuses,
guards, who may act, the money movement of each transition, the read-time rules) is the
table in `flows`; this module reads and writes tasks through it:

    publish  -> insert the task, then the creation edge's effect (`flows.created`)
    accept / complete / cancel / approve / ... -> `flows.perform` (403, the conditional
                UPDATE and its effect, or the 409 that explains the refusal)
    what the clock has decided (expiry, auto-approval) -> `expire_due` -> `flows.apply_due`

An operator's split (`resolve`): the assignee gets `budget × assignee_share` rounded half
up to the cent (`payout_cents`), the publisher the rest, so the two parts add up to the
budget exactly and each moves once.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    String,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from aipod_api.core import counters
from aipod_api.core.db import retrying, transaction
from aipod_api.core.errors import FieldError, NotFound
from aipod_api.core.i18n import register_messages
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agent_capabilities, task_capabilities, task_history, tasks
from aipod_api.core.types import (
    COUNT_CAP,
    TASK_ID,
    Page,
    Total,
    iso,
    money_out,
    page_data,
    parse_instant,
    to_cents,
)
from aipod_api.tasks import flows
from aipod_api.tasks.schemas import (
    SHARE_SCALE,
    TaskComplete,
    TaskCreate,
    TaskDetail,
    TaskHistoryEntry,
    TaskListQuery,
    TaskPublic,
    TaskResolve,
)

register_messages(
    {
        "task_published": ("任务发布成功", "Task published"),
        "task_accepted": ("承接成功", "Task accepted"),
        "task_completed": ("任务已完成,报酬已支付", "Task completed; payment released"),
        "task_cancelled": ("任务已取消,预算已退回", "Task cancelled; budget refunded"),
        "task_submitted": (
            "已提交验收,预算仍在托管中",
            "Work submitted for review; the budget stays in escrow",
        ),
        "task_approved": ("已验收,报酬已支付", "Task approved; payment released"),
        "task_changes_requested": (
            "已要求修改,任务回到进行中",
            "Changes requested; the task is in progress again",
        ),
        "task_disputed": ("已发起争议,托管冻结", "Dispute opened; the escrow is frozen"),
        "task_conceded": ("已让步,预算已退回发布者", "Conceded; the budget went back"),
        "task_dispute_withdrawn": (
            "已撤回争议,报酬已支付",
            "Dispute withdrawn; payment released",
        ),
        "task_resolved": ("争议已裁决", "Dispute resolved"),
        "share_conflicts_outcome": (
            "assignee_share 与 outcome 不符(split 需要 0 与 1 之间的比例,release 为 1,refund 为 0)",
            "assignee_share does not fit the outcome (split needs a share strictly between "
            "0 and 1; release means 1, refund 0)",
        ),
        "deadline_not_future": (
            "字段 deadline 必须是将来的时间",
            "Field deadline must be in the future",
        ),
    }
)


# --- domain errors ---------------------------------------------------------------------


class TaskNotFound(NotFound):
    key = "task_not_found"


class ShareConflictsOutcome(FieldError):
    def __init__(self) -> None:
        super().__init__("assignee_share", "share_conflicts_outcome")


class DeadlineNotFuture(FieldError):
    def __init__(self) -> None:
        super().__init__("deadline", "deadline_not_future")


class InvalidDeadline(FieldError):
    """`deadline` is not an ISO 8601 instant; `reason` is a "zh|en" pair, localised when
    the answer is rendered."""

    def __init__(self, reason: str) -> None:
        super().__init__("deadline", "invalid_field")
        self.reason = reason

    def render(self, english: bool) -> tuple[str, Any]:
        zh, _, en = self.reason.partition("|")
        self.params["reason"] = en if (english and en) else zh
        return super().render(english)


# --- serialisation ---------------------------------------------------------------------


def public_id(seq: int) -> str:
    return TASK_ID.format(seq)


def serialize(
    row: Any, *, viewer_id: str | None, now: int, operators: frozenset[str] = frozenset()
) -> TaskPublic:
    """`operators` (AIPOD_OPERATORS) see what the parties see: they judge disputes."""
    party = viewer_id is not None and (
        viewer_id in (row.publisher_id, row.assignee_id) or viewer_id in operators
    )
    status = flows.LIFECYCLE.effective_status(row, now)
    share = row.assignee_share_bp
    return {
        "task_id": public_id(row.seq),
        "title": row.title,
        "description": row.description,
        "required_capabilities": orjson.loads(row.required_capabilities),
        "budget": money_out(row.budget_cents),
        "deadline": iso(row.deadline),
        "status": status,
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
        "review_seconds": int(row.review_seconds),
        "submitted_at": iso(row.submitted_at),
        "review_due": iso(row.review_due),
        "change_rounds": int(row.change_rounds),
        "max_change_rounds": int(row.max_change_rounds),
        "disputed_at": iso(row.disputed_at),
        "dispute_reason": row.dispute_reason if party else None,
        "resolution": row.resolution,
        "assignee_share": None if share is None else share / SHARE_SCALE,
        "payout": (
            money_out(row.budget_cents if row.payout_cents is None else row.payout_cents)
            if status == "done"
            else None
        ),
    }


HISTORY_LIMIT = 64  # a task's lifecycle has at most 25 transitions (10 change rounds)
_HISTORY = Prepared(
    select(task_history)
    .where(task_history.c.task_seq == bindparam("seq", type_=BigInteger))
    .order_by(task_history.c.seq)
    .limit(HISTORY_LIMIT)
)


def history(
    conn: Connection,
    row: Any,
    *,
    viewer_id: str | None,
    operators: frozenset[str] = frozenset(),
    rows: list[Any] | None = None,
) -> list[TaskHistoryEntry]:
    """The task's transitions, oldest first; reasons only for the parties and operators.
    A clock edge whose guard holds but that no writer has applied yet is not in it.
    `rows`: the history rows when the caller already has them (a task just created)."""
    party = viewer_id is not None and (
        viewer_id in (row.publisher_id, row.assignee_id) or viewer_id in operators
    )
    return [
        {
            "action": h.action,
            "from_status": h.from_status,
            "to_status": h.to_status,
            "actor_id": h.actor_id,
            "role": h.role,
            "at": iso(h.at) or "",
            "reason": h.reason if party else None,
        }
        for h in (
            _HISTORY.execute(conn, {"seq": int(row.seq)}) if rows is None else rows[:HISTORY_LIMIT]
        )
    ]


_HISTORY_COLUMNS = ("seq", "action", "from_status", "to_status", "actor_id", "role", "at", "reason")
# A transition's first read on SQLite: the task's row with its history (one row per
# entry; the task columns repeat). SQLite's write transaction (BEGIN IMMEDIATE) excludes
# every other writer from this read on, so that history is the task's until the commit.
# PostgreSQL reads the row alone: a transition that committed while this one waited
# for the row's lock can be missing from a history read before it (READ COMMITTED
# re-reads the locked row, not the rows joined to it), so the event reads it afterwards.
_TASK_WITH_HISTORY = Prepared(
    select(tasks, *(task_history.c[c].label(f"h_{c}") for c in _HISTORY_COLUMNS))
    .select_from(tasks.outerjoin(task_history, task_history.c.task_seq == tasks.c.seq))
    .where(tasks.c.seq == bindparam("seq", type_=BigInteger))
    .order_by(task_history.c.seq)
    .limit(HISTORY_LIMIT)
)


def _row_with_history(conn: Connection, task_seq: int) -> tuple[Any, list[Any] | None]:
    """The task's row, and its history where it is read with it (None: not read)."""
    if conn.dialect.name != "sqlite":
        return _row(conn, task_seq), None
    rows = _TASK_WITH_HISTORY.execute(conn, {"seq": task_seq}).all()
    if not rows:
        raise TaskNotFound(task_id=public_id(task_seq))
    entries = [
        SimpleNamespace(**{c: getattr(r, f"h_{c}") for c in _HISTORY_COLUMNS})
        for r in rows
        if r.h_seq is not None
    ]
    return rows[0], entries


def parse_task_id(task_id: str) -> int:
    seq = TASK_ID.parse(task_id)
    if seq is None:
        raise TaskNotFound(task_id=task_id[:64])
    return seq


def _row(conn: Connection, task_seq: int) -> Any:
    row = flows.read_task(conn, task_seq=task_seq)
    if row is None:
        raise TaskNotFound(task_id=public_id(task_seq))
    return row


def get_task(
    conn: Connection,
    *,
    task_id: str,
    viewer_id: str | None,
    now: int,
    operators: frozenset[str] = frozenset(),
) -> TaskDetail:
    """The task with its history (`history`, at most `HISTORY_LIMIT` entries)."""
    row = _row(conn, parse_task_id(task_id))
    data = serialize(row, viewer_id=viewer_id, now=now, operators=operators)
    return {
        **data,
        "history": history(conn, row, viewer_id=viewer_id, operators=operators),
    }


# --- what the clock has decided: due tasks ---------------------------------------------

_NOW = bindparam("now", type_=BigInteger)


def _party(publisher_id: str | None, assignee_id: str | None) -> tuple[str | None, str | None]:
    if publisher_id is not None and assignee_id is not None:
        raise ValueError("one party at a time")
    if publisher_id is not None:
        return "publisher", publisher_id
    if assignee_id is not None:
        return "assignee", assignee_id
    return None, None


def due_condition(
    now: Any, publisher_id: Any = None, assignee_id: Any = None
) -> ColumnElement[bool]:
    """Tasks a clock edge has already moved for readers (optionally those of one
    publisher's, or one assignee's, that move money of theirs)."""
    party, agent = _party(publisher_id, assignee_id)
    cond = flows.LIFECYCLE.due_condition(now, party=party)
    if party is None:
        return cond
    return and_(cond, tasks.c[f"{party}_id"] == agent)


def _due_seqs(party: str | None) -> Prepared:
    agent = bindparam("agent_id", type_=String)
    cond = due_condition(
        _NOW,
        publisher_id=agent if party == "publisher" else None,
        assignee_id=agent if party == "assignee" else None,
    )
    # SKIP LOCKED (PostgreSQL; nothing on SQLite): a batch never waits for a task another
    # transaction is transitioning (that one settles it, or the next round does), so it
    # can hold its own task locks without ever waiting behind a single expiry or cancel.
    return Prepared(
        select(
            tasks.c.seq,
            tasks.c.status,
            tasks.c.publisher_id,
            tasks.c.assignee_id,
            tasks.c.budget_cents,
        )
        .where(cond)
        .order_by(tasks.c.deadline, tasks.c.seq)
        .limit(bindparam("lim"))
        .with_for_update(skip_locked=True)
    )


_PARTIES = (None, "publisher", "assignee")
_DUE_SEQS = {party: _due_seqs(party) for party in _PARTIES}
_ANY_DUE = {
    party: Prepared(
        select(
            exists().where(
                due_condition(
                    _NOW,
                    publisher_id=(
                        bindparam("agent_id", type_=String) if party == "publisher" else None
                    ),
                    assignee_id=(
                        bindparam("agent_id", type_=String) if party == "assignee" else None
                    ),
                )
            )
        )
    )
    for party in _PARTIES
}
# Both of an agent's sides in one statement: what every wallet read probes first.
_ANY_DUE_EITHER = Prepared(
    select(
        or_(
            exists().where(due_condition(_NOW, publisher_id=bindparam("agent_id", type_=String))),
            exists().where(due_condition(_NOW, assignee_id=bindparam("agent_id", type_=String))),
        )
    )
)
BATCH = 500  # due tasks settled per write transaction


def expire_due(
    conn: Connection,
    *,
    now: int,
    publisher_id: str | None = None,
    assignee_id: str | None = None,
    limit: int = BATCH,
) -> int:
    """Apply up to `limit` due clock edges (expire and refund; auto-approve and pay);
    returns how many this call settled (optionally only one publisher's or one
    assignee's). Each is the edge's conditional UPDATE, so racing sweepers, readers and
    callers settle every task exactly once (lock order: `flows.apply_due`)."""
    party, agent = _party(publisher_id, assignee_id)
    params = {"now": now, "lim": limit, "agent_id": agent}
    return flows.apply_due(conn, _DUE_SEQS[party].execute(conn, params).all(), now=now)


def any_due(
    conn: Connection, *, now: int, publisher_id: str | None = None, assignee_id: str | None = None
) -> bool:
    party, agent = _party(publisher_id, assignee_id)
    return bool(_ANY_DUE[party].execute(conn, {"now": now, "agent_id": agent}).scalar())


def settle_due(
    engine: Engine, *, now: int, publisher_id: str | None = None, assignee_id: str | None = None
) -> int:
    """Probe read-only; if anything is due, settle it in short write transactions of
    `BATCH` tasks (the background sweep, and `settle_before_read`)."""
    with transaction(engine, write=False) as conn:
        if not any_due(conn, now=now, publisher_id=publisher_id, assignee_id=assignee_id):
            return 0

    def batch() -> int:
        with transaction(engine, write=True) as conn:
            return expire_due(conn, now=now, publisher_id=publisher_id, assignee_id=assignee_id)

    total = 0
    while True:
        # A batch locks its tasks (skipping locked ones) before any account, in the
        # global order of wallet/ledger.py; a deadlock that still happens is retried.
        done = retrying(batch)
        total += done
        if done < BATCH:
            return total


def settle_before_read(conn: Connection, *, engine: Engine, agent_id: str, now: int) -> None:
    """Make `agent_id`'s balance and escrow right at read time: the escrow of its tasks
    the clock has already closed goes back first, and the work it delivered whose review
    window has ended is paid.

    The probe runs on the reader's own connection (no extra checkout on the common path,
    which stays read-only); only when it finds something is it settled, in a separate
    short write transaction. The reader's later statements see that commit: SQLite reads
    run in autocommit, PostgreSQL reads in READ COMMITTED."""
    if not _ANY_DUE_EITHER.execute(conn, {"now": now, "agent_id": agent_id}).scalar():
        return  # the common path: one probe for both sides
    settle_due(engine, now=now, publisher_id=agent_id)  # each probes its own side first
    settle_due(engine, now=now, assignee_id=agent_id)


def settle_task_if_due(conn: Connection, *, task_seq: int, now: int) -> Any:
    """The task's row after the clock edge its guard already allows (if any) has been
    applied in the caller's transaction (e.g. an auto-approval before a rating)."""
    row = _row(conn, task_seq)
    if flows.LIFECYCLE.effective_status(row, now) != row.status:
        action = flows.LIFECYCLE.automatic[row.status].action
        after = flows.apply(conn, task=row, action=action, now=now)
        row = _row(conn, task_seq) if after is None else after
    return row


# --- publish -----------------------------------------------------------------------------

_NEW_TASK = Prepared(
    insert(tasks)
    .values(
        title=bindparam("title", type_=String),
        description=bindparam("description", type_=String),
        required_capabilities=bindparam("required_capabilities", type_=String),
        budget_cents=bindparam("budget_cents", type_=BigInteger),
        deadline=bindparam("deadline", type_=BigInteger),
        status=flows.LIFECYCLE.initial,
        publisher_id=bindparam("publisher_id", type_=String),
        assignee_id=None,
        created_at=_NOW,
        rated=False,
        review_seconds=bindparam("review_seconds", type_=Integer),
        max_change_rounds=bindparam("max_change_rounds", type_=Integer),
        change_rounds=0,
    )
    .returning(*tasks.c)
)
_NEW_TASK_CAP = Prepared(
    insert(task_capabilities).values(
        task_seq=bindparam("task_seq", type_=BigInteger),
        capability=bindparam("capability", type_=String),
        position=bindparam("position", type_=Integer),
    )
)


def parse_deadline(value: str | None, *, now: int, tz_name: str) -> int | None:
    """ISO 8601, with or without offset (without: read in `tz_name`); in the future."""
    if value is None:
        return None
    try:
        deadline = parse_instant(value, tz_name=tz_name)
    except ValueError as exc:
        raise InvalidDeadline(str(exc)) from None
    if deadline <= now:
        raise DeadlineNotFuture()
    return deadline


def publish_task(
    conn: Connection,
    *,
    publisher_id: str,
    task: TaskCreate,
    now: int,
    tz_name: str,
    review_seconds: int = 0,
    max_change_rounds: int = 2,
) -> TaskPublic:
    """Create an open task and move its budget into escrow (409 `余额不足` if short).
    A deadline without an offset is read in `tz_name` (AIPOD_TIMEZONE). `review_seconds`
    (AIPOD_REVIEW_SECONDS) applies when the body gives none; `max_change_rounds`
    (AIPOD_MAX_CHANGE_ROUNDS) is fixed on the task now."""
    deadline = parse_deadline(task.deadline, now=now, tz_name=tz_name)
    budget_cents = to_cents(task.budget)
    capabilities = list(task.required_capabilities or [])
    # The publisher's own expired tasks are refunded first, in this transaction: money
    # that reads as refunded (the task reads `expired`) must also be spendable.
    expire_due(conn, now=now, publisher_id=publisher_id)
    row = _NEW_TASK.execute(
        conn,
        {
            "title": task.title,
            "description": task.description or "",
            "required_capabilities": orjson.dumps(capabilities).decode(),
            "budget_cents": budget_cents,
            "deadline": deadline,
            "publisher_id": publisher_id,
            "now": now,
            "review_seconds": (
                review_seconds if task.review_seconds is None else task.review_seconds
            ),
            "max_change_rounds": max_change_rounds,
        },
    ).one()
    seq = int(row.seq)
    for i, cap in enumerate(capabilities):
        _NEW_TASK_CAP.execute(conn, {"task_seq": seq, "capability": cap, "position": i})
    # The conditional debit inside refuses to overdraw; the whole request rolls back then.
    flows.created(conn, row=row, now=now)
    return serialize(row, viewer_id=publisher_id, now=now)


# --- transitions -----------------------------------------------------------------------


def _act(
    conn: Connection,
    *,
    task_id: str,
    action: str | None = None,
    caller_id: str,
    now: int,
    values: dict[str, Any] | None = None,
    reason: str | None = None,
    operators: frozenset[str] = frozenset(),
    pick: Any = None,
) -> TaskPublic:
    """`pick(row) -> (action, values)`: for an action chosen from the row."""
    row, entries = _row_with_history(conn, parse_task_id(task_id))
    if pick is not None:
        action, values = pick(row)
    assert action is not None
    after = flows.perform(
        conn,
        task=row,
        action=action,
        actor=caller_id,
        now=now,
        values=values,
        reason=reason,
        operators=operators,
        history=entries,
    )
    return serialize(after, viewer_id=caller_id, now=now, operators=operators)


def accept_task(conn: Connection, *, task_id: str, caller_id: str, now: int) -> TaskPublic:
    """403 for the caller's own task or a missing capability; 409 unless open and before
    the deadline (`TaskDue` when it is past: the task is expired and refunded)."""
    return _act(conn, task_id=task_id, action="accept", caller_id=caller_id, now=now)


def complete_task(
    conn: Connection, *, task_id: str, caller_id: str, delivery: TaskComplete, now: int
) -> TaskPublic:
    """The assignee delivers. Without a review window the escrow is paid to it
    (`complete` -> done); with one, the work is submitted (`submit` -> submitted) and
    the review runs until now + review_seconds."""
    delivered = {
        "deliverables": orjson.dumps(delivery.deliverables).decode(),
        "quality_notes": delivery.quality_notes,
    }

    def pick(row: Any) -> tuple[str, dict[str, Any]]:
        if int(row.review_seconds) > 0:
            return "submit", {**delivered, "review_due": now + int(row.review_seconds)}
        return "complete", delivered

    return _act(conn, task_id=task_id, caller_id=caller_id, now=now, pick=pick)


def approve_task(conn: Connection, *, task_id: str, caller_id: str, now: int) -> TaskPublic:
    """The publisher accepts the submitted work within its review window: paid now."""
    return _act(conn, task_id=task_id, action="approve", caller_id=caller_id, now=now)


def request_changes(
    conn: Connection, *, task_id: str, caller_id: str, reason: str, now: int
) -> TaskPublic:
    """The publisher sends the work back (at most `max_change_rounds` times). A deadline
    that would pass within the next review window moves to now + review_seconds."""

    def pick(row: Any) -> tuple[str, dict[str, Any]]:
        values: dict[str, Any] = {"review_due": None}
        floor = now + int(row.review_seconds)
        if row.deadline is not None and row.deadline < floor:
            values["deadline"] = floor
        return "request_changes", values

    return _act(conn, task_id=task_id, caller_id=caller_id, now=now, reason=reason, pick=pick)


def dispute_task(
    conn: Connection, *, task_id: str, caller_id: str, reason: str, now: int
) -> TaskPublic:
    """The publisher disputes the submitted work within its review window: the escrow
    stays frozen until the dispute is conceded, withdrawn or resolved."""
    return _act(
        conn,
        task_id=task_id,
        action="dispute",
        caller_id=caller_id,
        now=now,
        values={"dispute_reason": reason},
        reason=reason,
    )


def concede_task(conn: Connection, *, task_id: str, caller_id: str, now: int) -> TaskPublic:
    """The assignee gives in: the budget goes back to the publisher (cancelled)."""
    return _act(conn, task_id=task_id, action="concede", caller_id=caller_id, now=now)


def withdraw_dispute(conn: Connection, *, task_id: str, caller_id: str, now: int) -> TaskPublic:
    """The publisher withdraws its dispute: the assignee is paid (done)."""
    return _act(conn, task_id=task_id, action="withdraw_dispute", caller_id=caller_id, now=now)


def payout_cents(budget_cents: int, share: Decimal) -> int:
    """The assignee's part of a split: budget × share, rounded half up to the cent."""
    return int((Decimal(budget_cents) * share).to_integral_value(rounding=ROUND_HALF_UP))


def resolve_task(
    conn: Connection,
    *,
    task_id: str,
    caller_id: str,
    ruling: TaskResolve,
    operators: frozenset[str],
    now: int,
) -> TaskPublic:
    """An operator (AIPOD_OPERATORS, not a party) decides a dispute: release (all to the
    assignee), refund (all back) or split (`payout_cents`); done either way."""
    share = ruling.assignee_share
    implied = {"release": Decimal(1), "refund": Decimal(0)}.get(ruling.outcome)
    if implied is not None:
        if share is not None and share != implied:
            raise ShareConflictsOutcome()
        share = implied
    elif share is None or not 0 < share < 1:
        raise ShareConflictsOutcome()
    final_share = share

    def pick(row: Any) -> tuple[str, dict[str, Any]]:
        return "resolve", {
            "resolution": ruling.outcome,
            "assignee_share_bp": int(final_share * SHARE_SCALE),
            "payout_cents": payout_cents(int(row.budget_cents), final_share),
        }

    return _act(
        conn,
        task_id=task_id,
        caller_id=caller_id,
        now=now,
        reason=ruling.reason,
        operators=operators,
        pick=pick,
    )


def cancel_task(conn: Connection, *, task_id: str, caller_id: str, now: int) -> TaskPublic:
    """The publisher cancels; the escrow comes back."""
    return _act(conn, task_id=task_id, action="cancel", caller_id=caller_id, now=now)


# --- lists -----------------------------------------------------------------------------


def eligible_condition(caller_id: Any, now: Any) -> ColumnElement[bool]:
    """Tasks the caller could accept now: the accept edges' condition, not the caller's
    own, and the caller has every required capability."""
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
        flows.LIFECYCLE.condition("accept", flows.Ctx(now=now, actor=caller_id)),
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
        clauses.append(flows.LIFECYCLE.status_filter(status, _NOW))
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
        clauses.append(eligible_condition(bindparam("viewer", type_=String), _NOW))
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


def _due_count(edge: flows.Transition) -> Prepared:
    return Prepared(
        select(func.count()).select_from(
            select(literal(1))
            .select_from(tasks)
            .where(flows.LIFECYCLE.due_on(edge, _NOW))
            .limit(bindparam("count_limit"))
            .subquery()
        )
    )


_DUE_COUNTS = {edge.action: _due_count(edge) for edge in flows.LIFECYCLE.clock_edges}


def _status_total(conn: Connection, status: str | None, now: int) -> Total | None:
    """The total of a status-only (or unfiltered) list from the kept counters.

    Counters follow the stored status, which differs from what readers see only for the
    tasks a clock edge has moved before the sweep got to them (open tasks past their
    deadline count as expired). Those are counted directly (an index range, small while
    the sweep keeps up); None if there are too many."""
    if status is None:
        return Total(sum(counters.total(conn, f"tasks.status:{s}") for s in flows.STATUSES))
    kept = counters.total(conn, f"tasks.status:{status}")
    leaving, entering = flows.LIFECYCLE.clock_edges_of(status)
    for edges, sign in ((leaving, -1), (entering, 1)):
        for edge in edges:
            params = {"now": now, "count_limit": COUNT_CAP + 1}
            due = int(_DUE_COUNTS[edge.action].execute(conn, params).scalar())
            if due > COUNT_CAP:
                return None
            kept += sign * due
    return Total(kept)


def list_tasks(
    conn: Connection,
    *,
    viewer_id: str,
    query: TaskListQuery,
    now: int,
    operators: frozenset[str] = frozenset(),
) -> Page[TaskPublic]:
    """Newest first (seq descending). `query.capability` is normalised by its type."""
    caps = query.capability
    publisher = query.publisher.lower() if query.publisher is not None else None
    assignee = query.assignee.lower() if query.assignee is not None else None
    eligible = bool(query.eligible)
    count_stmt, page_stmt = _list_statements(
        query.status, len(caps), publisher is not None, assignee is not None, eligible
    )
    params: dict[str, Any] = {f"cap{i}": cap for i, cap in enumerate(caps)}
    params.update(now=now, publisher=publisher, assignee=assignee, viewer=viewer_id)
    total: Total | None = None
    if not caps and publisher is None and assignee is None and not eligible:
        total = _status_total(conn, query.status, now)
    if total is None:
        counted = int(count_stmt.execute(conn, {**params, "count_limit": COUNT_CAP + 1}).scalar())
        total = Total(min(counted, COUNT_CAP), counted > COUNT_CAP)
    page, page_size = query.page, query.page_size
    rows = page_stmt.execute(
        conn, {**params, "lim": page_size + 1, "off": (page - 1) * page_size}
    ).all()
    has_more = len(rows) > page_size
    items = [
        serialize(r, viewer_id=viewer_id, now=now, operators=operators) for r in rows[:page_size]
    ]
    return page_data(items, page=page, page_size=page_size, total=total, has_more=has_more)
