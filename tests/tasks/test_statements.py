"""The write path's statement budget (issue 18): how many statements the application sends
per publish, accept and complete, and that the fewer statements move the money exactly.

Counted where the application sends them: every prepared statement (core/prepared.py,
which runs on the DB-API cursor) and every `Connection.execute` (an executemany counts
once), plus BEGIN and COMMIT. Triggers run inside the database and are not counted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from tasks.market import Market

from aipod_api.core import prepared

ON_POSTGRES = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() == "postgresql"

# Statements per request's write transaction (COMMIT included, BEGIN not: PostgreSQL's
# driver sends it implicitly). PostgreSQL reads a task's history apart from its row
# (tasks/service.py `_TASK_WITH_HISTORY`) and adds, for a payment, the SELECT ... FOR
# UPDATE that takes both agents' accounts in id order first. (Session 5's code sent 23,
# 11, 33 and 34 on SQLite, executemany rows counted one each.)
PG = 1 if ON_POSTGRES else 0
BUDGET = {
    "publish": 14,
    "accept": 7 + PG,
    "complete": 14 + 2 * PG,
    "approve": 15 + 2 * PG,
}


@contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    """The statements of the write transactions this thread runs meanwhile (those of the
    connections that wrote a task row), BEGIN left out, COMMIT in."""
    me = threading.get_ident()
    seen: dict[int, list[str]] = {}
    result: list[str] = []

    def note(conn: Any, sql: str) -> None:
        if threading.get_ident() == me:
            seen.setdefault(id(conn), []).append(sql)

    original = prepared.Prepared.execute

    def execute(self: prepared.Prepared, conn: Any, params: Any = None) -> Any:
        note(conn, self.compiled(conn.dialect).sql)
        return original(self, conn, params)

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            note(conn, statement)

    def commit(conn: Any) -> None:
        note(conn, "COMMIT")

    prepared.Prepared.execute = execute  # type: ignore[method-assign]
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", commit)
    try:
        yield result
    finally:
        prepared.Prepared.execute = original  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", commit)
        for sent in seen.values():
            if any(sql.startswith(("UPDATE tasks", "INSERT INTO tasks")) for sql in sent):
                result.extend(sent)


def test_statements_per_write(make_app: Callable[..., Any]) -> None:
    market = Market(make_app())
    pub = market.register("stmt_pub")
    worker = market.register("stmt_worker")
    for key in (pub, worker):  # the callers' keys cached, every statement prepared
        market.wallet(key)
    market.done_task(pub, worker, 3)
    engine = market.state.engine
    counts: dict[str, int] = {}
    log: dict[str, list[str]] = {}

    def measure(name: str, call: Callable[[], Any]) -> Any:
        with counting(engine) as sent:
            r = call()
        assert r.status in (200, 201), r.body
        counts[name] = len(sent)
        log[name] = sent
        return r

    task = measure("publish", lambda: market.publish(pub, 2.5)).data["task_id"]
    measure("accept", lambda: market.accept(worker, task))
    measure("complete", lambda: market.complete(worker, task))
    reviewed = market.new_task(pub, 1.25, review_seconds=600)
    assert market.accept(worker, reviewed).status == 200
    assert market.complete(worker, reviewed).data["status"] == "submitted"
    measure("approve", lambda: market.approve(pub, reviewed))

    over = {k: (counts[k], BUDGET[k]) for k in BUDGET if counts[k] > BUDGET[k]}
    assert not over, (over, {k: log[k] for k in over})
    # The money is exact: 1000 - 3 - 2.5 - 1.25 and 1000 + 3 + 2.5 + 1.25.
    assert market.wallet(pub)["balance"] == 993.25
    assert market.wallet(worker)["balance"] == 1006.75
    assert market.invariants() == []


def test_a_split_moves_each_part_once(make_app: Callable[..., Any]) -> None:
    """An operator's split is a payment and a refund out of one escrow, each checked
    against what the escrow still holds; the counters of both agents follow."""
    market = Market(make_app(operators="stmt_op"))
    pub = market.register("stmt_pub")
    worker = market.register("stmt_worker")
    op = market.register("stmt_op")
    task = market.new_task(pub, 10, review_seconds=600)
    assert market.accept(worker, task).status == 200
    assert market.complete(worker, task).status == 200
    assert market.dispute(pub, task).status == 200
    r = market.resolve(op, task, outcome="split", assignee_share=0.35, reason="partly done")
    assert r.status == 200, r.body
    assert r.data["payout"] == 3.5
    publisher, assignee = market.wallet(pub), market.wallet(worker)
    assert (publisher["balance"], publisher["escrow"], publisher["total_spent"]) == (996.5, 0, 3.5)
    assert (assignee["balance"], assignee["total_earned"]) == (1003.5, 3.5)
    assert market.invariants() == []


def test_a_short_escrow_moves_nothing(make_app: Callable[..., Any]) -> None:
    """A release is one UPDATE of the escrow and both agents' accounts: when the escrow's
    conditional debit fails (a broken invariant), the agents' rows it did credit go with
    the rollback."""
    from sqlalchemy import update

    from aipod_api.core.db import transaction
    from aipod_api.core.tables import accounts
    from aipod_api.core.types import TASK_ID
    from aipod_api.wallet import ledger

    market = Market(make_app())
    pub = market.register("short_pub")
    worker = market.register("short_worker")
    task = market.new_task(pub, 10)
    assert market.accept(worker, task).status == 200
    seq = TASK_ID.parse(task)
    engine = market.state.engine

    def set_escrow(cents: int) -> None:
        with transaction(engine, write=True) as conn:
            conn.execute(
                update(accounts).where(accounts.c.task_seq == seq).values(balance_cents=cents)
            )

    set_escrow(500)  # cents: half the budget
    with pytest.raises(ledger.ShortEscrow), transaction(engine, write=True) as conn:
        ledger.settle_escrow(
            conn,
            publisher_id="short_pub",
            assignee_id="short_worker",
            task_seq=seq,
            amount_cents=1000,
            now=market.now,
        )
    set_escrow(1000)
    publisher, assignee = market.wallet(pub), market.wallet(worker)
    assert (publisher["balance"], publisher["escrow"], publisher["total_spent"]) == (990, 10, 0)
    assert (assignee["balance"], assignee["total_earned"]) == (1000, 0)
    assert market.invariants() == []
    assert market.complete(worker, task).status == 200
    assert market.wallet(worker)["balance"] == 1010
