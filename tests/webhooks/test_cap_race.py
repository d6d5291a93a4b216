"""The per-agent webhook cap under a race: one agent registering many webhooks at once,
from real threads against a real server, ends with exactly the cap and the rest refused
with `too_many_webhooks` (never a 500, never one over)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from helpers import Api, LiveServer, Resp

CAP = 3
CONTENDERS = 12


def test_concurrent_registrations_stop_at_the_cap(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        env={
            "AIPOD_WEBHOOK_MAX_PER_AGENT": str(CAP),
            "AIPOD_WEBHOOK_ALLOW_PRIVATE": "1",
            "AIPOD_WEBHOOK_DELIVERY": "0",
        }
    )
    key = server.api.register("capracer")
    barrier = threading.Barrier(CONTENDERS)

    def create(i: int) -> Resp:
        api = Api(base_url=server.base_url)  # one connection per thread
        barrier.wait(timeout=30)
        return api.post("/v1/webhooks", key=key, json={"url": f"http://127.0.0.1:9/hook/{i}"})

    with ThreadPoolExecutor(max_workers=CONTENDERS) as pool:
        answers = list(pool.map(create, range(CONTENDERS)))

    created = [r for r in answers if r.status == 201]
    refused = [r for r in answers if r.status != 201]
    assert len(created) == CAP, [(r.status, r.body) for r in answers]
    assert all(r.status == 409 and r.body["error"] == "too_many_webhooks" for r in refused), [
        (r.status, r.body) for r in refused
    ]
    listed = server.api.get("/v1/webhooks", key=key)
    assert listed.status == 200 and listed.data["total"] == CAP
    assert sorted(h["webhook_id"] for h in listed.data["items"]) == sorted(
        r.data["webhook_id"] for r in created
    )
