"""The task lifecycle: ONE transition table, and everything derived from it.

    open ──accept──▶ progress ──complete (review_seconds = 0)─────────────────────▶ done
     │ │              │  ▲  │                                                      ▲
     │ │              │  │  └─complete (review_seconds > 0)─▶ submitted ─approve───┤
     │ │              │  └─────────request_changes─────────────┘ │ └auto_approve──┤
     │ │              │                                      dispute   (clock)     │
     │ │              │                                          ▼                 │
     │ │              │          cancelled ◀──concede──────── disputed ─withdraw───┤
     │ │              │                                          └─resolve (op.)───┘
     │ └──cancel──┐   └──cancel (only after the deadline)──┐
     │            ▼                                        ▼
     └──expire──▶ expired                              cancelled

`TRANSITIONS` is the only place the lifecycle is written. Each record is one edge: its
source status (None: the action creates the task), the action, the target status, the
guard (a condition on the row, checked by the database inside the conditional UPDATE),
who may take it, and its effect — the money movement on the wallet ledger that happens
with it, in the same transaction, exactly once:

    publish  -> HOLD    (publisher balance -> the task's own escrow account)
    complete -> SETTLE  (escrow -> assignee; the assignee has completed one more task)
    submit, request_changes, dispute -> none (the escrow stays held: HELD follows)
    approve, auto_approve, withdraw_dispute -> SETTLE
    resolve  -> PAYOUT  (escrow -> assignee's share, the rest -> publisher; each part once)
    cancel, expire, concede -> REFUND  (escrow -> publisher)

Each edge also names its event (`event`, e.g. `task.accepted`): taking the edge emits it
into the transactional outbox (events/outbox.py), in the same transaction, with the
task as `GET /v1/tasks/{id}` shows it to its parties, for the publisher and the assignee
(`task.published` is also offered to the agents eligible to accept the task).

Derived from the table (`Lifecycle`), and written nowhere else:

- the statuses (`STATUSES`, in order of first appearance), hence the OpenAPI enums
  (tasks/schemas.py) and the CHECK constraint on `tasks.status` (attached to the table
  here; a migration is needed only when the CHECK's text changes);
- `HELD`, the statuses whose escrow holds the budget (from the effects along the edges);
- the read-time rules. An edge taken by the clock (`who=CLOCK`: expire, auto_approve)
  has happened, for every reader, as soon as its guard holds, before any sweep has
  run: `effective_status`
  (what a read shows), `status_filter` (the `status=` list filter), `due_condition` (the
  tasks the sweep and the wallet reads settle) and `clock_edges` (the correction of the
  per-status counters in list totals);
- the answers: who may act (403, by `who`), and why an action was refused (409: the
  action's key in `REFUSALS`, or the edge's own `refusal` when the task is in its source
  status but the guard does not hold).

Adding a status means adding its edges here (plus a migration for the CHECK, and tests);
tests/tasks/test_flows.py builds a modified table and checks every derivation follows.

Exactly once: every transition is ONE conditional UPDATE (`apply`) whose WHERE clause is
"the row is in a source status of this action AND that edge's guard holds"; the row count
says whether this caller won. Under SQLite (writers serialised by BEGIN IMMEDIATE) and
under PostgreSQL READ COMMITTED (a blocked writer re-checks the WHERE clause against the
committed row) two concurrent transitions of one task can never both succeed, so the
effect that the winner runs next, in the same transaction, happens exactly once. That is
why the edges of one action share target, who and effect: the UPDATE does not say which
of its edges matched (an action whose effect depends on where it starts is two actions).

`complete` is two actions: which edge a delivery takes depends on the task's
`review_seconds` (fixed when it is published), so `complete` (review 0: pay at once) and
`submit` (review > 0: into review) have disjoint guards on that column and the service
picks the action from the row; the conditional UPDATE re-checks it.

Each transition also writes one `task_history` row (action, from, to, who, when,
reason) and bumps the publisher's record (`tally`: counters on the agent row) in the
same transaction.

Deadlines: an *open* task whose deadline has passed is expired (it can only `expire`);
an *in-progress* task whose deadline has passed may still be completed by its assignee,
and may also be cancelled by its publisher (full refund) — whichever comes first wins.
A *submitted* task is governed by its review window, not its deadline: it is approved
(by the publisher, or by the clock when `review_due` passes), sent back, or disputed;
nobody can cancel it. A change request moves a deadline that would otherwise pass within
the next review window to now + review_seconds, so the publisher cannot send work back
and cancel it at once. A *disputed* task has no clock: its escrow stays frozen until the
assignee concedes, the publisher withdraws, or an operator resolves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal, cast

import orjson
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Connection,
    String,
    and_,
    bindparam,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from aipod_api.core.errors import Conflict, Forbidden
from aipod_api.core.i18n import register_messages
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agent_capabilities, agents, task_history, tasks
from aipod_api.events import outbox
from aipod_api.trust import standing
from aipod_api.wallet import ledger

register_messages(
    {
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
        "not_publisher_review": (
            "只有任务发布者可以验收、要求修改、发起或撤回争议",
            "Only the task's publisher can approve it, request changes, or open or withdraw "
            "a dispute",
        ),
        "not_assignee_concede": (
            "只有任务承接者可以让步(退款给发布者)",
            "Only the task's assignee can concede a dispute",
        ),
        "not_operator": (
            "只有平台运营者(AIPOD_OPERATORS)可以裁决争议,且不能是任务当事方",
            "Only an operator (AIPOD_OPERATORS) who is not a party to the task can resolve it",
        ),
        "task_not_submitted": (
            "任务当前状态为 {status},不在验收中",
            "Task is {status}; it is not awaiting review",
        ),
        "task_not_disputed": (
            "任务当前状态为 {status},没有进行中的争议",
            "Task is {status}; it is not in dispute",
        ),
        "change_rounds_exhausted": (
            "已达到修改次数上限,只能验收或发起争议",
            "No change rounds left; approve the task or dispute it",
        ),
    }
)


# --- the answers: 403 (who) and 409 (refused) -------------------------------------------


class OwnTask(Forbidden):
    key = "own_task"


class MissingCapabilities(Forbidden):
    key = "missing_capabilities"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(data={"missing_capabilities": missing}, missing=", ".join(missing))


class NotAssignee(Forbidden):
    key = "not_assignee"
    error_code = "not_assignee"


class NotPublisher(Forbidden):
    key = "not_publisher"
    error_code = "not_publisher"


# The 403's message when it differs by action (the error code stays the role's).
ROLE_MESSAGES: dict[str, str] = {
    "approve": "not_publisher_review",
    "request_changes": "not_publisher_review",
    "dispute": "not_publisher_review",
    "withdraw_dispute": "not_publisher_review",
    "concede": "not_assignee_concede",
}


class NotOperator(Forbidden):
    key = "not_operator"


class IllegalTransition(Conflict):
    """The task's status does not allow the action (409)."""

    key = "illegal_transition"

    def __init__(self, key: str, *, status: str) -> None:
        super().__init__(key, data={"status": status})
        self.params = {"status": status}  # `status` would clash with ApiError's HTTP status
        self.task_status = status


