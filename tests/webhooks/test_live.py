"""Webhook delivery by real server processes: a kill -9 in the middle of deliveries,
two processes sharing the work, and receivers that hang or refuse connections."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests
from helpers import LiveServer, stop_server
from standardwebhooks import Webhook
from webhook_receiver import Receiver, Reply

ENV = {
    "AIPOD_WEBHOOK_ALLOW_PRIVATE": "1",
    "AIPOD_WEBHOOK_RETRY_SCHEDULE": "0,0.05,0.1,0.2,0.2,0.2,0.2,0.2",
    "AIPOD_WEBHOOK_POLL_S": "0.1",
    "AIPOD_WEBHOOK_LEASE_S": "3",
    "AIPOD_WEBHOOK_TIMEOUT_S": "2",
    "AIPOD_WEBHOOK_CONNECT_TIMEOUT_S": "1",
}


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def _hook(server: LiveServer, key: str, url: str) -> dict[str, str]:
    r = server.api.post("/v1/webhooks", key=key, json={"url": url})
    assert r.status == 201, r.body
    return dict(r.data)


def _verifier(secret: str) -> Callable[[bytes, dict[str, str]], object]:
    return lambda body, headers: Webhook(secret).verify(body, headers)


def test_kill_9_during_deliveries_loses_nothing(
    start_server: Callable[..., LiveServer], receivers: list[Receiver]
) -> None:
    """At least once: every event is delivered after a crash and a restart; a
    delivery repeated by the restart carries the same webhook-id; first arrivals stay
    in event order."""
    # Slow enough that the kill lands while deliveries are still queued or in flight.
    receiver = Receiver(lambda _d, _n: Reply(sleep_s=0.1))
    receivers.append(receiver)
    server = start_server(env=ENV)
    key = server.api.register("crashhook")
    hook = _hook(server, key, receiver.url)
    receiver.verify = _verifier(hook["secret"])
    total = 30
    for _ in range(total):
        assert server.api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key).status == 202
    assert receiver.wait_for(lambda ds: len(ds) >= 3)
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=15)
    arrived_before = len(receiver.snapshot())
    assert arrived_before < total  # the crash did interrupt the deliveries
    restarted = start_server(env=ENV)
    assert receiver.wait_for(lambda ds: len({d.headers["webhook-id"] for d in ds}) >= total)
    got = receiver.snapshot()
    assert all(d.verified for d in got)
    first_seen = list(dict.fromkeys(d.headers["webhook-id"] for d in got))
    assert len(first_seen) == total
    numbers = [int(i.removeprefix("evt_")) for i in first_seen]
    assert numbers == sorted(numbers)
    # The log agrees: every delivery succeeded.
    page = restarted.api.get(
        f"/v1/webhooks/{hook['webhook_id']}/deliveries", key=key, params={"page_size": 100}
    ).data
    deadline = time.monotonic() + 30
    while any(d["status"] != "succeeded" for d in page["items"]) and time.monotonic() < deadline:
        time.sleep(0.1)
        page = restarted.api.get(
            f"/v1/webhooks/{hook['webhook_id']}/deliveries", key=key, params={"page_size": 100}
        ).data
    assert page["total"] == total
    assert all(d["status"] == "succeeded" for d in page["items"])


def test_two_processes_deliver_each_event_once(
    start_server: Callable[..., LiveServer], receivers: list[Receiver]
) -> None:
    """Both processes run a worker against one database (on PostgreSQL they claim with
    SKIP LOCKED; on SQLite the single writer serialises the claims): in the normal case
    (no crash, no timeout) each event reaches each webhook exactly once."""
    a = start_server(env=ENV)
    b = start_server(env=ENV)
    hooks = []
    for i in range(3):
        receiver = Receiver()
        receivers.append(receiver)
        key = a.api.register(f"twoproc{i}")
        hook = _hook(a, key, receiver.url)
        receiver.verify = _verifier(hook["secret"])
        hooks.append((receiver, key, hook))
    per_hook = 12
    for n in range(per_hook):
        for _receiver, key, hook in hooks:
            server = a if n % 2 else b
            r = server.api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key)
            assert r.status == 202, r.body
    for receiver, _key, _unused in hooks:
        assert receiver.wait_for(lambda ds: len(ds) >= per_hook)
    time.sleep(1.0)  # let any double send arrive
    for receiver, _key, _unused in hooks:
        got = receiver.snapshot()
        counts = Counter(d.headers["webhook-id"] for d in got)
        assert len(counts) == per_hook and set(counts.values()) == {1}, counts
        assert all(d.verified for d in got)


def test_hanging_and_dead_receivers_delay_no_one(
    start_server: Callable[..., LiveServer], receivers: list[Receiver]
) -> None:
    """One receiver holds each delivery for 30 s, another refuses connections: a third
    webhook is still delivered, and the API keeps answering, while the first hangs."""
    env = {**ENV, "AIPOD_WEBHOOK_TIMEOUT_S": "60", "AIPOD_WEBHOOK_LEASE_S": "120"}
    server = start_server(env=env)
    hanging = Receiver(lambda _d, _n: Reply(sleep_s=30))
    healthy = Receiver()
    receivers += [hanging, healthy]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed again: connections are refused
    k1, k2, k3 = (server.api.register(f"bystander{i}") for i in range(3))
    h1 = _hook(server, k1, hanging.url)
    h2 = _hook(server, k2, f"http://127.0.0.1:{dead_port}/hook")
    h3 = _hook(server, k3, healthy.url)
    for key, hook in ((k1, h1), (k2, h2)):
        for _ in range(3):
            server.api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key)
    assert hanging.wait_for(lambda ds: len(ds) >= 1)
    server.api.post(f"/v1/webhooks/{h3['webhook_id']}/test", key=k3)
    assert healthy.wait_for(lambda ds: len(ds) >= 1, timeout=25)
    # The API answers reads and writes meanwhile.
    assert requests.get(f"{server.base_url}/v1/status", timeout=20).status_code == 200
    assert server.api.get("/v1/webhooks", key=k1).status == 200
    assert server.api.post(f"/v1/webhooks/{h3['webhook_id']}/test", key=k3).status == 202
    assert healthy.wait_for(lambda ds: len(ds) >= 2, timeout=25)
    # All of that happened while the first delivery to the hanging receiver was open.
    assert hanging.replied == 0
    assert len(hanging.snapshot()) == 1  # in order: its next waits for the first
    log = server.api.get(f"/v1/webhooks/{h2['webhook_id']}/deliveries", key=k2).data["items"]
    assert log and all(d["status"] in ("pending", "failed") for d in log)
    assert any(d["error"] and "Refused" in d["error"] for d in log)
    stop_server(server, sig=signal.SIGKILL)
