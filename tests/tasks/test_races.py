"""Races with real threads against the real server process (CONTRACT §4, §5).

Each scenario lines the contenders up on a `threading.Barrier` and fires at once; every
thread has its own HTTP session. After each scenario the §5 invariants are checked straight
against the database.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import Api, LiveServer, Resp, invariants

ON_POSTGRES = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() == "postgresql"

Start = Callable[..., LiveServer]


def _race(base_url: str, calls: list[Callable[[Api], Resp]]) -> list[Resp]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[Api], Resp]) -> Resp:
        api = Api(base_url=base_url)  # one session per thread
        barrier.wait(timeout=30)
        return call(api)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _publish(api: Api, key: str, budget: Any = 100, **extra: Any) -> str:
    r = api.post("/v1/tasks", key=key, json={"title": "race", "budget": budget, **extra})
    assert r.status == 201, r.body
    return str(r.data["task_id"])


def _statuses(responses: list[Resp]) -> list[int]:
    return sorted(r.status for r in responses)


def test_sixteen_agents_accept_one_task_exactly_one_wins(
    start_server: Start, database_url: str
) -> None:
    server = start_server()
    api = server.api
    publisher = api.register("publisher")
    keys = [api.register(f"racer_{i:02d}") for i in range(16)]
    task_id = _publish(api, publisher, budget=100)

    results = _race(
        server.base_url,
        [lambda a, k=k: a.put(f"/v1/tasks/{task_id}/accept", key=k) for k in keys],
    )

    assert _statuses(results) == [200] + [409] * 15, [r.body for r in results]
    assert all(r.code == 409 for r in results if r.status == 409)
    winner = next(r for r in results if r.status == 200).data["assignee_id"]
    task = api.get(f"/v1/tasks/{task_id}", key=publisher).data
    assert task["status"] == "progress" and task["assignee_id"] == winner
    assert invariants(database_url) == []


def test_eight_publishes_of_150_with_1000_credits_exactly_six_succeed(
    start_server: Start, database_url: str
) -> None:
    server = start_server()
    api = server.api
    key = api.register("spender")

    results = _race(
        server.base_url,
        [lambda a: a.post("/v1/tasks", key=key, json={"title": "t", "budget": 150})] * 8,
    )

    assert _statuses(results) == [201] * 6 + [409] * 2, [r.body for r in results]
    for r in results:
        if r.status == 409:
            assert r.data["required"] == 150 and r.data["balance"] == 100, r.body
    wallet = api.get("/v1/wallet", key=key).data
    assert wallet["balance"] == 100 and wallet["escrow"] == 900
    lines = api.get("/v1/transactions", key=key, params={"page_size": 100}).data["items"]
    assert all(line["balance_after"] >= 0 for line in lines)
    assert sorted(line["balance_after"] for line in lines if line["type"] == "escrow_hold") == [
        100,
        250,
        400,
        550,
        700,
        850,
    ]
    assert invariants(database_url) == []


def test_double_complete_pays_once(start_server: Start, database_url: str) -> None:
    server = start_server()
    api = server.api
    publisher, worker = api.register("pub"), api.register("worker")
    task_id = _publish(api, publisher, budget=300)
    assert api.put(f"/v1/tasks/{task_id}/accept", key=worker).status == 200

    body = {"deliverables": {"ok": True}}
    results = _race(
        server.base_url,
        [lambda a: a.put(f"/v1/tasks/{task_id}/complete", key=worker, json=body)] * 8,
    )

    assert _statuses(results) == [200] + [409] * 7
    assert api.get("/v1/wallet", key=worker).data["balance"] == 1300
    assert api.get("/v1/wallet", key=publisher).data == {
        "agent_id": "pub",
        "balance": 700,
        "escrow": 0,
        "total_earned": 0,
        "total_spent": 300,
        "currency": "credit",
    }
    assert api.get("/v1/agents/worker", key=worker).data["tasks_completed"] == 1
    assert invariants(database_url) == []


def test_double_cancel_refunds_once(start_server: Start, database_url: str) -> None:
    server = start_server()
    api = server.api
    publisher = api.register("pub")
    task_id = _publish(api, publisher, budget=250)

    results = _race(
        server.base_url, [lambda a: a.put(f"/v1/tasks/{task_id}/cancel", key=publisher)] * 8
    )

    assert _statuses(results) == [200] + [409] * 7
    wallet = api.get("/v1/wallet", key=publisher).data
    assert wallet["balance"] == 1000 and wallet["escrow"] == 0
    refunds = api.get("/v1/transactions", key=publisher, params={"type": "escrow_refund"}).data
    assert refunds["total"] == 1
    assert invariants(database_url) == []


def test_cancel_versus_accept_exactly_one_wins(start_server: Start, database_url: str) -> None:
    server = start_server()
    api = server.api
    publisher = api.register("pub")
    workers = [api.register(f"worker{i}") for i in range(4)]
    for _ in range(5):  # several rounds: either side may win each time
        task_id = _publish(api, publisher, budget=100)
        calls: list[Callable[[Api], Resp]] = [
            lambda a, t=task_id: a.put(f"/v1/tasks/{t}/cancel", key=publisher)
        ]
        calls += [lambda a, k=k, t=task_id: a.put(f"/v1/tasks/{t}/accept", key=k) for k in workers]
        results = _race(server.base_url, calls)
        assert _statuses(results) == [200] + [409] * 4, [r.body for r in results]
        status = api.get(f"/v1/tasks/{task_id}", key=publisher).data["status"]
        cancel_won = results[0].status == 200
        assert status == ("cancelled" if cancel_won else "progress")
        assert invariants(database_url) == []


def test_double_rate_records_one_rating(start_server: Start, database_url: str) -> None:
    server = start_server()
    api = server.api
    publisher, worker = api.register("pub"), api.register("worker")
    task_id = _publish(api, publisher, budget=200)
    assert api.put(f"/v1/tasks/{task_id}/accept", key=worker).status == 200
    r = api.put(f"/v1/tasks/{task_id}/complete", key=worker, json={"deliverables": {}})
    assert r.status == 200

    body = {"agent_id": "worker", "task_id": task_id, "quality_score": 5, "on_time": True}
    results = _race(
        server.base_url, [lambda a: a.post("/v1/trust/rate", key=publisher, json=body)] * 8
    )

    assert _statuses(results) == [201] + [409] * 7
    trust = api.get("/v1/trust/worker", key=worker).data
    assert trust["ratings_count"] == 1 and trust["history"]["total"] == 1
    assert trust["trust_score"] == next(r for r in results if r.status == 201).data["trust_score"]
    assert api.get(f"/v1/tasks/{task_id}", key=publisher).data["rated"] is True
    assert invariants(database_url) == []


def test_crossing_completes_never_deadlock_into_500(start_server: Start, database_url: str) -> None:
    """P pays Q while Q pays P: 40 completes at once lock the same two ledger accounts
    from both sides. Accounts are locked in one global order (and a transaction that still
    meets a deadlock or serialization failure is retried), so all 40 are paid."""
    server = start_server()
    api = server.api
    p, q = api.register("payer_p"), api.register("payer_q")
    p_tasks = [_publish(api, p, budget=10) for _ in range(20)]
    q_tasks = [_publish(api, q, budget=10) for _ in range(20)]
    for task_id in p_tasks:
        assert api.put(f"/v1/tasks/{task_id}/accept", key=q).status == 200
    for task_id in q_tasks:
        assert api.put(f"/v1/tasks/{task_id}/accept", key=p).status == 200

    body = {"deliverables": {"ok": True}}
    calls: list[Callable[[Api], Resp]] = []
    for p_task, q_task in zip(p_tasks, q_tasks, strict=True):
        calls.append(lambda a, t=p_task: a.put(f"/v1/tasks/{t}/complete", key=q, json=body))
        calls.append(lambda a, t=q_task: a.put(f"/v1/tasks/{t}/complete", key=p, json=body))
    results = _race(server.base_url, calls)

    assert _statuses(results) == [200] * 40, [r.body for r in results if r.status != 200]
    for key, agent in ((p, "payer_p"), (q, "payer_q")):
        wallet = api.get("/v1/wallet", key=key).data
        assert wallet == {
            "agent_id": agent,
            "balance": 1000,
            "escrow": 0,
            "total_earned": 200,
            "total_spent": 200,
            "currency": "credit",
        }
        assert api.get(f"/v1/agents/{agent}", key=key).data["tasks_completed"] == 20
    assert invariants(database_url) == []


def test_deadline_storm_across_two_servers(start_server: Start, database_url: str) -> None:
    """Many tasks pass their deadline at once while publishers cancel them, agents try to
    accept them, wallets are read (each read settles the reader's due tasks) and every
    process's sweeper settles batches: every answer is 200 or 409, never 5xx, and every
    escrow is refunded exactly once. Two server processes on PostgreSQL (one on SQLite)."""
    env = {"AIPOD_SWEEP_INTERVAL_S": "0.2"}
    servers = [start_server(env=env)] + ([start_server(env=env)] if ON_POSTGRES else [])
    api = servers[0].api
    publishers = [api.register(f"storm_pub_{i}") for i in range(6)]
    workers = [api.register(f"storm_worker_{i}") for i in range(4)]
    deadline = int(time.time()) + 10  # room to publish on a loaded machine
    stamp = datetime.fromtimestamp(deadline, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tasks: list[tuple[str, str]] = []
    for key in publishers:
        for _ in range(12):
            tasks.append((key, _publish(api, key, budget=10, deadline=stamp)))

    rng = random.Random(11)
    calls: list[Callable[[Api], Resp]] = []
    for key, task_id in tasks:
        calls.append(lambda a, k=key, t=task_id: a.put(f"/v1/tasks/{t}/cancel", key=k))
        for worker in rng.sample(workers, 2):
            calls.append(lambda a, k=worker, t=task_id: a.put(f"/v1/tasks/{t}/accept", key=k))
    for key in publishers:
        calls += [lambda a, k=key: a.get("/v1/wallet", key=k)] * 3
        calls.append(lambda a, k=key: a.get("/v1/transactions", key=k))
    rng.shuffle(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> Resp:
        client = Api(base_url=servers[i % len(servers)].base_url)
        barrier.wait(timeout=60)
        while time.time() < deadline + 0.02:  # start together, just past the deadline
            time.sleep(0.005)
        return calls[i](client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(run, range(len(calls))))

    assert {r.status for r in results} <= {200, 409}, [r.body for r in results if r.status >= 500]
    for key, task_id in tasks:
        assert api.get(f"/v1/tasks/{task_id}", key=key).data["status"] in ("expired", "cancelled")
    for key in publishers:
        wallet = api.get("/v1/wallet", key=key).data
        assert (wallet["balance"], wallet["escrow"]) == (1000, 0), wallet
    assert invariants(database_url) == []


@pytest.mark.skipif(not ON_POSTGRES, reason="row-lock deadlocks exist on PostgreSQL only")
def test_a_real_deadlock_is_retried_not_answered_500(
    start_server: Start, database_url: str
) -> None:
    """Force a genuine deadlock on the server's complete: an outside transaction holds the
    assignee's account, waits until the request blocks on it, then asks for the task row
    the request holds. PostgreSQL aborts the request's transaction (it waited first, and
    the outside one checks for deadlocks only after 30 s); the server rolls back, runs the
    view again once the outside transaction ends, and answers 200."""
    import psycopg

    server = start_server(env={"AIPOD_LOG_LEVEL": "INFO"})
    api = server.api
    publisher, worker = api.register("dl_pub"), api.register("dl_worker")
    task_id = _publish(api, publisher, budget=40)
    assert api.put(f"/v1/tasks/{task_id}/accept", key=worker).status == 200
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")

    with psycopg.connect(dsn) as outside:
        outside.execute("SET deadlock_timeout = '30s'")
        outside.execute("SELECT 1 FROM accounts WHERE agent_id = 'dl_worker' FOR UPDATE")
        with ThreadPoolExecutor(max_workers=1) as pool:
            done = pool.submit(
                api.put,
                f"/v1/tasks/{task_id}/complete",
                key=worker,
                json={"deliverables": {"n": 1}},
            )
            with psycopg.connect(dsn, autocommit=True) as probe:
                for _ in range(600):  # until the request waits for the account lock
                    waiting = probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> %s",
                        (outside.info.backend_pid,),
                    ).fetchone()
                    if waiting and waiting[0]:
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail("the complete request never waited for the account lock")
            seq = int(task_id.split("_")[1])
            # Blocks until PostgreSQL aborts the request's transaction (deadlock), then
            # gets the task row; the request's retry waits for us to finish.
            outside.execute("SELECT 1 FROM tasks WHERE seq = %s FOR UPDATE", (seq,))
            outside.commit()
            r = done.result(timeout=60)

    assert r.status == 200, r.body
    assert r.data["status"] == "done"
    assert "transaction conflict" in server.log() and "deadlock" in server.log()
    assert api.get("/v1/wallet", key=worker).data["balance"] == 1040
    assert invariants(database_url) == []