class TaskDue(IllegalTransition):
    """Refused because the clock had already moved the task on (an open task past its
    deadline is expired): 409 — and that transition, with its effect (the refund), has
    been applied in the caller's transaction before answering.

    `commits`: the request scope commits the transaction even though the answer is an
    error (http/context.py), so the refund does not wait for the sweep. A caller without
    the request scope (a script, a tool server) commits it too.
    """

    commits = True


# --- guards: conditions on the row besides its status --------------------------------


@dataclass(frozen=True)
class Ctx:
    """What a guard may look at besides the row: the clock and the acting agent (values,
    or bind parameters when the statement is prepared once)."""

    now: Any
    actor: Any


def deadline_passed(now: Any) -> ColumnElement[bool]:
    return and_(tasks.c.deadline.is_not(None), tasks.c.deadline <= now)


def deadline_pending(now: Any) -> ColumnElement[bool]:
    return or_(tasks.c.deadline.is_(None), tasks.c.deadline > now)


@dataclass(frozen=True)
class Guard:
    """`sql`: the condition inside the conditional UPDATE and the read-time filters;
    `negated_sql`: its complement when a plainer form exists (it keeps the filters'
    index-friendly SQL); `on_clock(row, now)`: the same condition in Python, for guards
    that read only the row and the clock (what an edge taken by the clock needs, so that
    a read can apply it)."""

    name: str
    sql: Callable[[Ctx], ColumnElement[bool]]
    negated_sql: Callable[[Ctx], ColumnElement[bool]] | None = None
    on_clock: Callable[[Any, int], bool] | None = None
    doc: tuple[str, str] = ("", "")  # (zh, en), for the docs page

    def negation(self, ctx: Ctx) -> ColumnElement[bool]:
        return self.negated_sql(ctx) if self.negated_sql is not None else not_(self.sql(ctx))


BEFORE_DEADLINE = Guard(
    "before_deadline",
    sql=lambda c: deadline_pending(c.now),
    negated_sql=lambda c: deadline_passed(c.now),
    on_clock=lambda row, now: row.deadline is None or row.deadline > now,
    doc=("截止时间前(或无截止)", "before the deadline (if any)"),
)
AFTER_DEADLINE = Guard(
    "after_deadline",
    sql=lambda c: deadline_passed(c.now),
    negated_sql=lambda c: deadline_pending(c.now),
    on_clock=lambda row, now: row.deadline is not None and row.deadline <= now,
    doc=("截止时间后", "after the deadline"),
)
BY_ASSIGNEE = Guard(
    "by_assignee",
    sql=lambda c: tasks.c.assignee_id == c.actor,
    doc=("承接者本人", "the assignee itself"),
)
BY_ASSIGNEE_NO_REVIEW = Guard(
    "by_assignee_no_review",
    sql=lambda c: and_(tasks.c.assignee_id == c.actor, tasks.c.review_seconds == 0),
    doc=("承接者本人,任务无验收期", "the assignee itself; the task has no review window"),
)
BY_ASSIGNEE_WITH_REVIEW = Guard(
    "by_assignee_with_review",
    sql=lambda c: and_(tasks.c.assignee_id == c.actor, tasks.c.review_seconds > 0),
    doc=("承接者本人,任务有验收期", "the assignee itself; the task has a review window"),
)


def review_open(now: Any) -> ColumnElement[bool]:
    return and_(tasks.c.review_due.is_not(None), tasks.c.review_due > now)


def review_over(now: Any) -> ColumnElement[bool]:
    return and_(tasks.c.review_due.is_not(None), tasks.c.review_due <= now)


