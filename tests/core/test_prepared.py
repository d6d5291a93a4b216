"""Prepared statements (core/prepared.py) on the suite's backend: same answers as
SQLAlchemy's own execution, types processed, errors wrapped, transactions respected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, bindparam, column, insert, select, text, update
from sqlalchemy.dialects import sqlite
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


# --- packed rows (one json_array per row on SQLite) -------------------------------------

_AWKWARD_TEXT = [
    "",
    'quote " backslash \\ slash /',
    "tab\tnewline\ncr\r bell\x07 esc\x1b del\x7f",
    "中文 emoji 🧪 combining é",
    "\u2028\u2029 line separators",
    "[1, 2] looks like JSON",
    "null",
]
# budgets are non-negative (a CHECK); created_at takes the negative ones
_AWKWARD_INTS = [0, 1, 2**31, 2**32 + 7, 2**53 + 1, 2**63 - 1, 2**62]


def test_packed_rows_equal_unpacked_rows(engine: Engine) -> None:
    """Every value comes back exactly as the unpacked statement returns it: text with
    escapes and non-BMP characters, 64-bit integers beyond 2**53, NULLs, booleans, and a
    REAL column (not packed: fetched beside the packed value) with all 17 digits."""
    with transaction(engine, write=True) as conn:
        for i, (title, n) in enumerate(zip(_AWKWARD_TEXT, _AWKWARD_INTS, strict=False)):
            conn.execute(
                insert(tasks).values(
                    title=title,
                    description=title * 3,
                    required_capabilities="[]",
                    budget_cents=n,
                    deadline=None if i % 2 else n,
                    status="open",
                    publisher_id="ai_analyst_001",
                    created_at=-n if i % 3 else i,
                    rated=bool(i % 2),
                )
            )
        conn.execute(
            update(agents)
            .where(agents.c.agent_id == "ai_analyst_001")
            .values(trust_score=0.1 + 0.2, description=_AWKWARD_TEXT[2])
        )
    wide = select(tasks).order_by(tasks.c.seq.desc()).limit(bindparam("lim"))
    mixed = select(
        agents.c.agent_id, agents.c.trust_score, agents.c.description, agents.c.ratings_count
    ).order_by(agents.c.agent_id)
    with transaction(engine, write=False) as conn:
        for stmt, params in ((wide, {"lim": 50}), (mixed, None)):
            plain = Prepared(stmt).execute(conn, params).all()
            packed_stmt = Prepared(stmt, pack_rows=True)
            packed = packed_stmt.execute(conn, params).all()
            assert plain and [tuple(r) for r in packed] == [tuple(r) for r in plain]
            assert [type(v) for r in packed for v in r] == [type(v) for r in plain for v in r]
            assert packed[0]._fields == plain[0]._fields
            packs = "json_array(" in packed_stmt.compiled(engine.dialect).sql
            assert packs == (engine.dialect.name == "sqlite")
        scores = [r.trust_score for r in Prepared(mixed, pack_rows=True).execute(conn).all()]
    assert 0.1 + 0.2 in scores  # 0.30000000000000004: all 17 digits


def test_pack_rows_is_for_select_statements() -> None:
    with pytest.raises(TypeError):
        Prepared(update(agents).values(nickname="x"), pack_rows=True).compiled(sqlite.dialect())
