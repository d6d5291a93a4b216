"""A list or search costs what the caller may see, not what others keep private (issue 11).

Work is counted, not timed: every statement `list_memories` runs is captured and
measured again — on SQLite as the number of virtual-machine instructions it executes
(`sqlite3`'s progress handler, called on every instruction), on PostgreSQL as the rows
all plan nodes produce or discard (`EXPLAIN (ANALYZE, FORMAT JSON)`). Then 1,500 private
memories of another agent that match every filter are added, and the work must not move
(a walk that filtered them out afterwards would add at least one unit per hidden row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from aipod_api.core import migrate
from aipod_api.core.db import make_null_pool_engine, transaction
from aipod_api.core.prepared import Prepared
from aipod_api.memory import service

HIDDEN = 1500
SLACK = HIDDEN // 10  # far below one unit of work per hidden row
QUERIES: list[dict[str, Any]] = [
    {},
    {"q": "的"},
    {"q": "私密的"},
    {"q": "Q1新能源"},
    {"tag": "新能源"},
    {"tag": "新能源", "q": "的"},
    {"participant": "pal"},
    {"author": "mallory"},
    {"author": "mallory", "q": "的", "sort": "relevance"},
    {"q": "渗透率", "sort": "relevance"},
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    from aipod_api.agents import service as agents_service

    eng = make_null_pool_engine(database_url)
    migrate.upgrade(eng)
    with transaction(eng, write=True) as conn:
        for name in ("viewer", "mallory", "pal", "author"):
            agents_service.create_agent(
                conn,
                username=name,
                email=f"{name}@x.test",
                nickname=None,
                capabilities=[],
                password_hash=None,
                now=0,
            )
        for i in range(40):
            service.create_memory(
                conn,
                author_id="author" if i % 3 else "mallory",
                content=f"2026年Q1新能源渗透率的公开数据 {i}",
                participants=["pal"] if i % 4 == 0 else [],
                tags=["新能源"] if i % 2 else ["市场"],
                visibility="public",
                now=i,
            )
        for i in range(5):
            service.create_memory(
                conn,
                author_id="viewer",
                content=f"我的私密的 Q1新能源 笔记 {i}",
                participants=["pal"],
                tags=["新能源"],
                visibility="participants",
                now=100 + i,
            )
    yield eng
    eng.dispose()


def _hide_many(engine: Engine) -> None:
    """Another agent's private memories matching every query above."""
    with transaction(engine, write=True) as conn:
        for i in range(HIDDEN):
            service.create_memory(
                conn,
                author_id="mallory",
                content=f"别人私密的 2026年Q1新能源渗透率的 {i}",
                participants=["pal"],
                tags=["新能源"],
                visibility="participants",
                now=1000 + i,
            )


def _captured(conn: Connection, call: Callable[[], Any]) -> tuple[Any, list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []
    original = Prepared.execute

    def recording(self: Prepared, c: Connection, params: Any = None) -> Any:
        compiled = self.compiled(c.dialect)
        statements.append((compiled.sql, compiled.params(params)))
        return original(self, c, params)

    Prepared.execute = recording  # type: ignore[method-assign]
    try:
        result = call()
    finally:
        Prepared.execute = original  # type: ignore[method-assign]
    return result, statements


def _plan_rows(node: dict[str, Any]) -> float:
    loops = node.get("Actual Loops", 1)
    rows = node.get("Actual Rows", 0) * loops
    for removed in (
        "Rows Removed by Filter",
        "Rows Removed by Index Recheck",
        "Rows Removed by Join Filter",
    ):
        rows += node.get(removed, 0) * loops
    rows += node.get("Heap Fetches", 0)
    return float(rows) + sum(_plan_rows(child) for child in node.get("Plans", []))


def _work(conn: Connection, statements: list[tuple[str, Any]]) -> float:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    total = 0.0
    for sql, args in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        cursor = dbapi.cursor()
        try:
            if conn.dialect.name == "sqlite":
                steps = [0]
                dbapi.set_progress_handler(lambda s=steps: s.__setitem__(0, s[0] + 1), 1)
                try:
                    cursor.execute(sql, args)
                    cursor.fetchall()
                finally:
                    dbapi.set_progress_handler(None, 1)
                total += steps[0]
            else:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, args)
                plan = cursor.fetchone()[0]
                for item in plan:
                    total += _plan_rows(item["Plan"])
                    total += sum(_plan_rows(p) for p in item.get("Subplans", []))
        finally:
            cursor.close()
    return total


def _measure(engine: Engine, query: dict[str, Any]) -> tuple[Any, float]:
    with engine.connect() as conn:
        result, statements = _captured(
            conn, lambda: service.list_memories(conn, viewer_id="viewer", page_size=10, **query)
        )
        assert statements, "list_memories ran no prepared statement"
        work = _work(conn, statements)
        conn.rollback()
    assert work > 0, "no work was measured"
    return result, work


def _analyze(engine: Engine) -> None:
    """Fresh planner statistics on PostgreSQL, as autovacuum would give a real database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def test_work_does_not_depend_on_hidden_matches(engine: Engine) -> None:
    _analyze(engine)
    before = {i: _measure(engine, q) for i, q in enumerate(QUERIES)}
    _hide_many(engine)
    _analyze(engine)
    for i, query in enumerate(QUERIES):
        result, work = _measure(engine, query)
        seen, work_before = before[i]
        assert result == seen, query  # nothing hidden became visible
        assert work <= work_before + SLACK, (query, work_before, work)
        if engine.dialect.name == "postgresql":  # rows: fewer than one per hidden memory
            assert work < HIDDEN, (query, work)
    # The caller's own private memories are still found (the member stream works).
    mine = service.list_memories
    with engine.connect() as conn:
        data = mine(conn, viewer_id="viewer", q="私密的", page_size=100)
        assert data["total"] == 5
        assert [m["author_id"] for m in data["items"]] == ["viewer"] * 5
        pal = mine(conn, viewer_id="pal", q="别人私密的", page_size=5)
        assert pal["total"] == HIDDEN and pal["items"][0]["author_id"] == "mallory"


def test_the_count_is_bounded_by_the_cap_for_the_caller_too(engine: Engine) -> None:
    """A member of many private memories pays for those (they are visible to it), and the
    count still stops at the cap."""
    _hide_many(engine)
    with engine.connect() as conn:
        data = service.list_memories(conn, viewer_id="pal", q="的", count_cap=1000, page_size=3)
    assert data["total"] == 1000 and data["total_capped"] is True and data["has_more"] is True