IN_REVIEW = Guard(
    "in_review",
    sql=lambda c: review_open(c.now),
    negated_sql=lambda c: or_(tasks.c.review_due.is_(None), tasks.c.review_due <= c.now),
    doc=("验收期内", "within the review window"),
)
REVIEW_OVER = Guard(
    "review_over",
    sql=lambda c: review_over(c.now),
    negated_sql=lambda c: or_(tasks.c.review_due.is_(None), tasks.c.review_due > c.now),
    on_clock=lambda row, now: row.review_due is not None and row.review_due <= now,
    doc=("验收期结束", "the review window has ended"),
)
IN_REVIEW_ROUNDS_LEFT = Guard(
    "in_review_rounds_left",
    sql=lambda c: and_(review_open(c.now), tasks.c.change_rounds < tasks.c.max_change_rounds),
    doc=(
        "验收期内,且修改次数未用完",
        "within the review window, with change rounds left",
    ),
)


# --- who may take an edge ------------------------------------------------------------

_CALLER_CAPS = Prepared(
    select(agent_capabilities.c.capability).where(
        agent_capabilities.c.agent_id == bindparam("agent_id", type_=String)
    )
)


def _publisher_only(conn: Connection, row: Any, actor: str | None) -> None:
    if row.publisher_id != actor:
        raise NotPublisher()


def _assignee_only(conn: Connection, row: Any, actor: str | None) -> None:
    # Also refuses an open task: nobody is its assignee yet.
    if row.assignee_id != actor:
        raise NotAssignee()


def _contractor(conn: Connection, row: Any, actor: str | None) -> None:
    if row.publisher_id == actor:
        raise OwnTask()
    required: list[str] = orjson.loads(row.required_capabilities)
    if required:
        have = set(_CALLER_CAPS.execute(conn, {"agent_id": actor}).scalars())
        missing = [cap for cap in required if cap not in have]
        if missing:
            raise MissingCapabilities(missing)


def _clock(conn: Connection, row: Any, actor: str | None) -> None:
    raise ValueError("this edge is taken by the clock (the sweep), never by a caller")


def _operator(conn: Connection, row: Any, actor: str | None) -> None:
    # Membership of AIPOD_OPERATORS is checked by the caller of `perform` (`operators=`);
    # here: an operator never resolves a task it is a party to.
    if actor is None or actor in (row.publisher_id, row.assignee_id):
        raise NotOperator()


@dataclass(frozen=True)
class Role:
    """Who may take an edge; `authorize` raises the 403 for anybody else."""

    name: str
    authorize: Callable[[Connection, Any, str | None], None]
    doc: tuple[str, str] = ("", "")  # (zh, en), for the docs page


PUBLISHER = Role("publisher", _publisher_only, ("发布者", "the publisher"))
ASSIGNEE = Role("assignee", _assignee_only, ("承接者", "the assignee"))
CONTRACTOR = Role(
    "contractor",
    _contractor,
    ("其他具备所需能力的节点", "another agent with the required capabilities"),
)
CLOCK = Role("clock", _clock, ("时间(读取时即生效)", "the clock (reads see it at once)"))
OPERATOR = Role(
    "operator",
    _operator,
    ("运营者(AIPOD_OPERATORS,非当事方)", "an operator (AIPOD_OPERATORS, not a party)"),
)


# --- effects: the money movement of an edge --------------------------------------------


@dataclass(frozen=True)
class Subject:
    """The task as an effect sees it: after the transition (its assignee set)."""

    seq: int
    publisher_id: str
    assignee_id: str | None
    budget_cents: int
    payout_cents: int | None = None  # resolve: the assignee's part (the rest is refunded)


def _hold(conn: Connection, task: Subject, now: int) -> None:
    # The conditional debit inside refuses to overdraw (409 `insufficient_funds`).
    ledger.hold_escrow(
        conn,
        publisher_id=task.publisher_id,
        task_seq=task.seq,
        amount_cents=task.budget_cents,
        now=now,
    )


def _settle(conn: Connection, task: Subject, now: int) -> None:
    assert task.assignee_id is not None
    ledger.settle_escrow(
        conn,
        publisher_id=task.publisher_id,
        assignee_id=task.assignee_id,
        task_seq=task.seq,
        amount_cents=task.budget_cents,
        now=now,
    )
    # Pay for work is what earns standing (trust/standing.py): O(1), under the same locks;
    # the assignee's completed task is counted in the same UPDATE of its row.
    standing.record_payment(
        conn,
        payer_id=task.publisher_id,
        payee_id=task.assignee_id,
        amount_cents=task.budget_cents,
        completed=True,
    )


def _refund(conn: Connection, task: Subject, now: int) -> None:
    ledger.refund_escrow(
        conn,
        publisher_id=task.publisher_id,
        task_seq=task.seq,
        amount_cents=task.budget_cents,
        now=now,
    )


