"""Trust: rate a completed task, read an agent's score and history. Framework-free.

Rating a task, in the caller's single transaction:

1. checks in CONTRACT order: 404 unknown task, 403 unless the caller published it,
   409 unless it is done (a submitted task whose review window has ended is
   auto-approved first, in this transaction), 409 `task_not_paid` when an operator's
   resolution refunded the whole budget, 400 unless `agent_id` is its assignee; a split
   is weighed by the part actually paid;
2. `UPDATE tasks SET rated = true WHERE seq = :s AND status = 'done' AND rated = false` —
   the row count decides the one winner under any concurrency (409 for the rest), and
   `UNIQUE(ratings.task_seq)` backs it up;
3. inserts the rating, then locks the assignee's row (`ratings_count + 1`) *before*
   reading their ratings, so two ratings of one agent committed concurrently are
   serialised and the second recomputation sees the first (correct under PostgreSQL READ
   COMMITTED too: each statement reads the latest committed data);
4. stores the rating with its rater's standing now (earned: `trust.standing`), then
   recomputes the assignee's aggregate over all of its ratings, one opinion per rater
   (`trust.formula`, `trust.scores.recompute`), and stores it with the score as of now.

Reads decay on read: `GET /v1/trust/{agent_id}` (and `GET /v1/agents/{agent_id}`) show
the exact score at the request's time from the stored aggregate; lists read the stored
4-decimal score, refreshed before it would differ (`trust.scores`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, select, update

from aipod_api.agents.service import AgentNotFound
from aipod_api.auth.service import demo_owner
from aipod_api.core.errors import Conflict, FieldError, Forbidden
from aipod_api.core.i18n import register_messages
from aipod_api.core.tables import agents, ratings, tasks
from aipod_api.core.types import RATING_ID, TASK_ID, iso, page_data
from aipod_api.events import outbox
from aipod_api.tasks.service import TaskNotFound, parse_task_id, settle_task_if_due
from aipod_api.trust import scores, standing
from aipod_api.trust.schemas import RatingPublic, RatingResult, TrustPublic

register_messages(
    {
        "rated": ("评价成功", "Rating recorded"),
        "not_task_publisher": (
            "只有任务发布者可以评价该任务",
            "Only the task's publisher can rate it",
        ),
        "task_not_paid": (
            "该任务未向承接者支付任何报酬(已全额退款),不能评价",
            "The task paid its assignee nothing (fully refunded); it cannot be rated",
        ),
        "task_not_done": (
            "任务当前状态为 {status},完成后才能评价",
            "Task is {status}; only done tasks can be rated",
        ),
        "rating_not_assignee": (
            "agent_id 必须是该任务的承接者 {assignee}",
            "agent_id must be the task's assignee {assignee}",
        ),
        "already_rated": ("该任务已经评价过", "This task has already been rated"),
    }
)


class NotTaskPublisher(Forbidden):
    key = "not_task_publisher"


class TaskNotDone(Conflict):
    key = "task_not_done"

    def __init__(self, status: str) -> None:
        super().__init__(data={"status": status})
        self.params = {"status": status}


class RatingNotAssignee(FieldError):
    def __init__(self, assignee: str) -> None:
        super().__init__("agent_id", "rating_not_assignee", assignee=assignee)


class TaskNotPaid(Conflict):
    """The task's dispute ended with the whole budget refunded: nothing was paid for,
    so there is nothing to rate (a rating must cost its rater something)."""

    key = "task_not_paid"


class AlreadyRated(Conflict):
    key = "already_rated"


def serialize_rating(row: Any) -> RatingPublic:
    return {
        "rating_id": RATING_ID.format(row.seq),
        "agent_id": row.agent_id,
        "rater_id": row.rater_id,
        "task_id": TASK_ID.format(row.task_seq),
        "quality_score": row.quality_x100 / 100,
        "on_time": bool(row.on_time),
        "comment": row.comment,
        "created_at": iso(row.created_at),
    }


def quality_x100(quality_score: float) -> int:
    """The stored form of a quality score (1.0-5.0, at most 2 decimals): hundredths, as
    an exact integer (its shortest decimal representation, never float arithmetic)."""
    return int((Decimal(repr(quality_score)) * 100).to_integral_value())


def rate(
    conn: Connection,
    *,
    caller_id: str,
    agent_id: str,
    task_id: str,
    quality_score: float,
    on_time: bool,
    comment: str | None,
    now: int,
) -> RatingResult:
    task_seq = parse_task_id(task_id)
    task = conn.execute(
        select(
            tasks.c.publisher_id,
            tasks.c.assignee_id,
            tasks.c.status,
            tasks.c.budget_cents,
            tasks.c.payout_cents,
        ).where(tasks.c.seq == task_seq)
    ).first()
    if task is None:  # 404
        raise TaskNotFound(task_id=task_id)
    if task.publisher_id != caller_id:  # 403
        raise NotTaskPublisher()
    if task.status != "done":
        # A submitted task whose review window has ended reads as done (auto-approved):
        # apply that edge (and its payment) here, in this transaction, first.
        task = settle_task_if_due(conn, task_seq=task_seq, now=now)
    if task.status != "done":  # 409
        raise TaskNotDone(task.status)
    paid_cents = int(task.budget_cents if task.payout_cents is None else task.payout_cents)
    if task.payout_cents is not None and paid_cents == 0:  # 409: a full refund
        raise TaskNotPaid()
    rated_agent = agent_id.lower()
    if task.assignee_id != rated_agent:  # 400
        raise RatingNotAssignee(str(task.assignee_id))
    won = conn.execute(
        update(tasks)
        .where(and_(tasks.c.seq == task_seq, tasks.c.status == "done", tasks.c.rated.is_(False)))
        .values(rated=True)
    ).rowcount
    if won != 1:  # 409
        raise AlreadyRated()
    rater_standing = standing.rater_standing(
        conn, caller_id, now=now, public=caller_id == demo_owner(conn)
    )
    seq = int(
        conn.execute(
            insert(ratings)
            .values(
                task_seq=task_seq,
                agent_id=rated_agent,
                rater_id=caller_id,
                quality_x100=quality_x100(quality_score),
                on_time=on_time,
                comment=comment,
                budget_cents=paid_cents,  # the money that changed hands
                created_at=now,
                rater_standing=rater_standing,
            )
            .returning(ratings.c.seq)
        ).scalar_one()
    )
    # Lock the agent's row before reading its ratings (see the module docstring).
    conn.execute(
        update(agents)
        .where(agents.c.agent_id == rated_agent)
        .values(ratings_count=agents.c.ratings_count + 1)
    )
    score = scores.recompute(conn, rated_agent, now=now)
    row = conn.execute(select(ratings).where(ratings.c.seq == seq)).one()
    shown = serialize_rating(row)
    outbox.emit(
        conn, type="rating.created", data={"rating": shown}, recipients=(rated_agent,), now=now
    )
    return {"rating": shown, "trust_score": score}


def get_trust(
    conn: Connection, *, agent_id: str, page: int, page_size: int, now: int
) -> TrustPublic:
    target = agent_id.lower()
    agent = conn.execute(
        select(agents.c.agent_id, *scores.TRUST_COLUMNS).where(agents.c.agent_id == target)
    ).first()
    if agent is None:
        raise AgentNotFound(agent_id=agent_id)
    stats = conn.execute(
        select(
            func.count(),
            func.avg(ratings.c.quality_x100),
            func.sum(case((ratings.c.on_time.is_(True), 1), else_=0)),
        ).where(ratings.c.agent_id == target)
    ).one()
    total = int(stats[0])
    rows = conn.execute(
        select(ratings)
        .where(ratings.c.agent_id == target)
        .order_by(ratings.c.seq.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return {
        "agent_id": agent.agent_id,
        "trust_score": scores.shown_score(conn, agent, now=now),
        "ratings_count": total,
        "average_quality": round(float(stats[1]) / 100, 2) if total else None,
        "on_time_rate": round(int(stats[2] or 0) / total, 4) if total else None,
        "history": page_data(
            [serialize_rating(r) for r in rows], page=page, page_size=page_size, total=total
        ),
    }
