"""A wallet read's settle-before-read probe costs what concerns the reader, not the
overdue tasks of others (both backends).

Every wallet read first asks whether any of the reader's tasks has a clock edge due
(tasks/service.py `settle_before_read`). Work is counted, not timed, as in
tests/events/test_read_cost.py (SQLite VM instructions, PostgreSQL plan rows): 1,500
open tasks of another publisher past their deadline and 1,500 tasks of another assignee
past their review window, none settled yet (no sweep has run), must not move it. The
assignee's side once scanned every overdue open task (an open task's expiry never moves
an assignee's money; its probe now covers only the edges that do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from events.test_read_cost import _analyze, _work
from sqlalchemy import insert
from tasks.market import Market

from aipod_api.core.db import transaction
from aipod_api.core.tables import tasks
from aipod_api.tasks import service

HIDDEN = 1500
SLACK = HIDDEN // 10


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def _probe_work(market: Market, agent_id: str) -> tuple[bool, float]:
    engine = market.state.engine
    stmt = service._ANY_DUE_EITHER
    compiled = stmt.compiled(engine.dialect)
    params = compiled.params({"now": market.now, "agent_id": agent_id})
    with engine.connect() as conn:
        due = bool(stmt.execute(conn, {"now": market.now, "agent_id": agent_id}).scalar())
        work = _work(conn, [(compiled.sql, params)])
        conn.rollback()
    assert work > 0
    return due, work


def _overdue_rows(publisher: str, assignee: str, now: int) -> list[dict[str, Any]]:
    common = {
        "description": "", "required_capabilities": "[]", "budget_cents": 100,
        "deadline": None, "assignee_id": None, "accepted_at": None, "submitted_at": None,
        "review_seconds": 0, "review_due": None,
    }  # fmt: skip
    expired = [
        {**common, "title": f"expired {i}", "status": "open", "publisher_id": publisher,
         "deadline": now - 60, "created_at": now - 120}
        for i in range(HIDDEN)
    ]  # fmt: skip
    reviewed = [
        {**common, "title": f"reviewed {i}", "status": "submitted", "publisher_id": publisher,
         "assignee_id": assignee, "created_at": now - 120, "accepted_at": now - 110,
         "submitted_at": now - 100, "review_seconds": 30, "review_due": now - 70}
        for i in range(HIDDEN)
    ]  # fmt: skip
    return expired + reviewed


def test_wallet_probe_does_not_depend_on_others_overdue_tasks(market: Market) -> None:
    viewer = market.register("viewer")
    bob = market.register("bobby")
    market.register("carol")
    task = market.new_task(bob, 5)
    assert market.accept(viewer, task).status == 200  # the viewer is an assignee too
    market.new_task(viewer, 7)  # and a publisher
    _analyze(market)
    due, before = _probe_work(market, "viewer")
    assert not due

    with transaction(market.state.engine, write=True) as conn:
        conn.execute(insert(tasks), _overdue_rows("bobby", "carol", market.now))
    _analyze(market)
    due, after = _probe_work(market, "viewer")
    assert not due  # none of them is the viewer's
    assert after <= before + SLACK, (before, after)
    if market.state.engine.dialect.name == "postgresql":
        assert after < HIDDEN, after
    # the probe still finds what is the reader's: bob's expiries, carol's approvals
    assert _probe_work(market, "bobby")[0] and _probe_work(market, "carol")[0]