def _payout(conn: Connection, task: Subject, now: int) -> None:
    """An operator's resolution: the assignee's part as one payment, the rest as one
    refund (a part of 0 moves nothing; a budget of 0 is settled at 0 as `complete` is)."""
    assert task.assignee_id is not None and task.payout_cents is not None
    paid = task.payout_cents
    rest = task.budget_cents - paid
    if not 0 <= paid <= task.budget_cents:
        raise ValueError(f"payout {paid} outside 0..{task.budget_cents}")
    if paid > 0 or rest == 0:
        ledger.settle_escrow(
            conn,
            publisher_id=task.publisher_id,
            assignee_id=task.assignee_id,
            task_seq=task.seq,
            amount_cents=paid,
            now=now,
        )
        standing.record_payment(
            conn,
            payer_id=task.publisher_id,
            payee_id=task.assignee_id,
            amount_cents=paid,
            completed=True,
        )
    if rest > 0:
        ledger.refund_escrow(
            conn, publisher_id=task.publisher_id, task_seq=task.seq, amount_cents=rest, now=now
        )


@dataclass(frozen=True)
class Effect:
    """`escrow`: whether the movement fills the task's escrow or empties it (`HELD` follows
    from it); `accounts`: the agents whose accounts it writes (a batch locks them all, in
    id order, before running any; wallet/ledger.py)."""

    name: str
    escrow: Literal["hold", "release"]
    run: Callable[[Connection, Subject, int], None]
    accounts: Callable[[Subject], tuple[str | None, ...]]
    doc: tuple[str, str] = ("", "")  # (zh, en), for the docs page


HOLD = Effect(
    "hold",
    "hold",
    _hold,
    lambda t: (t.publisher_id,),
    ("余额 → 托管", "balance → escrow"),
)
SETTLE = Effect(
    "settle",
    "release",
    _settle,
    lambda t: (t.publisher_id, t.assignee_id),
    ("托管 → 承接者", "escrow → assignee"),
)
REFUND = Effect(
    "refund",
    "release",
    _refund,
    lambda t: (t.publisher_id,),
    ("托管 → 发布者(全额)", "escrow → publisher (all)"),
)
PAYOUT = Effect(
    "payout",
    "release",
    _payout,
    lambda t: (t.publisher_id, t.assignee_id),
    (
        "托管 → 承接者份额,其余 → 发布者",
        "escrow → the assignee's share, the rest → publisher",
    ),
)


# --- the publisher's record: counters on the publisher's agent row -----------------------

PUBLISHER_TALLIES = ("pub_tasks", "pub_approved", "pub_disputes", "pub_disputes_lost")


def _lost_if_paid_in_full(task: Subject) -> tuple[str, ...]:
    """A resolution is a lost dispute for the publisher when the assignee got it all."""
    paid = task.budget_cents if task.payout_cents is None else task.payout_cents
    return ("pub_disputes_lost",) if paid == task.budget_cents else ()


_TALLY: dict[str, Prepared] = {
    column: Prepared(
        update(agents)
        .where(agents.c.agent_id == bindparam("agent_id", type_=String))
        .values({column: agents.c[column] + 1})
    )
    for column in PUBLISHER_TALLIES
}


