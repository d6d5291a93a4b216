"""Migration 0009 (pay on approval) down and up again, with data, on both backends: the
CHECK on tasks.status follows the transition table, the counter triggers survive, a
downgrade with tasks in review is refused, and the backfills (history, pub_tasks) hold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from tasks.market import Market

from aipod_api.core import counters
from aipod_api.core.db import transaction
from aipod_api.core.migrate import alembic_config
from aipod_api.core.tables import agents, task_history, tasks


def _migrate(engine: Any, target: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with transaction(engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def _heads(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_0009_downgrades_and_upgrades_with_data(make_app: Callable[..., Any]) -> None:
    market = Market(make_app())
    engine = market.state.engine
    pub, worker = market.register("pub"), market.register("worker")
    done = market.done_task(pub, worker, 10)
    review = market.new_task(pub, 20, review_seconds=60)
    assert market.accept(worker, review).status == 200
    assert market.complete(worker, review).data["status"] == "submitted"

    with pytest.raises(RuntimeError, match="in review or dispute"):
        _migrate(engine, "0008", down=True)
    assert market.approve(pub, review).status == 200

    _migrate(engine, "0008", down=True)
    assert _heads(engine) == {"0008"}
    assert "task_history" not in inspect(engine).get_table_names()
    assert "review_seconds" not in {c["name"] for c in inspect(engine).get_columns("tasks")}
    seq = int(done.split("_")[1])
    with transaction(engine, write=True) as conn:
        assert counters.check(conn) == []  # 0004's triggers survived the CHECK rewrite
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(text("UPDATE tasks SET status = 'submitted' WHERE seq = :s"), {"s": seq})
        # a task published under 0008 (three tasks then, by pub)
        conn.execute(text("UPDATE tasks SET status = 'done' WHERE seq = :s"), {"s": seq})

    _migrate(engine, "heads")
    assert "0009" in _heads(engine) or all(h > "0009" for h in _heads(engine))
    with transaction(engine, write=True) as conn:
        assert counters.check(conn) == []
        rows = conn.execute(
            select(task_history.c.task_seq, task_history.c.action).order_by(task_history.c.seq)
        ).all()
        assert [(int(r.task_seq), r.action) for r in rows] == [
            (seq, "publish"),
            (seq + 1, "publish"),
        ]
        record = conn.execute(select(agents.c.pub_tasks).where(agents.c.agent_id == "pub"))
        assert record.scalar_one() == 2
        assert conn.execute(select(tasks.c.review_seconds)).scalars().all() == [0, 0]
        # the new statuses are allowed again, nothing else is
        conn.execute(update(tasks).where(tasks.c.seq == seq).values(status="disputed"))
        conn.execute(update(tasks).where(tasks.c.seq == seq).values(status="done"))
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(update(tasks).where(tasks.c.seq == seq).values(status="review"))
    # the app keeps working on the re-upgraded schema
    again = market.new_task(pub, 5, review_seconds=30)
    assert market.accept(worker, again).status == 200
    assert market.complete(worker, again).data["status"] == "submitted"
    assert market.dispute(pub, again).status == 200
    assert market.invariants() == []
