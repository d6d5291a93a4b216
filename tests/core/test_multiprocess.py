"""Scale-out (issue #5): several server processes on one PostgreSQL and one Redis.

These run in the PostgreSQL + Redis pass of the suite (`AIPOD_TEST_BACKEND=postgresql`);
on the SQLite pass they are skipped, because per-process limits are exactly what the
multi-process setup forbids.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import LiveServer, invariants, stop_server

pytestmark = pytest.mark.skipif(
    os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() != "postgresql",
    reason="multi-process tests need PostgreSQL + Redis: run with AIPOD_TEST_BACKEND=postgresql",
)


def _two(start_server: Callable[..., LiveServer], **kw: object) -> tuple[LiveServer, LiveServer]:
    return start_server(**kw), start_server(**kw)


def test_accept_race_across_processes(
    start_server: Callable[..., LiveServer], database_url: str
) -> None:
    a, b = _two(start_server)
    publisher = a.api.register("mp_publisher")
    task = a.api.post("/v1/tasks", key=publisher, json={"title": "跨进程抢单", "budget": 100})
    assert task.status == 201, task.body
    task_id = task.data["task_id"]
    keys = [(a if i % 2 else b).api.register(f"mp_agent_{i:02d}") for i in range(16)]
    barrier = threading.Barrier(16)

    def accept(i: int) -> int:
        server = a if i % 2 else b
        barrier.wait()
        r = requests.put(
            f"{server.base_url}/v1/tasks/{task_id}/accept",
            headers={"Authorization": f"Bearer {keys[i]}"},
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(accept, range(16)))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 15, statuses
    got = a.api.get(f"/v1/tasks/{task_id}", key=publisher)
    assert got.data["status"] == "progress"
    assert invariants(database_url) == []


def test_rate_limit_is_shared(start_server: Callable[..., LiveServer]) -> None:
    a, b = _two(
        start_server,
        fast_limits=False,
        env={
            "AIPOD_RATE_LIMIT": "120/minute",
            "AIPOD_REGISTER_LIMIT": "1000/day",
            "AIPOD_MAX_CONCURRENCY": "50",
        },
    )
    key = a.api.register("mp_limited")
    headers = {"Authorization": f"Bearer {key}"}
    sessions = [requests.Session(), requests.Session()]

    def hit(i: int) -> int:
        server = (a, b)[i % 2]
        return sessions[i % 2].get(f"{server.base_url}/v1/wallet", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(hit, range(130)))
    assert statuses.count(200) == 120, statuses
    assert statuses.count(429) == 10, statuses


def test_in_flight_cap_is_shared(start_server: Callable[..., LiveServer]) -> None:
    a, b = _two(start_server, env={"AIPOD_MAX_CONCURRENCY": "4", "AIPOD_THREADS": "16"})
    key = a.api.register("mp_inflight")
    headers = {"Authorization": f"Bearer {key}", "X-Debug-Sleep": "3"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [
            pool.submit(
                requests.get, f"{(a, b)[i % 2].base_url}/v1/wallet", headers=headers, timeout=30
            )
            for i in range(4)
        ]
        time.sleep(1.5)
        for server in (a, b):
            r = requests.get(
                f"{server.base_url}/v1/wallet", headers={"Authorization": f"Bearer {key}"}
            )
            assert r.status_code == 429, r.text
        assert [f.result().status_code for f in futures] == [200] * 4


def test_revocation_is_immediate_everywhere(start_server: Callable[..., LiveServer]) -> None:
    a, b = _two(start_server)
    key = a.api.register("mp_revoker")
    extra = b.api.post("/v1/auth/keys", key=key, json={"label": "second"}).data
    # warm both processes' caches with the extra key
    for server in (a, b):
        for _ in range(3):
            assert server.api.get("/v1/wallet", key=extra["api_key"]).status == 200
    r = a.api.delete(f"/v1/auth/keys/{extra['key_id']}", key=key)
    assert r.status == 200
    assert b.api.get("/v1/wallet", key=extra["api_key"]).status == 401
    assert a.api.get("/v1/wallet", key=extra["api_key"]).status == 401
    assert b.api.get("/v1/wallet", key=key).status == 200


def test_workers_flag_runs_several_processes(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(args=["--workers", "2"])
    key = server.api.register("mp_workers")
    for _ in range(20):
        assert server.api.get("/v1/wallet", key=key).status == 200


def test_crash_loses_no_acknowledged_write(
    start_server: Callable[..., LiveServer], database_url: str
) -> None:
    from helpers import free_port

    port = free_port()
    server = start_server(port=port)
    publisher = server.api.register("crash_publisher")
    acknowledged_agents: list[str] = []
    acknowledged_tasks: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 2:
                    r = session.post(
                        f"{server.base_url}/v1/auth/register",
                        json={"username": f"crash_{n}_{i}", "email": f"c{n}_{i}@example.com"},
                        timeout=10,
                    )
                    if r.status_code == 201:
                        with lock:
                            acknowledged_agents.append(r.json()["data"]["node_id"])
                else:
                    r = session.post(
                        f"{server.base_url}/v1/tasks",
                        headers={"Authorization": f"Bearer {publisher}"},
                        json={"title": f"崩溃测试 {n}-{i}", "budget": 0.01},
                        timeout=10,
                    )
                    if r.status_code == 201:
                        with lock:
                            acknowledged_tasks.append(r.json()["data"]["task_id"])
            except requests.RequestException:
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    time.sleep(3)
    stop_server(server, sig=signal.SIGKILL)  # kill -9 the whole process group mid-load
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert acknowledged_agents and acknowledged_tasks
    assert invariants(database_url) == []

    again = start_server(port=port)
    for agent_id in acknowledged_agents:
        assert again.api.get(f"/v1/agents/{agent_id}", key=publisher).status == 200, agent_id
    for task_id in acknowledged_tasks:
        assert again.api.get(f"/v1/tasks/{task_id}", key=publisher).status == 200, task_id
    wallet = again.api.get("/v1/wallet", key=publisher).data
    # Every acknowledged task still holds its escrow (a few more may have committed
    # without their answer arriving), and not a cent was created or lost.
    assert round(wallet["escrow"] * 100) >= len(acknowledged_tasks)
    assert round((wallet["balance"] + wallet["escrow"]) * 100) == 1000 * 100
    assert invariants(database_url) == []
