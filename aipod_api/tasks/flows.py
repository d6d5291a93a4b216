"""The task state machine: one explicit transition table and the SQL that applies it.

    open ──accept──▶ progress ──complete──▶ done
     │ │                │
     │ └──cancel──┐     └──cancel (only after the deadline)──┐
     │            ▼                                          ▼
     └──expire──▶ expired        cancelled ◀─────────────────┘

Every transition is applied by ONE conditional UPDATE (`apply`) whose WHERE clause is
"the row is in a source state of this action AND that edge's guard holds"; the row count
says whether this caller won. Under SQLite (writers serialised by BEGIN IMMEDIATE) and
under PostgreSQL READ COMMITTED (a blocked writer re-checks the WHERE clause against the
committed row) two concurrent transitions of one task can never both succeed, so the money
movement that the winner performs next, in the same transaction, happens exactly once.

Deadlines: an *open* task whose deadline has passed is expired (it can only `expire`);
an *in-progress* task whose deadline has passed may still be completed by its assignee,
and may also be cancelled by its publisher (full refund) — whichever comes first wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import BigInteger, Connection, String, and_, bindparam, or_, update
from sqlalchemy.sql.elements import ColumnElement

from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import tasks

Status = Literal["open", "progress", "done", "cancelled", "expired"]
Action = Literal["accept", "complete", "cancel", "expire"]

STATUSES: tuple[Status, ...] = ("open", "progress", "done", "cancelled", "expired")
ACTIVE: tuple[Status, ...] = ("open", "progress")  # statuses whose escrow holds the budget

# (current status, action) -> next status. Anything not listed is illegal (409).
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    ("open", "accept"): "progress",
    ("progress", "complete"): "done",
    ("open", "cancel"): "cancelled",
    ("progress", "cancel"): "cancelled",  # guarded: only once the deadline has passed
    ("open", "expire"): "expired",
}


def deadline_passed(now: Any) -> ColumnElement[bool]:
    return and_(tasks.c.deadline.is_not(None), tasks.c.deadline <= now)


def deadline_pending(now: Any) -> ColumnElement[bool]:
    return or_(tasks.c.deadline.is_(None), tasks.c.deadline > now)


@dataclass(frozen=True)
class Ctx:
    """What a guard may look at besides the row: the clock and the acting agent (values,
    or bind parameters when the statement is prepared once)."""

    now: Any
    actor: Any


Guard = Callable[[Ctx], ColumnElement[bool] | None]

# Extra conditions on an edge, evaluated by the database inside the conditional UPDATE.
GUARDS: dict[tuple[Status, Action], Guard] = {
    ("open", "accept"): lambda c: deadline_pending(c.now),
    ("progress", "complete"): lambda c: tasks.c.assignee_id == c.actor,
    ("open", "cancel"): lambda c: deadline_pending(c.now),
    ("progress", "cancel"): lambda c: deadline_passed(c.now),
    ("open", "expire"): lambda c: deadline_passed(c.now),
}

assert set(GUARDS) == set(TRANSITIONS), "every edge has exactly one guard"


def sources(action: Action) -> list[Status]:
    return [src for (src, act) in TRANSITIONS if act == action]


def target(action: Action) -> Status:
    targets = {dst for (_, act), dst in TRANSITIONS.items() if act == action}
    assert len(targets) == 1, action
    return targets.pop()


def can(status: str, action: Action) -> bool:
    return (status, action) in TRANSITIONS


def condition(action: Action, ctx: Ctx) -> ColumnElement[bool]:
    """`(status = s1 AND guard1) OR (status = s2 AND guard2) ...` over the action's edges."""
    branches = []
    for src in sources(action):
        guard = GUARDS[(src, action)](ctx)
        branch = tasks.c.status == src
        branches.append(branch if guard is None else and_(branch, guard))
    return or_(*branches)


def apply(
    conn: Connection,
    *,
    task_seq: int,
    action: Action,
    now: int,
    actor: str | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    """Apply `action` to the task if it is allowed right now. True when this call won."""
    given = values or {}
    stmt = _apply_statement(action, tuple(sorted(given)))
    params = {f"v_{k}": v for k, v in given.items()}
    params.update(seq=task_seq, now=now, actor=actor)
    return stmt.execute(conn, params).rowcount == 1


_APPLY: dict[tuple[str, tuple[str, ...]], Prepared] = {}


def _apply_statement(action: Action, columns: tuple[str, ...]) -> Prepared:
    """The action's conditional UPDATE, prepared once per (action, columns set)."""
    found = _APPLY.get((action, columns))
    if found is None:
        ctx = Ctx(
            now=bindparam("now", type_=BigInteger),
            actor=bindparam("actor", type_=String),
        )
        stmt = (
            update(tasks)
            .where(and_(tasks.c.seq == bindparam("seq", type_=BigInteger), condition(action, ctx)))
            .values(
                status=target(action),
                **{c: bindparam(f"v_{c}", type_=tasks.c[c].type) for c in columns},
            )
        )
        found = _APPLY.setdefault((action, columns), Prepared(stmt))
    return found


def effective_status(status: str, deadline: int | None, now: int) -> str:
    """What a reader sees: an open task past its deadline is expired even before the sweep."""
    if status == "open" and deadline is not None and deadline <= now:
        return "expired"
    return status


def status_filter(status: str, now: Any) -> ColumnElement[bool]:
    """A WHERE clause matching tasks whose *effective* status is `status`."""
    if status == "open":
        return and_(tasks.c.status == "open", deadline_pending(now))
    if status == "expired":
        return or_(
            tasks.c.status == "expired", and_(tasks.c.status == "open", deadline_passed(now))
        )
    return tasks.c.status == status
