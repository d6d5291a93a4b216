"""Ratings, list refreshes, the sweep and profile updates at once, with real threads
against the real server process: every stored aggregate stays equal to a recomputation
from the ratings, and no request fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from helpers import Api, LiveServer, invariants
from sqlalchemy import select, update

from aipod_api.core.db import make_null_pool_engine, transaction
from aipod_api.core.tables import agents
from aipod_api.trust import scores, standing

Start = Callable[..., LiveServer]
ROUNDS = 12


def test_ratings_and_refreshes_race_without_losing_an_update(
    start_server: Start, database_url: str
) -> None:
    server = start_server(env={"AIPOD_SWEEP_INTERVAL_S": "0.05"})
    api = server.api
    publishers = [api.register(f"pub{i}") for i in range(4)]
    workers = {f"wk{i}": api.register(f"wk{i}", capabilities=["coding"]) for i in range(4)}
    engine = make_null_pool_engine(database_url)
    stop = threading.Event()
    failures: list[str] = []

    def rater(i: int) -> None:
        a = Api(base_url=server.base_url)
        key = publishers[i]
        for n in range(ROUNDS):
            name = f"wk{(i + n) % len(workers)}"
            r = a.post("/v1/tasks", key=key, json={"title": "t", "budget": 10 + n})
            task_id = r.data["task_id"]
            a.put(f"/v1/tasks/{task_id}/accept", key=workers[name])
            a.put(f"/v1/tasks/{task_id}/complete", key=workers[name], json={"deliverables": {}})
            body = {"agent_id": name, "task_id": task_id, "quality_score": 1 + n % 5}
            r = a.post("/v1/trust/rate", key=key, json={**body, "on_time": True})
            if r.status != 201:
                failures.append(f"rate: {r.status} {r.body}")

    def lister() -> None:
        a = Api(base_url=server.base_url)
        while not stop.is_set():
            for path in ("/v1/agents?capability=coding", "/v1/agents?min_trust=0.4"):
                r = a.get(path, key=publishers[0])
                if r.status != 200:
                    failures.append(f"list: {r.status} {r.body}")

    def profile_editor() -> None:
        a = Api(base_url=server.base_url)
        n = 0
        while not stop.is_set():
            n += 1
            caps = ["coding"] if n % 2 else ["coding", "review"]
            r = a.put("/v1/agents/wk0", key=workers["wk0"], json={"capabilities": caps})
            if r.status != 200:
                failures.append(f"profile: {r.status} {r.body}")

    def forcer() -> None:
        # make every stored score due (and some rows "rated before 0006") over and over,
        # so refreshes by lists and by the sweep race with the ratings
        # (one row per transaction: this stand-in for "time passes" must not itself
        # deadlock with the server's row locks)
        n = 0
        while not stop.is_set():
            n += 1
            for name in workers:
                with transaction(engine, write=True) as conn:
                    conn.execute(
                        update(agents)
                        .where(agents.c.agent_id == name, agents.c.trust_at.is_not(None))
                        .values(trust_due=0)
                    )
            if n % 3 == 0:
                with transaction(engine, write=True) as conn:
                    conn.execute(
                        update(agents)
                        .where(agents.c.agent_id == f"wk{n % 4}", agents.c.ratings_count > 0)
                        .values(trust_at=None, trust_due=0)
                    )
            time.sleep(0.01)

    with ThreadPoolExecutor(max_workers=8) as pool:
        background = [pool.submit(f) for f in (lister, lister, profile_editor, forcer)]
        raters = [pool.submit(rater, i) for i in range(len(publishers))]
        for f in raters:
            f.result(timeout=300)
        stop.set()
        for f in background:
            f.result(timeout=60)
    assert failures == []

    # one more list refreshes whatever the forcer left due; then everything is exact
    assert api.get("/v1/agents?capability=coding", key=publishers[0]).status == 200
    try:
        with transaction(engine, write=False) as conn:
            assert scores.check(conn, now=int(time.time())) == []
    finally:
        engine.dispose()
    assert invariants(database_url) == []
    total = sum(
        api.get(f"/v1/trust/{name}", key=publishers[0]).data["ratings_count"] for name in workers
    )
    assert total == ROUNDS * len(publishers)


def test_concurrent_payments_keep_vouched_earnings_equal_to_their_flows(
    start_server: Start, database_url: str
) -> None:
    # earned standing (trust/standing.py) under concurrency: seeds and workers paying
    # each other in both directions at once; every agent's vouched earnings stay the sum
    # of its pair flows and every flow keeps its invariants
    server = start_server(env={"AIPOD_OPERATORS": "boss0,boss1"})
    api = server.api
    keys = {name: api.register(name) for name in ("boss0", "boss1", "wk0", "wk1")}
    pairs = [
        ("boss0", "wk0"),
        ("wk0", "boss0"),
        ("boss1", "wk0"),
        ("wk0", "wk1"),
        ("wk1", "wk0"),
        ("boss0", "wk1"),
    ]
    failures: list[str] = []

    def payer(i: int) -> None:
        a = Api(base_url=server.base_url)
        payer_name, payee_name = pairs[i]
        for n in range(8):
            budget = 30 + 3 * n
            r = a.post("/v1/tasks", key=keys[payer_name], json={"title": "t", "budget": budget})
            if r.status != 201:
                failures.append(f"publish: {r.status} {r.body}")
                return
            task_id = r.data["task_id"]
            for action, body in (("accept", None), ("complete", {"deliverables": {}})):
                r = a.put(f"/v1/tasks/{task_id}/{action}", key=keys[payee_name], json=body)
                if r.status != 200:
                    failures.append(f"{action}: {r.status} {r.body}")

    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        for f in [pool.submit(payer, i) for i in range(len(pairs))]:
            f.result(timeout=300)
    assert failures == []
    engine = make_null_pool_engine(database_url)
    try:
        with transaction(engine, write=False) as conn:
            assert standing.check(conn) == []
            seeded = conn.execute(
                select(agents.c.agent_id).where(agents.c.trust_seed.is_(True))
            ).scalars()
            assert sorted(seeded) == ["boss0", "boss1"]
            vouched = dict(
                conn.execute(select(agents.c.agent_id, agents.c.trust_vouched_cents)).all()
            )
    finally:
        engine.dispose()
    # in any interleaving: wk0 paid boss0 and wk1 back exactly what they paid it (net 0:
    # nothing vouched), boss1 vouched its cap; wk1 likewise has boss0's cap only
    assert (vouched["wk0"], vouched["wk1"], vouched["boss0"], vouched["boss1"]) == (
        5_000,
        5_000,
        0,
        0,
    )
    assert invariants(database_url) == []
