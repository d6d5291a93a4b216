"""Login throttling per (username, client IP) under a per-username ceiling, counted before
the password is checked (issue 11 item 10). Real server, real threads; on PostgreSQL the
counters live in Redis.

Client IPs come from `X-Forwarded-For` with `AIPOD_TRUSTED_PROXIES=1` (the server trusts
one proxy hop, as behind a reverse proxy).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
from helpers import LiveServer


def _login(server: LiveServer, ip: str, password: str, username: str = "demo") -> requests.Response:
    return requests.post(
        f"{server.base_url}/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": ip},
        timeout=60,
    )


def _throttled(r: requests.Response) -> bool:
    if r.status_code != 429:
        return False
    body = r.json()
    assert body["code"] == 429 and body["data"] is None
    assert body["message"].startswith("登录失败次数过多")
    assert int(r.headers["Retry-After"]) >= 1
    return True


def test_guesses_from_one_ip_do_not_lock_the_owner_out(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(
        demo=True,
        env={
            "AIPOD_TRUSTED_PROXIES": "1",
            "AIPOD_LOGIN_LIMIT": "10/minute",
            "AIPOD_LOGIN_USER_LIMIT": "25/hour",
        },
    )
    attacker = "203.0.113.7"
    for i in range(10):
        r = _login(server, attacker, f"wrong-{i}")
        assert r.status_code == 401, (i, r.text)
    assert _throttled(_login(server, attacker, "wrong-10"))
    # the attacker's address is throttled even with the right password ...
    assert _throttled(_login(server, attacker, "demo"))
    # ... but the owner, from another address, logs in
    r = _login(server, "198.51.100.20", "demo")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["node_id"] == "demo"
    # The per-username ceiling (25/hour) counts every attempt from every address: 10 from
    # the attacker and the owner's one so far (refused attempts are not counted).
    for i in range(14):
        r = _login(server, f"192.0.2.{i + 1}", f"spray-{i}")
        assert r.status_code == 401, (i, r.text)
    assert _throttled(_login(server, "198.51.100.99", "demo"))
    # other usernames are not affected by demo's ceiling
    server.api.register("bystander", password="bystander-pass")
    r = _login(server, attacker, "bystander-pass", username="bystander")
    assert r.status_code == 200, r.text


def test_simultaneous_guesses_are_counted_before_checking(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(
        demo=True,
        env={
            "AIPOD_TRUSTED_PROXIES": "1",
            "AIPOD_LOGIN_LIMIT": "10/minute",
            "AIPOD_LOGIN_USER_LIMIT": "1000/hour",
            # enough threads and hashing slots that every guess reaches the throttle
            "AIPOD_HASH_CONCURRENCY": "64",
            "AIPOD_THREADS": "48",
        },
    )
    ip = "203.0.113.40"
    barrier = threading.Barrier(40)

    def guess(i: int) -> int:
        barrier.wait()
        return _login(server, ip, f"guess-{i}").status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(guess, range(40)))
    # A 401 is a password that was checked: exactly the limit, never more.
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 30, statuses
    assert _throttled(_login(server, ip, "one-more-guess"))
    assert _throttled(_login(server, ip, "demo"))
    assert _login(server, "198.51.100.41", "demo").status_code == 200
