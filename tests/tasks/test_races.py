"""Races with real threads against the real server process (CONTRACT §4, §5).

Each scenario lines the contenders up on a `threading.Barrier` and fires at once; every
thread has its own HTTP session. After each scenario the §5 invariants are checked straight
against the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from helpers import Api, LiveServer, Resp, invariants

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
