"""The lock order of wallet/ledger.py, checked where it is cheap to observe directly."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from tasks.market import Market, iso

ON_POSTGRES = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() == "postgresql"


def test_a_batch_of_expiries_settles_in_one_transaction(make_app: Callable[..., Any]) -> None:
    market = Market(make_app())
    keys = [market.register(f"lock_pub_{i}") for i in range(3)]
    tasks = [market.new_task(k, 10, deadline=iso(market.now + 60)) for k in keys for _ in range(4)]
    market.advance(61)

    assert market.sweep() == len(tasks)

    for key in keys:
        assert market.wallet(key)["balance"] == 1000
    assert market.sweep() == 0
    assert market.invariants() == []


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL shards its counters; SQLite has one")
def test_one_transaction_bumps_one_counter_shard(make_app: Callable[..., Any]) -> None:
    """Migration 0005: a transaction takes each counter's row once, whatever it changes,
    so a batch and a single transition lock counters in the same (state machine) order."""
    market = Market(make_app())
    key = market.register("shard_pub")
    for _ in range(12):
        market.new_task(key, 10, deadline=iso(market.now + 60))
    market.advance(61)

    assert market.sweep() == 12

    with market.state.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT shard, value FROM counters WHERE name = 'tasks.status:expired'"
                " AND value <> 0"
            )
        ).all()
    assert [r.value for r in rows] == [12], rows
