"""A feed read costs what the reader may see, not the events of others (both backends).

Work is counted, not timed, as in tests/memory/test_search_cost.py: every statement
`list_for_agent` runs is captured and run again — on SQLite counting virtual-machine
instructions (the progress handler), on PostgreSQL the rows every plan node produced or
discarded (`EXPLAIN (ANALYZE, FORMAT JSON)`). Then 1,500 events of another agent and
1,500 discovery events under a capability the reader lacks are added; the work must
not move (a read that filtered them out would pay at least one unit per event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, event
from tasks.market import Market

from aipod_api.core.db import transaction
from aipod_api.events import outbox, service

HIDDEN = 1500
SLACK = HIDDEN // 10


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def _plan_rows(node: dict[str, Any]) -> float:
    loops = node.get("Actual Loops", 1)
    rows = node.get("Actual Rows", 0) * loops
    for removed in ("Rows Removed by Filter", "Rows Removed by Join Filter"):
        rows += node.get(removed, 0) * loops
    rows += node.get("Heap Fetches", 0)
    return float(rows) + sum(_plan_rows(child) for child in node.get("Plans", []))


def _work(conn: Connection, statements: list[tuple[str, Any]]) -> float:
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    total = 0.0
    for sql, args in statements:
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
                for item in cursor.fetchone()[0]:
                    total += _plan_rows(item["Plan"])
        finally:
            cursor.close()
    return total


def _measure(market: Market, agent: str, **kw: Any) -> tuple[list[Any], float]:
    engine = market.state.engine
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        statements.append((sql, params))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", record)
        try:
            feed = service.list_for_agent(conn, agent, now=market.now, after=0, **kw)
        finally:
            event.remove(conn, "before_cursor_execute", record)
        work = _work(conn, [s for s in statements if s[0].lstrip().upper().startswith("SELECT")])
        conn.rollback()
    assert work > 0
    return feed.items, work


def _analyze(market: Market) -> None:
    engine = market.state.engine
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


READS: list[dict[str, Any]] = [
    {"types": None, "limit": 50},
    {"types": None, "limit": 3},
    {"types": ("task.published",), "limit": 50},
    {"types": ("wallet.credited", "wallet.debited"), "limit": 50},
]


def test_work_does_not_depend_on_events_the_reader_cannot_see(market: Market) -> None:
    viewer = market.register("viewer", caps=["coding"])
    market.register("mallory", caps=["design"])
    bob = market.register("bobby")
    market.new_task(bob, 5)
    market.new_task(bob, 5, required_capabilities=["coding"])
    design_task = market.new_task(bob, 5, required_capabilities=["design"])
    market.new_task(viewer, 7)
    _analyze(market)
    before = [_measure(market, "viewer", **kw) for kw in READS]
    assert [e.type for e in before[2][0]] == ["task.published"] * 3  # bob's two + its own

    seq = int(design_task.split("_")[1])
    with transaction(market.state.engine, write=True) as conn:
        for i in range(HIDDEN):
            outbox.emit(
                conn, type="wallet.credited", data={"i": i}, recipients=["mallory"], now=market.now
            )
            outbox.emit(
                conn,
                type="task.published",
                data={"i": i},
                recipients=["bobby"],
                now=market.now,
                discovery=outbox.Discovery(task_seq=seq, capabilities=("design",)),
            )
    _analyze(market)
    for kw, (items_before, work_before) in zip(READS, before, strict=True):
        items, work = _measure(market, "viewer", **kw)
        assert items == items_before, kw  # nothing of theirs became visible
        assert work <= work_before + SLACK, (kw, work_before, work)
        if market.state.engine.dialect.name == "postgresql":
            assert work < HIDDEN, (kw, work)
    # and mallory, who is eligible for the design task, is offered every one of them
    with transaction(market.state.engine, write=False) as conn:
        feed = service.list_for_agent(
            conn, "mallory", after=0, types=("task.published",), limit=100, now=market.now
        )
    assert len(feed.items) == 100
