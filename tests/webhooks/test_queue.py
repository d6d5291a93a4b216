"""The delivery queue's transactions, driven by hand (no worker threads, no clock):
leases, takeover after a crash, order, and a late result of a lost lease."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers import Api

from aipod_api.core.db import transaction
from aipod_api.webhooks import service
from aipod_api.webhooks.sender import Outcome

DELAYS = (0.0, 1.0, 1.0)
NOW = 1_800_000_000_000  # ms


def _setup(make_app: Callable[..., Any], events: int) -> tuple[Any, Api, str]:
    app = make_app(webhook_allow_private=True, webhook_delivery=False)
    api = Api(test_client=app.test_client())
    key = api.register("queueowner")
    hook = api.post("/v1/webhooks", key=key, json={"url": "http://127.0.0.1:9/"}).data
    for _ in range(events):
        assert api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key).status == 202
    engine = app.extensions["aipod"].engine
    with transaction(engine, write=True) as conn:
        assert service.dispatch(conn, now=NOW // 1000) == events
    return engine, api, key


def _claim(engine: Any, owner: str, now_ms: int) -> list[service.Job]:
    with transaction(engine, write=True) as conn:
        return service.claim(conn, owner=owner, now_ms=now_ms, lease_ms=10_000, limit=10)


def _record(engine: Any, owner: str, job: service.Job, ok: bool, now_ms: int) -> Any:
    outcome = Outcome(200 if ok else 500, 3, None if ok else "HTTP 500")
    with transaction(engine, write=True) as conn:
        return service.record(
            conn,
            owner=owner,
            job=job,
            outcome=outcome,
            now_ms=now_ms,
            delays=DELAYS,
            max_failures=10,
            lease_ms=10_000,
        )


def test_one_lease_per_webhook_in_order_and_takeover(make_app: Callable[..., Any]) -> None:
    engine, api, key = _setup(make_app, 3)
    (a,) = _claim(engine, "A", NOW)
    # While A holds the lease nobody else gets the webhook, even its later deliveries.
    assert _claim(engine, "B", NOW + 5_000) == []
    # A dies; after the lease B takes over the same delivery (same webhook-id, body).
    (b,) = _claim(engine, "B", NOW + 10_001)
    assert (b.delivery_seq, b.msg_id, b.payload) == (a.delivery_seq, a.msg_id, a.payload)
    # B succeeds and is handed the next delivery at once, in order.
    nxt = _record(engine, "B", b, True, NOW + 10_002)
    assert nxt is not None and nxt.delivery_seq == b.delivery_seq + 1
    # A's late answer about the first delivery changes nothing (it was recorded by B).
    assert _record(engine, "A", a, False, NOW + 10_003) is None
    log = api.get("/v1/webhooks/wh_001/deliveries", key=key).data["items"]
    first = log[-1]
    assert first["status"] == "succeeded" and first["attempts"] == 1
    # B still holds the lease for the second one: no one else may claim it.
    assert _claim(engine, "C", NOW + 10_004) == []
    # A failure schedules a retry by the schedule and releases the lease.
    assert _record(engine, "B", nxt, False, NOW + 10_005) is None
    assert _claim(engine, "C", NOW + 10_006) == []  # not due before 1 s
    (retry,) = _claim(engine, "C", NOW + 10_005 + 1_200)
    assert retry.delivery_seq == nxt.delivery_seq and retry.attempts == 1


def test_deleting_a_webhook_while_sending(make_app: Callable[..., Any]) -> None:
    engine, api, key = _setup(make_app, 1)
    (job,) = _claim(engine, "A", NOW)
    assert api.delete("/v1/webhooks/wh_001", key=key).status == 200
    assert _record(engine, "A", job, True, NOW + 1) is None