# --- the table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """One edge. `stamps`: time columns set to now (`closed_at` is stamped on entering a
    final status); `assigns`: the actor becomes the task's assignee; `refusal`: the 409's
    message key when the task is in `source` but the guard does not hold; `bumps`:
    integer columns of the task incremented; `tally`: the publisher's record counters
    (`PUBLISHER_TALLIES`) the edge adds one to (a function of the task for edges whose
    tally depends on the outcome)."""

    source: str | None
    action: str
    target: str
    who: Role
    guard: Guard | None = None
    effect: Effect | None = None
    stamps: tuple[str, ...] = ()
    assigns: bool = False
    refusal: str | None = None
    event: str | None = None
    bumps: tuple[str, ...] = ()
    tally: tuple[str, ...] | Callable[[Subject], tuple[str, ...]] = ()

    def tallies(self, task: Subject) -> tuple[str, ...]:
        return self.tally(task) if callable(self.tally) else self.tally


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        None,
        "publish",
        "open",
        who=PUBLISHER,
        effect=HOLD,
        tally=("pub_tasks",),
        event="task.published",
    ),
    Transition(
        "open",
        "accept",
        "progress",
        who=CONTRACTOR,
        guard=BEFORE_DEADLINE,
        stamps=("accepted_at",),
        assigns=True,
        event="task.accepted",
    ),
    Transition(
        "progress",
        "complete",
        "done",
        who=ASSIGNEE,
        guard=BY_ASSIGNEE_NO_REVIEW,
        effect=SETTLE,
        stamps=("completed_at",),
        event="task.completed",
    ),
    # The same request (`PUT .../complete`) on a task published with review_seconds > 0.
    Transition(
        "progress",
        "submit",
        "submitted",
        who=ASSIGNEE,
        guard=BY_ASSIGNEE_WITH_REVIEW,
        stamps=("submitted_at",),
        event="task.submitted",
    ),
    Transition(
        "submitted",
        "approve",
        "done",
        who=PUBLISHER,
        guard=IN_REVIEW,
        effect=SETTLE,
        stamps=("completed_at",),
        tally=("pub_approved",),
        event="task.approved",
    ),
    Transition(
        "submitted",
        "auto_approve",
        "done",
        who=CLOCK,
        guard=REVIEW_OVER,
        effect=SETTLE,
        stamps=("completed_at",),
        tally=("pub_approved",),
        event="task.auto_approved",
    ),
    Transition(
        "submitted",
        "request_changes",
        "progress",
        who=PUBLISHER,
        guard=IN_REVIEW_ROUNDS_LEFT,
        bumps=("change_rounds",),
        refusal="change_rounds_exhausted",
        event="task.changes_requested",
    ),
    Transition(
        "submitted",
        "dispute",
        "disputed",
        who=PUBLISHER,
        guard=IN_REVIEW,
        stamps=("disputed_at",),
        tally=("pub_disputes",),
        event="task.disputed",
    ),
    Transition(
        "disputed",
        "concede",
        "cancelled",
        who=ASSIGNEE,
        effect=REFUND,
        event="task.dispute_conceded",
    ),
    Transition(
        "disputed",
        "withdraw_dispute",
        "done",
        who=PUBLISHER,
        effect=SETTLE,
        stamps=("completed_at",),
        tally=("pub_disputes_lost",),
        event="task.dispute_withdrawn",
    ),
    Transition(
        "disputed",
        "resolve",
        "done",
        who=OPERATOR,
        effect=PAYOUT,
        stamps=("completed_at",),
        tally=_lost_if_paid_in_full,
        event="task.resolved",
    ),
    Transition(
        "open",
        "cancel",
        "cancelled",
        who=PUBLISHER,
        guard=BEFORE_DEADLINE,
        effect=REFUND,
        event="task.cancelled",
    ),
    Transition(
        "progress",
        "cancel",
        "cancelled",
        who=PUBLISHER,
        guard=AFTER_DEADLINE,
        effect=REFUND,
        refusal="task_in_progress_before_deadline",
        event="task.cancelled",
    ),
    Transition(
        "open",
        "expire",
        "expired",
        who=CLOCK,
        guard=AFTER_DEADLINE,
        effect=REFUND,
        event="task.expired",
    ),
)

# The 409's message key when an action is refused (the task is in no source status of it).
REFUSALS: dict[str, str] = {
    "accept": "task_not_acceptable",
    "complete": "task_not_in_progress",
    "submit": "task_not_in_progress",
    "cancel": "task_not_cancellable",
    "approve": "task_not_submitted",
    "request_changes": "task_not_submitted",
    "dispute": "task_not_submitted",
    "concede": "task_not_disputed",
    "withdraw_dispute": "task_not_disputed",
    "resolve": "task_not_disputed",
}


class LifecycleError(ValueError):
    """The transition table is inconsistent (raised when it is built)."""


class Lifecycle:
    """A transition table, checked, and everything the code derives from it."""

    def __init__(self, transitions: Sequence[Transition], *, refusals: Mapping[str, str]) -> None:
        self.transitions = tuple(transitions)
        self.refusals = dict(refusals)
        creations = [t for t in self.transitions if t.source is None]
        if len(creations) != 1:
            raise LifecycleError("exactly one edge must create the task (source None)")
        self.creation = creations[0]
        self.initial = self.creation.target
        seen: dict[str, None] = {}
        for t in self.transitions:
            if t.source is not None:
                seen.setdefault(t.source)
            seen.setdefault(t.target)
        self.statuses: tuple[str, ...] = tuple(seen)
        width: int = getattr(tasks.c.status.type, "length", None) or 0
        too_long = [s for s in self.statuses if len(s) > width]
        if too_long:
            raise LifecycleError(f"statuses longer than tasks.status ({width}): {too_long}")
        self._edges: dict[str, dict[str, Transition]] = {}
        for t in self.transitions:
            if t.source is None:
                continue
            edges = self._edges.setdefault(t.action, {})
            if t.source in edges:
                raise LifecycleError(f"two {t.action!r} edges from {t.source!r}")
            first = next(iter(edges.values()), t)
            shared = ("target", "who", "effect", "stamps", "assigns", "bumps", "tally", "event")
            if any(getattr(first, f) != getattr(t, f) for f in shared):
                raise LifecycleError(
                    f"the edges of {t.action!r} must share target, who, effect, stamps, "
                    "assigns, bumps, tally and event (one conditional UPDATE applies them)"
                )
            edges[t.source] = t
        if self.creation.action in self._edges:
            raise LifecycleError(f"{self.creation.action!r} both creates and moves a task")
        self.final = frozenset(
            s for s in self.statuses if not any(t.source == s for t in self.transitions)
        )
        self.clock_edges = tuple(t for t in self.transitions if t.who is CLOCK)
        self.automatic: dict[str, Transition] = {}  # source -> the clock edge leaving it
        self._moves: dict[str, tuple[Callable[[Any, int], bool], str]] = {}
        for t in self.clock_edges:
            if t.source is None or t.guard is None or t.guard.on_clock is None:
                raise LifecycleError(f"{t.action!r}: a clock edge needs a clock-only guard")
            if t.source in self.automatic:
                raise LifecycleError(f"two clock edges leave {t.source!r}")
            self.automatic[t.source] = t
            self._moves[t.source] = (t.guard.on_clock, t.target)
        for t in self.clock_edges:
            if t.target in self.automatic:
                raise LifecycleError(f"clock edges chain at {t.target!r}")
        for action, edges in self._edges.items():
            edge = next(iter(edges.values()))
            if edge.who is not CLOCK and action not in self.refusals:
                raise LifecycleError(f"{action!r} has no refusal message key")
        self.held = self._derive_held()
        self.event_types: tuple[str, ...] = tuple(
            dict.fromkeys(t.event for t in self.transitions if t.event is not None)
        )
        if self.creation.event not in (None, outbox.DISCOVERY_TYPE):
            raise LifecycleError(f"the creation edge's event must be {outbox.DISCOVERY_TYPE!r}")

    def _derive_held(self) -> tuple[str, ...]:
        """Follow the effects from creation: HOLD fills the escrow, a release empties it.
        Every path into a status must agree, and no edge may hold twice or release what
        is not held."""
        start = self.creation.effect is not None and self.creation.effect.escrow == "hold"
        held: dict[str, bool] = {self.initial: start}
        todo = [self.initial]
        while todo:
            status = todo.pop()
            for t in self.transitions:
                if t.source != status:
                    continue
                after = held[status]
                if t.effect is not None:
                    if (t.effect.escrow == "hold") == held[status]:
                        raise LifecycleError(
                            f"{status!r} --{t.action}--> {t.effect.name}s escrow that is "
                            f"{'already' if held[status] else 'not'} held"
                        )
                    after = t.effect.escrow == "hold"
                if t.target in held:
                    if held[t.target] != after:
                        raise LifecycleError(f"escrow of {t.target!r} depends on the path")
                    continue
                held[t.target] = after
                todo.append(t.target)
        unreachable = [s for s in self.statuses if s not in held]
        if unreachable:
            raise LifecycleError(f"unreachable statuses: {unreachable}")
        return tuple(s for s in self.statuses if held[s])

    # --- the table, by action ----------------------------------------------------------

    def edges(self, action: str) -> dict[str, Transition]:
        """source status -> edge, for an action that moves a task."""
        try:
            return self._edges[action]
        except KeyError:
            raise ValueError(f"no such task action: {action!r}") from None

    def edge(self, action: str) -> Transition:
        """Any edge of the action (they share target, who, effect, stamps, assigns)."""
        return next(iter(self.edges(action).values()))

    def condition(self, action: str, ctx: Ctx) -> ColumnElement[bool]:
        """`(status = s1 AND guard1) OR (status = s2 AND guard2) ...` over the edges."""
        branches: list[ColumnElement[bool]] = []
        for src, edge in self.edges(action).items():
            branch = tasks.c.status == src
            branches.append(branch if edge.guard is None else and_(branch, edge.guard.sql(ctx)))
        return _any(branches)

    # --- derived: the schema ------------------------------------------------------------

    def check_sql(self) -> str:
        """The CHECK constraint on tasks.status."""
        return "status IN ({})".format(", ".join(f"'{s}'" for s in self.statuses))

    def status_type(self) -> Any:
        """`Literal["open", "progress", ...]`: the type of a status field (OpenAPI enum)."""
        return cast(Any, Literal)[self.statuses]

    # --- derived: what readers see -----------------------------------------------------

    def effective_status(self, row: Any, now: int) -> str:
        """The status a read shows: a clock edge whose guard holds has been taken."""
        status: str = row.status
        moves = self._moves.get(status)
        if moves is not None and moves[0](row, now):
            return moves[1]
        return status

    def status_filter(self, status: str, now: Any) -> ColumnElement[bool]:
        """A WHERE clause matching the tasks whose *effective* status is `status`."""
        if status not in self.statuses:
            raise ValueError(f"no such task status: {status!r}")
        ctx = Ctx(now=now, actor=None)
        stored = tasks.c.status == status
        leaving = self.automatic.get(status)
        branches = [stored if leaving is None else and_(stored, _guard(leaving).negation(ctx))]
        for edge in self.clock_edges:
            if edge.target == status:
                branches.append(and_(tasks.c.status == edge.source, _guard(edge).sql(ctx)))
        return _any(branches)

    def due_condition(self, now: Any, *, party: str | None = None) -> ColumnElement[bool]:
        """Tasks whose stored status a clock edge has already left (what the sweep and the
        settlement before wallet reads apply). With `party` ("publisher" or "assignee"):
        only the edges whose effect writes that party's account — what that party's
        wallet read must settle first (an assignee's is never an open task's expiry)."""
        ctx = Ctx(now=now, actor=None)
        edges = self.clock_edges if party is None else self.clock_edges_paying(party)
        return _any([and_(tasks.c.status == e.source, _guard(e).sql(ctx)) for e in edges])

    def clock_edges_paying(self, party: str) -> tuple[Transition, ...]:
        """The clock edges whose effect writes the account of `party` ("publisher" or
        "assignee"), read off each effect's `accounts` with the roles as the agents."""
        if party not in ("publisher", "assignee"):
            raise ValueError(f"no such party: {party!r}")
        roles = Subject(seq=0, publisher_id="publisher", assignee_id="assignee", budget_cents=0)
        return tuple(
            e
            for e in self.clock_edges
            if e.effect is not None and party in e.effect.accounts(roles)
        )

    def clock_edges_of(self, status: str) -> tuple[tuple[Transition, ...], tuple[Transition, ...]]:
        """(clock edges leaving `status`, clock edges entering it): a per-status count
        kept by stored status is off by the tasks on those edges whose guard holds."""
        leaving = tuple(e for e in self.clock_edges if e.source == status)
        entering = tuple(e for e in self.clock_edges if e.target == status)
        return leaving, entering

    def due_on(self, edge: Transition, now: Any) -> ColumnElement[bool]:
        """Tasks a clock edge has already moved, for readers."""
        return and_(tasks.c.status == edge.source, _guard(edge).sql(Ctx(now=now, actor=None)))


