"""Cost of keeping stored trust scores exact (aipod_api/trust/scores.py).

    python bench/trust_refresh.py [--agents 20000] [--database-url URL]

Loads N rated agents (3 raters each) straight into a fresh database, then measures:

- the probe every list request runs first ("is any stored score due?"), with nothing due;
- a full refresh of N due rows (what the sweep does after a long downtime, or what the
  first list request does if the sweep has not run), in rows per second;
- how many of the N rows come due per simulated hour over the following week, i.e. the
  steady refresh load (each row changes its 4th decimal at most every ~2.5 hours).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from sqlalchemy import func, insert, select, update

from aipod_api.app import create_app
from aipod_api.core.db import transaction
from aipod_api.core.tables import agents, ratings, tasks
from aipod_api.settings import Settings
from aipod_api.trust import scores

DAY = 86_400


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/refresh.db"
    app = create_app(Settings(database_url=url, demo=False, log_level="WARNING"))
    state = app.extensions["aipod"]
    state.sweeper.stop()
    engine = state.engine
    rng = random.Random(7)
    now = int(time.time())
    n = args.agents
    with transaction(engine, write=True) as conn:
        conn.execute(
            insert(agents),
            [
                {
                    "agent_id": f"a{i:07d}",
                    "username": f"a{i:07d}",
                    "email": f"a{i}@x",
                    "email_norm": f"a{i}@x",
                    "nickname": "a",
                    "description": "",
                    "capabilities": "[]",
                    "trust_score": 0.5,
                    "ratings_count": 3,
                    "tasks_completed": 3,
                    "created_at": now - 400 * DAY,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
        conn.execute(
            insert(tasks),
            [
                {
                    "title": "t",
                    "budget_cents": 10_000,
                    "status": "done",
                    "publisher_id": f"a{(i + 1) % n:07d}",
                    "assignee_id": f"a{i // 3:07d}",
                    "created_at": now,
                    "rated": True,
                }
                for i in range(3 * n)
            ],
        )
        first = int(conn.execute(select(func.min(tasks.c.seq))).scalar())
        conn.execute(
            insert(ratings),
            [
                {
                    "task_seq": first + i,
                    "agent_id": f"a{i // 3:07d}",
                    "rater_id": f"a{(i + 1) % n:07d}",
                    "quality_x100": rng.randint(100, 500),
                    "on_time": True,
                    "budget_cents": rng.choice([2_000, 10_000, 50_000]),
                    "created_at": now - rng.randint(0, 60 * DAY),
                }
                for i in range(3 * n)
            ],
        )
    with transaction(engine, write=True) as conn:
        for i in range(n):
            scores.recompute(conn, f"a{i:07d}", now=now)

    probes = 2_000
    with transaction(engine, write=False) as conn:
        t = time.perf_counter()
        for _ in range(probes):
            assert not scores.any_due(conn, now=now)
        probe_us = (time.perf_counter() - t) / probes * 1e6
    print(f"{engine.dialect.name}, {n} rated agents")
    print(f"probe before a list, nothing due: {probe_us:.1f} µs")

    with transaction(engine, write=True) as conn:
        conn.execute(update(agents).values(trust_due=0))
    t = time.perf_counter()
    done = scores.settle_due(engine, now=now)
    seconds = time.perf_counter() - t
    print(f"full refresh of {done} due rows: {seconds:.2f} s ({done / seconds:,.0f} rows/s)")

    hours = 7 * 24
    total = 0
    for h in range(1, hours + 1):
        total += scores.settle_due(engine, now=now + h * 3600)
    print(
        f"over the next week: {total} refreshes, {total / hours:.0f} per hour "
        f"({total / hours / n * 100:.1f} % of the rows per hour)"
    )


if __name__ == "__main__":
    main()
