"""CONTRACT §3 limits against the real server process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import requests
from helpers import LiveServer


def test_per_key_minute_limit(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        fast_limits=False,
        env={"AIPOD_REGISTER_LIMIT": "1000/day", "AIPOD_RATE_LIMIT": "120/minute"},
    )
    key_a = server.api.register("limit_a")
    key_b = server.api.register("limit_b")
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key_a}"}
    for i in range(120):
        r = session.get(f"{server.base_url}/v1/wallet", headers=headers)
        assert r.status_code == 200, (i, r.text)
        assert r.headers["X-RateLimit-Limit"] == "120"
        assert r.headers["X-RateLimit-Remaining"] == str(119 - i)
        assert int(r.headers["X-RateLimit-Reset"]) >= 0
    r = session.get(f"{server.base_url}/v1/wallet", headers=headers)
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == 429 and body["data"] is None
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert r.headers["X-RateLimit-Remaining"] == "0"
    # another key is unaffected
    r = session.get(f"{server.base_url}/v1/wallet", headers={"Authorization": f"Bearer {key_b}"})
    assert r.status_code == 200
    assert r.headers["X-RateLimit-Remaining"] == "119"


HOLD_S = 10  # how long each held request stays in the server


def test_in_flight_limit(start_server: Callable[..., LiveServer]) -> None:
    """Eleven requests of one agent at once, each held in the server: exactly ten are
    let in and one is refused at once (429), whichever arrives last — no sleep or poll
    that guesses when the others have arrived (a poller of the same agent could take a
    slot itself)."""
    server = start_server(env={"AIPOD_MAX_CONCURRENCY": "10", "AIPOD_THREADS": "32"})
    key = server.api.register("inflight")
    other = server.api.register("inflight_other")
    barrier = threading.Barrier(11)

    def slow() -> requests.Response:
        barrier.wait()
        return requests.get(
            f"{server.base_url}/v1/wallet",
            headers={"Authorization": f"Bearer {key}", "X-Debug-Sleep": str(HOLD_S)},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=11) as pool:
        futures = [pool.submit(slow) for _ in range(11)]
        first = next(as_completed(futures))
        r = first.result()
        assert r.status_code == 429, r.text
        assert r.json()["code"] == 429 and r.json()["error"] == "too_many_in_flight"
        assert r.headers["Retry-After"] == "1"
        # refused at once, not queued behind the held requests: they are all still running
        assert not any(f.done() for f in futures if f is not first)
        # another agent still gets through
        r2 = requests.get(
            f"{server.base_url}/v1/wallet", headers={"Authorization": f"Bearer {other}"}, timeout=5
        )
        assert r2.status_code == 200
        results = sorted(f.result().status_code for f in futures)
    assert results == [200] * 10 + [429]
    # slots were released
    r = requests.get(
        f"{server.base_url}/v1/wallet", headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    assert r.status_code == 200


def test_registration_limit_only(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        fast_limits=False,
        env={"AIPOD_REGISTER_LIMIT": "3/day", "AIPOD_RATE_LIMIT": "2/minute"},
    )
    for i in range(3):
        server.api.register(f"reg_{i}")  # the per-minute limit of 2 does not apply
    r = server.api.post(
        "/v1/auth/register", json={"username": "reg_x", "email": "reg_x@example.com"}
    )
    assert r.status == 429 and r.code == 429
    assert int(r.headers["Retry-After"]) > 0
