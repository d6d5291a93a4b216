"""Stored trust aggregates: recompute from ratings, read exactly, refresh the stored value.

Per agent (migration 0006) the row keeps ``trust_n``, ``trust_d`` — the formula's sums N
and D as of ``trust_at`` (see `formula.Aggregate`) — so the exact score at any time is
arithmetic on the row (`formula.score_at`): **single-agent reads decay on read, exactly**,
without reading ratings.

``trust_score`` is the 4-decimal score as of its last refresh; it is what lists filter
(``min_trust``) and order by, through ``ix_agents_trust_order`` and its trigger-kept copy
``agent_capabilities.trust_score`` (migration 0004). ``trust_due`` is the first second at
which the exact 4-decimal value will differ from the stored one (`formula.next_change`,
never late), NULL if it never will. Refreshing every row whose ``trust_due <= now`` before
a list is read therefore makes **lists show, filter and order by exactly the value a
single read at the same second shows**: the background sweep refreshes due rows every few
seconds, and a list request that still finds one due (one index probe) refreshes it in a
separate short write transaction first. A row changes its shown value at most once per
0.0001 of drift, i.e. (worst case) once a day and typically far less often.

A row with ``trust_at`` NULL has no aggregates yet: with ``trust_due`` set (rows rated
before migration 0006) it is recomputed from its ratings at its first refresh and read
from its ratings until then; with ``trust_due`` NULL as well (rows written without the
trust columns, e.g. by a bulk loader) ``trust_score`` is read as stored.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, String, and_, bindparam, select, update
from sqlalchemy.exc import DBAPIError

from aipod_api.core.db import transaction
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agents, ratings
from aipod_api.trust.formula import (
    SHOWN_DECIMALS,
    Aggregate,
    RatingInput,
    aggregate,
    next_change,
    opinions,
    score_at,
)

log = logging.getLogger("aipod_api")

BATCH = 500
TRUST_COLUMNS = (
    agents.c.trust_score,
    agents.c.ratings_count,
    agents.c.trust_n,
    agents.c.trust_d,
    agents.c.trust_at,
    agents.c.trust_due,
)

_RATINGS_OF = Prepared(
    select(
        ratings.c.rater_id,
        ratings.c.quality_x100,
        ratings.c.on_time,
        ratings.c.budget_cents,
        ratings.c.created_at,
        ratings.c.rater_standing,
    ).where(ratings.c.agent_id == bindparam("agent_id", type_=String))
)
_DUE = Prepared(
    select(agents.c.agent_id, *TRUST_COLUMNS)
    .where(agents.c.trust_due <= bindparam("now", type_=BigInteger))
    .order_by(agents.c.trust_due)
    .limit(bindparam("limit", type_=BigInteger))
)
# ORDER BY the indexed column makes it one step of an index scan on any plan (a bare
# LIMIT 1 lets PostgreSQL's planner pick a sequential scan that reads every row when
# nothing is due).
_ANY_DUE = Prepared(
    select(agents.c.agent_id)
    .where(agents.c.trust_due <= bindparam("now", type_=BigInteger))
    .order_by(agents.c.trust_due)
    .limit(1)
)


def rating_inputs(conn: Connection, agent_id: str, *, now: int) -> list[RatingInput]:
    """Every rating of the agent as the formula sees it, with its rater's standing when
    it rated (stored with the rating: trust/standing.py)."""
    return [
        RatingInput(
            quality_score=r.quality_x100 / 100,
            on_time=bool(r.on_time),
            budget_cents=int(r.budget_cents),
            age_seconds=now - int(r.created_at),
            rater_id=str(r.rater_id),
            rater_standing=float(r.rater_standing),
        )
        for r in _RATINGS_OF.execute(conn, {"agent_id": agent_id})
    ]


def compute(conn: Connection, agent_id: str, *, now: int) -> Aggregate:
    """The agent's aggregate as of `now`, from its ratings."""
    return aggregate(opinions(rating_inputs(conn, agent_id, now=now)))


def _due(agg: Aggregate, t0: int, elapsed: int) -> int | None:
    after = next_change(agg, elapsed)
    return None if after is None else t0 + after


def recompute(conn: Connection, agent_id: str, *, now: int) -> float:
    """Recompute and store the agent's aggregate and score as of `now`; returns the
    4-decimal score. The caller holds the agent's row lock (it updated the row first)."""
    agg = compute(conn, agent_id, now=now)
    shown = round(score_at(agg, 0), SHOWN_DECIMALS)
    conn.execute(
        update(agents)
        .where(agents.c.agent_id == agent_id)
        .values(
            trust_score=shown,
            trust_n=agg.n,
            trust_d=agg.d,
            trust_at=now,
            trust_due=_due(agg, now, 0),
        )
    )
    return shown


