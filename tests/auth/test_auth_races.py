"""Races on the auth write paths, with real threads against the real server process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
from helpers import LiveServer, invariants


def test_same_username_registered_once(
    start_server: Callable[..., LiveServer], database_url: str
) -> None:
    server = start_server()
    barrier = threading.Barrier(12)

    def register(i: int) -> int:
        barrier.wait()
        r = requests.post(
            f"{server.base_url}/v1/auth/register",
            json={"username": "Racer" if i % 2 else "racer", "email": f"r{i}@example.com"},
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(register, range(12)))
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 11, statuses
    # exactly one signup credit was issued, and the ledger still balances
    assert invariants(database_url) == []


def test_last_key_survives_concurrent_revocations(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    first = server.api.register("revoker")
    second = server.api.post("/v1/auth/keys", key=first, json={"label": "two"}).data
    ids = [k["key_id"] for k in server.api.get("/v1/auth/keys", key=first).data["items"]]
    assert len(ids) == 2
    keys = {second["key_id"]: second["api_key"]}
    keys.update({i: first for i in ids if i != second["key_id"]})
    barrier = threading.Barrier(2)

    def revoke(key_id: str) -> int:
        # each key revokes the *other* one: both cannot succeed
        other = next(i for i in ids if i != key_id)
        barrier.wait()
        r = requests.delete(
            f"{server.base_url}/v1/auth/keys/{key_id}",
            headers={"Authorization": f"Bearer {keys[other]}"},
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(revoke, ids))
    assert statuses[0] == 200 and statuses[1] in (401, 409), statuses
    live = [k for k in keys.values() if server.api.get("/v1/wallet", key=k).status == 200]
    assert len(live) == 1
