"""Limits are the agent's, not the key's, and an agent's live keys are capped
(issue 11 item 11). Real server, real threads; Redis-backed on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from helpers import LiveServer


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _live_key_ids(server: LiveServer, key: str) -> set[str]:
    r = server.api.get("/v1/auth/keys", key=key, params={"page_size": 100})
    assert r.status == 200, r.body
    return {item["key_id"] for item in r.data["items"]}


def _new_key(server: LiveServer, key: str, label: str) -> dict[str, str]:
    r = server.api.post("/v1/auth/keys", key=key, json={"label": label})
    assert r.status == 201, r.body
    return dict(r.data)


def test_rate_limit_is_shared_by_an_agents_keys(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        fast_limits=False,
        env={"AIPOD_REGISTER_LIMIT": "1000/day", "AIPOD_RATE_LIMIT": "12/minute"},
    )
    first = server.api.register("many_keys")
    other = server.api.register("one_key")
    keys = [first] + [_new_key(server, first, f"k{i}")["api_key"] for i in range(3)]
    # 3 requests spent minting keys; 9 left for the agent, whichever key is used
    session = requests.Session()
    remaining = []
    for i in range(9):
        r = session.get(f"{server.base_url}/v1/wallet", headers=_auth(keys[i % 4]))
        assert r.status_code == 200, (i, r.text)
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert remaining == list(range(8, -1, -1))
    for key in keys:
        r = session.get(f"{server.base_url}/v1/wallet", headers=_auth(key))
        assert r.status_code == 429 and r.json()["code"] == 429
        assert int(r.headers["Retry-After"]) >= 1
    # another agent has its own budget
    r = session.get(f"{server.base_url}/v1/wallet", headers=_auth(other))
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "11"


def test_in_flight_limit_is_shared_by_an_agents_keys(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(env={"AIPOD_MAX_CONCURRENCY": "3", "AIPOD_THREADS": "16"})
    first = server.api.register("parallel")
    other = server.api.register("parallel_other")
    keys = [first] + [_new_key(server, first, f"p{i}")["api_key"] for i in range(3)]
    barrier = threading.Barrier(3)

    def slow(key: str) -> int:
        barrier.wait()
        # The probe below is the same agent, so it may briefly hold a slot as a slow one
        # arrives: a slow request refused that way tries again until it is inside.
        deadline = time.monotonic() + 30
        while True:
            r = requests.get(
                f"{server.base_url}/v1/wallet",
                headers={**_auth(key), "X-Debug-Sleep": "5"},
                timeout=60,
            )
            if r.status_code != 429 or time.monotonic() > deadline:
                return r.status_code
            time.sleep(0.05)

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(slow, key) for key in keys[:3]]
        # Until the three slow requests are inside, the fourth key still gets through.
        deadline = time.monotonic() + 30
        while True:
            r = requests.get(f"{server.base_url}/v1/wallet", headers=_auth(keys[3]), timeout=30)
            if r.status_code == 429 or time.monotonic() > deadline:
                break
            assert r.status_code == 200, r.text
        assert r.status_code == 429, r.text
        assert r.json()["message"] == "并发请求过多(上限 3),请稍后重试"
        assert r.headers["Retry-After"] == "1"
        assert not any(f.done() for f in futures)  # refused while the three were in flight
        r = requests.get(f"{server.base_url}/v1/wallet", headers=_auth(other), timeout=30)
        assert r.status_code == 200
        assert [f.result() for f in futures] == [200, 200, 200]
    r = requests.get(f"{server.base_url}/v1/wallet", headers=_auth(keys[3]), timeout=30)
    assert r.status_code == 200


def test_active_keys_are_capped(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(env={"AIPOD_MAX_KEYS_PER_AGENT": "5"})
    key = server.api.register("capped")
    made = [_new_key(server, key, f"c{i}") for i in range(4)]
    r = server.api.post("/v1/auth/keys", key=key, json={"label": "one too many"})
    assert r.status == 409 and r.code == 409
    assert r.data == {"limit": 5, "active": 5}
    assert r.message == (
        "每个节点最多 5 个有效 API Key,请先撤销不再使用的 Key(DELETE /v1/auth/keys/{key_id})"
    )
    r = server.api.post("/v1/auth/keys", key=key, json={}, headers={"Accept-Language": "en"})
    assert r.message == (
        "An agent may hold at most 5 active API keys; revoke one you no longer use first "
        "(DELETE /v1/auth/keys/{key_id})"
    )
    assert len(_live_key_ids(server, key)) == 5
    # revoking one makes room for exactly one
    assert server.api.delete(f"/v1/auth/keys/{made[0]['key_id']}", key=key).status == 200
    barrier = threading.Barrier(8)

    def create(i: int) -> int:
        barrier.wait()
        r = requests.post(
            f"{server.base_url}/v1/auth/keys",
            headers=_auth(key),
            json={"label": f"r{i}"},
            timeout=60,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(8)))
    assert sorted(statuses) == [201] + [409] * 7, statuses
    assert len(_live_key_ids(server, key)) == 5
    # another agent is not affected
    assert (
        server.api.post("/v1/auth/keys", key=server.api.register("uncapped"), json={}).status == 201
    )


def _login(server: LiveServer, username: str, password: str) -> requests.Response:
    return requests.post(
        f"{server.base_url}/v1/auth/login",
        json={"username": username, "password": password},
        timeout=60,
    )


def test_login_at_the_cap_recycles_the_oldest_login_key(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(
        env={
            "AIPOD_MAX_KEYS_PER_AGENT": "3",
            "AIPOD_HASH_CONCURRENCY": "8",
            "AIPOD_THREADS": "12",
        }
    )
    signup = server.api.register("loginer", password="loginer-pass")
    first = _login(server, "loginer", "loginer-pass").json()["data"]
    second = _login(server, "loginer", "loginer-pass").json()["data"]
    assert first["revoked_key_ids"] == [] and second["revoked_key_ids"] == []
    # at the cap (signup + 2 login keys): the next login revokes the oldest login key
    r = _login(server, "loginer", "loginer-pass")
    assert r.status_code == 200, r.text
    third = r.json()["data"]
    assert third["revoked_key_ids"] == [first["key_id"]]
    assert server.api.get("/v1/wallet", key=first["api_key"]).status == 401
    for key in (signup, second["api_key"], third["api_key"]):
        assert server.api.get("/v1/wallet", key=key).status == 200
    live = _live_key_ids(server, signup)
    assert len(live) == 3 and {second["key_id"], third["key_id"]} < live
    (signup_id,) = live - {second["key_id"], third["key_id"]}

    # Logins racing at the cap: each recycles a different login key, the cap holds, and
    # the signup key is never touched.
    barrier = threading.Barrier(4)

    def race(_: int) -> dict[str, Any]:
        barrier.wait()
        r = _login(server, "loginer", "loginer-pass")
        assert r.status_code == 200, r.text
        return dict(r.json()["data"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        raced = list(pool.map(race, range(4)))
    revoked = [k for d in raced for k in d["revoked_key_ids"]]
    assert sorted(len(d["revoked_key_ids"]) for d in raced) == [1, 1, 1, 1], raced
    raced_ids = {str(d["key_id"]) for d in raced}
    live = _live_key_ids(server, signup)
    assert len(set(revoked)) == 4 and not set(revoked) & live
    assert signup_id in live and len(live) == 3
    assert set(revoked) | (live - {signup_id}) == {second["key_id"], third["key_id"]} | raced_ids

    # Keys made on purpose are never recycled by a login: with none from login left, 409.
    for key_id in live - {signup_id}:
        assert server.api.delete(f"/v1/auth/keys/{key_id}", key=signup).status == 200
    _new_key(server, signup, "ci")
    _new_key(server, signup, "laptop")
    kept = _live_key_ids(server, signup)
    assert len(kept) == 3
    r = _login(server, "loginer", "loginer-pass")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == 409 and body["data"] == {"limit": 3, "active": 3}
    assert body["message"] == (
        "该节点已有 3 个有效 API Key,且都不是登录签发的,登录不会自动撤销它们;"
        "请先撤销一个 Key(DELETE /v1/auth/keys/{key_id})"
    )
    assert _live_key_ids(server, signup) == kept