def shown_score(conn: Connection, row: Any, *, now: int) -> float:
    """The exact 4-decimal score at `now` of an agent row carrying `TRUST_COLUMNS`."""
    if row.trust_at is not None:
        agg = Aggregate(float(row.trust_n), float(row.trust_d))
        return round(score_at(agg, now - int(row.trust_at)), SHOWN_DECIMALS)
    if row.trust_due is not None:  # rated before migration 0006, not yet recomputed
        return round(score_at(compute(conn, str(row.agent_id), now=now), 0), SHOWN_DECIMALS)
    return round(float(row.trust_score), SHOWN_DECIMALS)


def any_due(conn: Connection, *, now: int) -> bool:
    return _ANY_DUE.execute(conn, {"now": now}).first() is not None


_REFRESH = Prepared(
    update(agents)
    .where(
        and_(
            agents.c.agent_id == bindparam("a", type_=String),
            agents.c.trust_at == bindparam("t0", type_=BigInteger),
            agents.c.ratings_count == bindparam("rc", type_=BigInteger),
            agents.c.trust_due <= bindparam("now", type_=BigInteger),
        )
    )
    .values(trust_score=bindparam("score"), trust_due=bindparam("due", type_=BigInteger))
)
_CLAIM_LEGACY = Prepared(
    update(agents)
    .where(
        and_(
            agents.c.agent_id == bindparam("a", type_=String),
            agents.c.trust_at.is_(None),
            agents.c.trust_due <= bindparam("now", type_=BigInteger),
        )
    )
    .values(trust_due=None)
)


def refresh_due(conn: Connection, *, now: int, limit: int = BATCH) -> tuple[int, int]:
    """Refresh up to `limit` rows whose stored score is due (in agent_id order, so two
    refreshers lock rows in the same order). Each update is conditional on the row
    still holding the aggregate that was read, so a rating committed in between wins.
    Returns (rows read, rows refreshed); rows read == limit means there may be more."""
    rows = sorted(_DUE.execute(conn, {"now": now, "limit": limit}).all(), key=lambda r: r.agent_id)
    refreshed = 0
    for row in rows:
        if row.trust_at is None:
            if _CLAIM_LEGACY.execute(conn, {"a": row.agent_id, "now": now}).rowcount == 1:
                recompute(conn, str(row.agent_id), now=now)
                refreshed += 1
            continue
        t0 = int(row.trust_at)
        agg = Aggregate(float(row.trust_n), float(row.trust_d))
        elapsed = max(0, now - t0)
        params = {
            "a": row.agent_id,
            "t0": t0,
            "rc": row.ratings_count,
            "now": now,
            "score": round(score_at(agg, elapsed), SHOWN_DECIMALS),
            "due": _due(agg, t0, elapsed),
        }
        refreshed += _REFRESH.execute(conn, params).rowcount
    return len(rows), refreshed


def settle_due(engine: Engine, *, now: int) -> int:
    """Probe read-only; if any stored score is due, refresh them all in short write
    transactions of `BATCH` rows. A transaction that fails (e.g. a PostgreSQL deadlock
    with a concurrent profile update) is retried once; returns the rows refreshed."""
    with transaction(engine, write=False) as conn:
        if not any_due(conn, now=now):
            return 0
    total, retried = 0, False
    while True:
        try:
            with transaction(engine, write=True) as conn:
                read, refreshed = refresh_due(conn, now=now)
        except DBAPIError:
            if retried:
                raise
            retried = True
            log.warning("trust refresh failed; retrying once", exc_info=True)
            continue
        total += refreshed
        # A full batch may have more behind it; a batch whose rows all changed under us
        # (refreshed == 0) is left to the next round rather than read again.
        if read < BATCH or refreshed == 0:
            return total


def check(conn: Connection, *, now: int) -> list[str]:
    """Audit: every agent's stored aggregate equals a recomputation from its ratings as of
    its `trust_at`, and every stored score that is not due equals the exact score now."""
    problems = []
    rows = conn.execute(select(agents.c.agent_id, *TRUST_COLUMNS)).all()
    for row in rows:
        agent_id = str(row.agent_id)
        if row.trust_at is None:
            if row.ratings_count and row.trust_due is None:
                problems.append(f"{agent_id}: rated but neither aggregated nor due")
            continue
        fresh = compute(conn, agent_id, now=int(row.trust_at))
        for name, kept, want in (("n", row.trust_n, fresh.n), ("d", row.trust_d, fresh.d)):
            if abs(float(kept) - want) > 1e-9 * max(1.0, abs(want)):
                problems.append(f"{agent_id}: trust_{name} {kept!r}, recomputed {want!r}")
        if row.trust_due is None or int(row.trust_due) > now:
            exact = shown_score(conn, row, now=now)
            if round(float(row.trust_score), SHOWN_DECIMALS) != exact:
                problems.append(f"{agent_id}: stored {row.trust_score} but exact now {exact}")
    return problems
