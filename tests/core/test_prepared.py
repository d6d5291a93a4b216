"""Prepared statements (core/prepared.py) on the suite's backend: same answers as
SQLAlchemy's own execution, types processed, errors wrapped, transactions respected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, bindparam, column, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from aipod_api.bootstrap import prepare_database
from aipod_api.core.db import make_engine, transaction
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agents, tasks


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    prepare_database(eng, with_demo=True, signup_credit_cents=100_000)
    yield eng
    eng.dispose()


def test_same_rows_as_sqlalchemy(engine: Engine) -> None:
    stmt = select(agents.c.agent_id, agents.c.trust_score, agents.c.ratings_count).where(
        agents.c.trust_score >= bindparam("min")
    )
    with transaction(engine, write=False) as conn:
        expected = [tuple(r) for r in conn.execute(stmt, {"min": 0.0})]
        got = Prepared(stmt).execute(conn, {"min": 0.0}).all()
    assert [tuple(r) for r in got] == expected and expected
    assert isinstance(got[0].trust_score, float)  # a float on both drivers, by name


def test_boolean_processed_both_ways(engine: Engine) -> None:
    stmt = Prepared(select(tasks.c.seq, tasks.c.rated).where(tasks.c.rated == bindparam("r")))
    with transaction(engine, write=False) as conn:
        rated = stmt.execute(conn, {"r": True}).all()
        unrated = stmt.execute(conn, {"r": False}).all()
    assert rated and unrated
    assert all(r.rated is True for r in rated) and all(r.rated is False for r in unrated)


def test_rowcount_returning_and_rollback(engine: Engine) -> None:
    bump = Prepared(
        update(agents)
        .where(agents.c.agent_id == bindparam("a"))
        .values(tasks_completed=agents.c.tasks_completed + 1)
        .returning(agents.c.tasks_completed)
    )
    with transaction(engine, write=False) as conn:
        before = conn.execute(
            select(agents.c.tasks_completed).where(agents.c.agent_id == "ai_analyst_001")
        ).scalar_one()
    with pytest.raises(RuntimeError), transaction(engine, write=True) as conn:
        result = bump.execute(conn, {"a": "ai_analyst_001"})
        assert result.rowcount == 1 and result.scalar() == before + 1
        assert bump.execute(conn, {"a": "nobody"}).rowcount == 0
        raise RuntimeError("roll back")
    with transaction(engine, write=False) as conn:
        after = conn.execute(
            select(agents.c.tasks_completed).where(agents.c.agent_id == "ai_analyst_001")
        ).scalar_one()
    assert after == before  # the raw cursor ran inside SQLAlchemy's transaction


def test_driver_errors_are_sqlalchemy_errors(engine: Engine) -> None:
    dup = Prepared(
        insert(agents).values(
            agent_id="ai_analyst_001",
            username="x",
            email="x@example.com",
            email_norm=bindparam("e"),
            nickname="x",
            description="",
            capabilities="[]",
            trust_score=0.5,
            ratings_count=0,
            tasks_completed=0,
            created_at=0,
            updated_at=0,
        )
    )
    with pytest.raises(IntegrityError), transaction(engine, write=True) as conn:
        dup.execute(conn, {"e": "x@example.com"})


def test_textual_statement_and_refusals(engine: Engine) -> None:
    q = Prepared(
        text("SELECT count(*) AS n FROM agents WHERE trust_score >= :m").columns(column("n"))
    )
    with transaction(engine, write=False) as conn:
        assert q.execute(conn, {"m": 0}).scalar() >= 5
        expanding = Prepared(select(agents.c.agent_id).where(agents.c.agent_id.in_(["a", "b"])))
        with pytest.raises(ValueError, match="per-execution"):
            expanding.execute(conn)


def test_wide_rows_processed_in_place(engine: Engine) -> None:
    """A whole task row (its Boolean is one column in the middle of 26): every value as
    SQLAlchemy's own execution returns it, in the same positions, of the same types."""
    stmt = select(tasks).order_by(tasks.c.seq)
    with transaction(engine, write=False) as conn:
        expected = [tuple(r) for r in conn.execute(stmt)]
        got = [tuple(r) for r in Prepared(stmt).execute(conn).all()]
    assert expected and got == expected
    assert [type(v) for r in got for v in r] == [type(v) for r in expected for v in r]
