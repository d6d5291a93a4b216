"""Idempotency keys against the real server process, with real threads and sockets.

- the same key from 16 threads at once: one effect, one stored answer, the others get
  409 `idempotency_key_in_use` or the replay;
- a publish whose answer is lost (the client never reads it) and is retried;
- a registration whose answer is lost: the retry ends with one working key;
- an accept retried by its winner (and by its losers).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import requests
from helpers import LiveServer, invariants
from sqlalchemy import Engine, func, select

from aipod_api.auth.service import hash_key
from aipod_api.core.db import make_null_pool_engine, transaction
from aipod_api.core.tables import api_keys, idempotency_keys, tasks

Start = Callable[..., LiveServer]
IK = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


@contextmanager
def database(url: str) -> Iterator[Engine]:
    engine = make_null_pool_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _rows(url: str, table: Any, *cond: Any) -> list[Any]:
    with database(url) as engine, transaction(engine, write=False) as conn:
        return list(conn.execute(select(table).where(*cond)))


def _count(url: str, table: Any, *cond: Any) -> int:
    with database(url) as engine, transaction(engine, write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*cond)).scalar())


def _race(n: int, call: Callable[[requests.Session], requests.Response]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run(_: int) -> requests.Response:
        with requests.Session() as session:  # one connection per thread
            barrier.wait(timeout=30)
            return call(session)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def _send_unread(base_url: str, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    """Send a request on a raw socket and return the socket unread: the caller drops
    the answer by closing it (a response lost on the way back)."""
    url = urllib.parse.urlsplit(base_url)
    payload = json.dumps(body).encode()
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    return sock


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sixteen_threads_one_key_one_effect(start_server: Start, database_url: str) -> None:
    server = start_server()
    key = server.api.register("racer")
    body = {"title": "same key", "budget": 150}
    headers = {"Authorization": f"Bearer {key}", IK: "0f9e2c34-16-threads"}

    results = _race(
        16, lambda s: s.post(f"{server.base_url}/v1/tasks", json=body, headers=headers, timeout=60)
    )

    ok = [r for r in results if r.status_code == 201]
    busy = [r for r in results if r.status_code == 409]
    assert len(ok) + len(busy) == 16, [(r.status_code, r.text) for r in results]
    assert all(r.json()["error"] == "idempotency_key_in_use" for r in busy)
    assert all(r.headers["Retry-After"] == "1" for r in busy)
    originals = [r for r in ok if REPLAYED not in r.headers]
    assert len(originals) == 1, [r.headers for r in ok]
    assert all(r.headers[REPLAYED] == "true" for r in ok if r is not originals[0])
    assert {r.content for r in ok} == {originals[0].content}  # byte for byte
    # Once it is done, every retry is the replay.
    late = requests.post(f"{server.base_url}/v1/tasks", json=body, headers=headers, timeout=60)
    assert late.status_code == 201 and late.headers[REPLAYED] == "true"
    assert late.content == originals[0].content
    # One effect: one task, one escrow hold; one stored answer.
    assert _count(database_url, tasks) == 1
    wallet = server.api.get("/v1/wallet", key=key).data
    assert (wallet["balance"], wallet["escrow"]) == (850, 150)
    rows = _rows(database_url, idempotency_keys)
    assert [(r.state, r.status) for r in rows] == [("done", 201)]
    assert rows[0].body == originals[0].content
    assert invariants(database_url) == []


def test_publish_retried_after_a_lost_response(start_server: Start, database_url: str) -> None:
    server = start_server()
    key = server.api.register("unlucky")
    body = {"title": "lost answer", "budget": 200}
    headers = {"Authorization": f"Bearer {key}", IK: "publish-lost-1"}
    sock = _send_unread(server.base_url, "POST", "/v1/tasks", headers, body)
    try:
        _wait_for(lambda: _count(database_url, tasks) == 1, "the first publish")
    finally:
        sock.close()  # the answer is never read
    retry = requests.post(f"{server.base_url}/v1/tasks", json=body, headers=headers, timeout=60)
    assert retry.status_code == 201, retry.text
    assert retry.headers[REPLAYED] == "true"
    [task] = _rows(database_url, tasks)
    assert retry.json()["data"]["task_id"] == f"task_{task.seq:03d}"
    # The retry without the header is what used to happen: a second task and escrow.
    wallet = server.api.get("/v1/wallet", key=key).data
    assert (wallet["balance"], wallet["escrow"]) == (800, 200)
    assert _count(database_url, tasks) == 1
    assert invariants(database_url) == []


def test_register_retried_after_a_lost_response_ends_with_one_working_key(
    start_server: Start, database_url: str
) -> None:
    server = start_server()
    observer = server.api.register("observer")
    body = {"username": "newcomer", "email": "newcomer@example.com"}
    headers = {IK: "register-lost-1"}
    sock = _send_unread(server.base_url, "POST", "/v1/auth/register", headers, body)
    try:
        _wait_for(
            lambda: server.api.get("/v1/agents/newcomer", key=observer).status == 200,
            "the first registration",
        )
    finally:
        sock.close()
    [lost_key] = _rows(database_url, api_keys, api_keys.c.agent_id == "newcomer")
    url = f"{server.base_url}/v1/auth/register"
    retry = requests.post(url, json=body, headers=headers, timeout=60)
    assert retry.status_code == 201, retry.text
    assert retry.headers[REPLAYED] == "true"
    data = retry.json()["data"]
    assert data["node_id"] == "newcomer"
    wallet = server.api.get("/v1/wallet", key=data["api_key"])
    assert wallet.status == 200 and wallet.data["balance"] == 1000
    keys = _rows(database_url, api_keys, api_keys.c.agent_id == "newcomer")
    live = [k for k in keys if k.revoked_at is None]
    assert [k.key_hash for k in live] == [hash_key(data["api_key"])]
    assert [k.seq for k in keys if k.revoked_at is not None] == [lost_key.seq]
    assert (
        _count(database_url, idempotency_keys, idempotency_keys.c.body.contains(b"fg_live_")) == 0
    )

    # A received (unused) first key no longer works after a retry with the same key.
    other = {"username": "second", "email": "second@example.com"}
    first = requests.post(url, json=other, headers={IK: "register-2"}, timeout=60)
    again = requests.post(url, json=other, headers={IK: "register-2"}, timeout=60)
    assert first.status_code == again.status_code == 201
    assert server.api.get("/v1/wallet", key=first.json()["data"]["api_key"]).status == 401
    assert server.api.get("/v1/wallet", key=again.json()["data"]["api_key"]).status == 200
    assert invariants(database_url) == []


def test_sixteen_concurrent_registrations_with_one_key(
    start_server: Start, database_url: str
) -> None:
    server = start_server()
    body = {"username": "crowd", "email": "crowd@example.com"}
    url = f"{server.base_url}/v1/auth/register"
    results = _race(16, lambda s: s.post(url, json=body, headers={IK: "crowd-1"}, timeout=60))
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, [r.text for r in results]
    assert all(
        r.json()["error"] == "idempotency_key_in_use" for r in results if r.status_code == 409
    )
    assert sum(1 for r in results if r.status_code == 201 and REPLAYED not in r.headers) == 1
    # One agent, one signup credit, and exactly one live key: the last one handed out.
    issued = [r.json()["data"]["api_key"] for r in results if r.status_code == 201]
    working = [k for k in issued if server.api.get("/v1/wallet", key=k).status == 200]
    assert len(working) == 1
    live = _rows(database_url, api_keys, api_keys.c.revoked_at.is_(None))
    assert [k.key_hash for k in live] == [hash_key(working[0])]
    assert invariants(database_url) == []


def test_accept_retried_by_its_winner_gets_the_stored_200(
    start_server: Start, database_url: str
) -> None:
    server = start_server()
    api = server.api
    publisher = api.register("publisher")
    racers = [api.register(f"racer_{i:02d}") for i in range(16)]
    task_id = api.post("/v1/tasks", key=publisher, json={"title": "t", "budget": 100}).data[
        "task_id"
    ]
    url = f"{server.base_url}/v1/tasks/{task_id}/accept"
    barrier = threading.Barrier(16)

    def accept(key: str) -> requests.Response:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            # The same key string for everyone: keys belong to their caller.
            return session.put(
                url, headers={"Authorization": f"Bearer {key}", IK: "accept-1"}, timeout=60
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        first = list(pool.map(accept, racers))
    assert sorted(r.status_code for r in first) == [200] + [409] * 15
    for key, answer in zip(racers, first, strict=True):
        retry = requests.put(
            url, headers={"Authorization": f"Bearer {key}", IK: "accept-1"}, timeout=60
        )
        assert retry.status_code == answer.status_code
        assert retry.headers[REPLAYED] == "true"
        assert retry.content == answer.content
    winner = next(r for r in first if r.status_code == 200).json()["data"]["assignee_id"]
    task = api.get(f"/v1/tasks/{task_id}", key=publisher).data
    assert task["status"] == "progress" and task["assignee_id"] == winner
    assert _count(database_url, idempotency_keys) == 16
    assert invariants(database_url) == []