def _guard(edge: Transition) -> Guard:
    assert edge.guard is not None
    return edge.guard


def _any(branches: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return branches[0] if len(branches) == 1 else or_(*branches)


LIFECYCLE = Lifecycle(TRANSITIONS, refusals=REFUSALS)
outbox.register_types(*LIFECYCLE.event_types)
STATUSES: tuple[str, ...] = LIFECYCLE.statuses
HELD: tuple[str, ...] = LIFECYCLE.held  # statuses whose escrow holds the budget

# The CHECK constraint on tasks.status, derived from the table (core/tables.py defines the
# table; migrations/env.py imports this module so that the metadata carries it).
tasks.append_constraint(CheckConstraint(LIFECYCLE.check_sql(), name="status"))


# --- applying a transition ---------------------------------------------------------------

_TASK_ROW = Prepared(select(tasks).where(tasks.c.seq == bindparam("seq", type_=BigInteger)))


def read_task(conn: Connection, *, task_seq: int) -> Any:
    """The task's row, or None."""
    return _TASK_ROW.execute(conn, {"seq": task_seq}).first()


def _subject(
    row: Any, edge: Transition, actor: str | None, values: Mapping[str, Any] | None = None
) -> Subject:
    payout = (values or {}).get("payout_cents")
    return Subject(
        seq=int(row.seq),
        publisher_id=row.publisher_id,
        assignee_id=actor if edge.assigns else row.assignee_id,
        budget_cents=int(row.budget_cents),
        payout_cents=None if payout is None else int(payout),
    )


_HISTORY = Prepared(
    insert(task_history).values(
        task_seq=bindparam("task_seq", type_=BigInteger),
        action=bindparam("action", type_=String),
        from_status=bindparam("from_status", type_=String),
        to_status=bindparam("to_status", type_=String),
        actor_id=bindparam("actor_id", type_=String),
        role=bindparam("role", type_=String),
        at=bindparam("at", type_=BigInteger),
        reason=bindparam("reason", type_=String),
    )
)


def _record(
    conn: Connection,
    edge: Transition,
    task: Subject,
    row: Any,
    *,
    from_status: str | None,
    actor: str | None,
    now: int,
    reason: str | None,
    history: list[Any] | None = None,
) -> None:
    """The one place an edge's effects happen: its history row, its event (the task as
    `GET /v1/tasks/{id}` shows it, history included, in the transactional outbox), its
    money movement (whose wallet events follow the task's), then the publisher's record
    (agent rows come after accounts in the lock order). `row`: the task's row after the
    transition (what its conditional UPDATE or its INSERT returned); `history`: its
    history before this transition when the caller read it with the row in this
    transaction and no other writer can have added to it since (SQLite; None: the event
    reads it)."""
    entry = {
        "task_seq": task.seq,
        "action": edge.action,
        "from_status": from_status,
        "to_status": edge.target,
        "actor_id": None if edge.who is CLOCK else actor,
        "role": edge.who.name,
        "at": now,
        "reason": reason,
    }
    _HISTORY.execute(conn, entry)
    # A task being created has no history but this entry: no need to read it back.
    if from_status is None:
        history = []
    _announce(
        conn,
        edge,
        task,
        row,
        now,
        None if history is None else [*history, SimpleNamespace(**entry)],
    )
    if edge.effect is not None:
        edge.effect.run(conn, task, now)
    for column in edge.tallies(task):
        _TALLY[column].execute(conn, {"agent_id": task.publisher_id})


def _announce(
    conn: Connection,
    edge: Transition,
    task: Subject,
    row: Any,
    now: int,
    history_rows: list[Any] | None,
) -> None:
    """Emit the edge's event: the task as its parties see it (after the transition), for
    the publisher and the assignee; the creation event is offered for discovery too.
    `history_rows`: the task's history when the caller knows it (None: read it)."""
    if edge.event is None:
        return
    from aipod_api.tasks.service import history, serialize  # the API view (imports this module)

    discovery = None
    if edge.source is None:
        discovery = outbox.Discovery(
            task_seq=task.seq, capabilities=tuple(orjson.loads(row.required_capabilities))
        )
    outbox.emit(
        conn,
        type=edge.event,
        data={
            "task": {
                **serialize(row, viewer_id=task.publisher_id, now=now),
                "history": history(conn, row, viewer_id=task.publisher_id, rows=history_rows),
            }
        },
        recipients=(task.publisher_id, task.assignee_id),
        now=now,
        discovery=discovery,
    )


def created(conn: Connection, *, row: Any, now: int) -> None:
    """The creation edge's effect, for the task the caller has just inserted (in status
    `LIFECYCLE.initial`) in this transaction (`row`: what its INSERT returned)."""
    task = Subject(
        seq=int(row.seq),
        publisher_id=row.publisher_id,
        assignee_id=None,
        budget_cents=int(row.budget_cents),
    )
    _record(
        conn,
        LIFECYCLE.creation,
        task,
        row,
        from_status=None,
        actor=row.publisher_id,
        now=now,
        reason=None,
    )


_APPLY: dict[tuple[str, tuple[str, ...]], Prepared] = {}


def _apply_statement(action: str, columns: tuple[str, ...]) -> Prepared:
    """The action's conditional UPDATE, prepared once per (action, given columns); it
    returns the task's row after the transition (no row: the UPDATE matched nothing)."""
    found = _APPLY.get((action, columns))
    if found is None:
        now = bindparam("now", type_=BigInteger)
        actor = bindparam("actor", type_=String)
        edge = LIFECYCLE.edge(action)
        values: dict[str, Any] = {"status": edge.target}
        stamps = edge.stamps + (("closed_at",) if edge.target in LIFECYCLE.final else ())
        values.update((column, now) for column in stamps)
        if edge.assigns:
            values["assignee_id"] = actor
        values.update((column, tasks.c[column] + 1) for column in edge.bumps)
        values.update((c, bindparam(f"v_{c}", type_=tasks.c[c].type)) for c in columns)
        stmt = (
            update(tasks)
            .where(
                and_(
                    tasks.c.seq == bindparam("seq", type_=BigInteger),
                    LIFECYCLE.condition(action, Ctx(now=now, actor=actor)),
                )
            )
            .values(values)
            .returning(*tasks.c)
        )
        found = _APPLY.setdefault((action, columns), Prepared(stmt))
    return found


def _update(
    conn: Connection,
    *,
    task_seq: int,
    action: str,
    now: int,
    actor: str | None,
    values: Mapping[str, Any] | None,
) -> Any:
    """The task's row after the transition, or None when this caller did not win it."""
    given = values or {}
    stmt = _apply_statement(action, tuple(sorted(given)))
    params: dict[str, Any] = {f"v_{k}": v for k, v in given.items()}
    params.update(seq=task_seq, now=now, actor=actor)
    return stmt.execute(conn, params).first()


def apply(
    conn: Connection,
    *,
    task: Any,
    action: str,
    now: int,
    actor: str | None = None,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
    history: list[Any] | None = None,
) -> Any:
    """Take `action` on the task (its row, read in this transaction) if the table allows
    it right now, with its effect and its history row; returns the task's row after the
    transition when this call won, else None. `values`: further columns the action sets
    (e.g. the deliverables; `payout_cents` is also what PAYOUT pays the assignee).
    `reason`: the history row's. `history`: the task's history, read with its row (see
    `_record`; None: the event reads it)."""
    row = _update(conn, task_seq=int(task.seq), action=action, now=now, actor=actor, values=values)
    if row is None:
        return None
    edge = LIFECYCLE.edge(action)
    _record(
        conn,
        edge,
        _subject(task, edge, actor, values),
        row,
        from_status=task.status,
        actor=actor,
        now=now,
        reason=reason,
        history=history,
    )
    return row


def perform(
    conn: Connection,
    *,
    task: Any,
    action: str,
    actor: str,
    now: int,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
    operators: frozenset[str] = frozenset(),
    history: list[Any] | None = None,
) -> Any:
    """A caller's action on a task (its row, read in this transaction): 403 unless the
    edge's `who` allows the caller (`operators`: the agent ids of AIPOD_OPERATORS, for
    edges taken by an operator), then `apply` (returns the task's row after it), or the
    409 that explains the refusal. `history`: as for `apply`."""
    edge = LIFECYCLE.edge(action)
    if edge.who is OPERATOR and actor not in operators:
        raise NotOperator()
    try:
        edge.who.authorize(conn, task, actor)
    except (NotPublisher, NotAssignee) as exc:
        if action in ROLE_MESSAGES:
            raise type(exc)(ROLE_MESSAGES[action]) from None
        raise
    row = apply(
        conn,
        task=task,
        action=action,
        now=now,
        actor=actor,
        values=values,
        reason=reason,
        history=history,
    )
    if row is not None:
        return row
    raise refusal(conn, task_seq=int(task.seq), action=action, now=now)


def refusal(conn: Connection, *, task_seq: int, action: str, now: int) -> IllegalTransition:
    """Why `action` matched no row. If the clock has moved the task on (an open task past
    its deadline), that clock edge is applied now, with its effect, and the answer is
    `TaskDue` (whose transaction is committed anyway)."""
    current = read_task(conn, task_seq=task_seq)
    if current is None:  # tasks are never deleted while the service runs
        raise LookupError(f"task {task_seq} vanished")
    key = LIFECYCLE.refusals[action]
    moved = LIFECYCLE.effective_status(current, now)
    if moved != current.status:
        apply(conn, task=current, action=LIFECYCLE.automatic[current.status].action, now=now)
        return TaskDue(key, status=moved)
    edge = LIFECYCLE.edges(action).get(current.status)
    if edge is not None and edge.refusal is not None:
        key = edge.refusal
    return IllegalTransition(key, status=current.status)


def apply_due(conn: Connection, due: Iterable[Any], *, now: int) -> int:
    """Take the clock edge of each due task (rows with seq, status, publisher_id,
    assignee_id, budget_cents); returns how many this call won.

    Lock order (wallet/ledger.py): every task's transition first, then all the accounts
    the effects write, at once, in id order, then the effects — a batch never holds an
    account while it waits for a task or a counter."""
    won: list[tuple[Transition, Subject, Any, str]] = []
    for row in due:
        edge = LIFECYCLE.automatic[row.status]
        after = _update(
            conn, task_seq=int(row.seq), action=edge.action, now=now, actor=None, values=None
        )
        if after is not None:
            won.append((edge, _subject(row, edge, None), after, row.status))
    if len(won) > 1:
        names = {
            name
            for edge, task, _, _ in won
            if edge.effect is not None
            for name in edge.effect.accounts(task)
            if name is not None
        }
        ledger.lock_agent_accounts(conn, names)
    for edge, task, after, source in won:
        _record(conn, edge, task, after, from_status=source, actor=None, now=now, reason=None)
    return len(won)
