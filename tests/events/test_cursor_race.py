"""The cursor never skips: concurrent writer transactions (real threads, real
connections) while a reader follows the feed from its cursor (both backends).

With ids from a sequence, PostgreSQL hands id N+1 to a transaction that can commit
before the one holding N; a reader that has moved its cursor past N+1 then never sees N.
Here each writer's commit is slowed down *after* its ids are taken (inside the outbox's
write, before the database commit), which is exactly the window where that happens; the
reader must still end up with every id, once, in order — and the ids must be gapless."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from aipod_api.core.db import transaction
from aipod_api.events import outbox, service
from aipod_api.events.tables import event_inbox

WRITERS = 6
TRANSACTIONS = 15


@pytest.fixture
def engine(make_app: Callable[..., Any]) -> Any:
    app = make_app()
    st = app.extensions["aipod"]
    st.sweeper.stop()
    return st.engine


def test_a_reader_following_the_cursor_misses_nothing(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = outbox._write
    rng = random.Random(7)

    def slow_write(conn: Any, batch: Any) -> Any:
        note = original(conn, batch)
        time.sleep(rng.random() * 0.01)  # ids taken, not yet committed
        return note

    monkeypatch.setattr(outbox, "_write", slow_write)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(w: int) -> None:
        try:
            for t in range(TRANSACTIONS):
                with transaction(engine, write=True) as conn:
                    for k in range(1 + (w + t) % 3):
                        outbox.emit(
                            conn,
                            type="webhook.test",
                            data={"w": w, "t": t, "k": k},
                            recipients=["reader"] if (w + k) % 2 == 0 else ["other"],
                            now=0,
                        )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    seen: list[int] = []
    reads = [0]

    def reader() -> None:
        cursor = 0
        try:
            while True:
                finished = done.is_set()
                with transaction(engine, write=False) as conn:
                    feed = service.list_for_agent(
                        conn, "reader", after=cursor, types=None, limit=7, now=0
                    )
                reads[0] += 1
                seen.extend(e.id for e in feed.items)
                assert feed.cursor >= cursor
                cursor = feed.cursor
                if finished and not feed.items:
                    return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    follower = threading.Thread(target=reader)
    follower.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    follower.join(timeout=120)
    assert not errors, errors
    with transaction(engine, write=False) as conn:
        expected = list(
            conn.execute(
                event_inbox.select()
                .with_only_columns(event_inbox.c.event_id)
                .where(event_inbox.c.agent_id == "reader")
                .order_by(event_inbox.c.event_id)
            ).scalars()
        )
        newest = service.latest_id(conn)
        total = conn.exec_driver_sql("SELECT count(*), min(id), max(id) FROM events").one()
    assert seen == expected, (len(seen), len(expected))
    assert len(set(seen)) == len(seen)
    assert reads[0] > 3  # the reader really ran alongside the writers
    # gapless: ids 1..N, every one committed
    assert tuple(total) == (newest, 1, newest)
