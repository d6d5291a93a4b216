"""Deliveries to real local HTTP receivers from the app's background worker: signatures
verified by the `standardwebhooks` package, order, retries with the (compressed)
schedule, Retry-After, 410 and auto-disable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from helpers import Api
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_receiver import Delivery, Receiver, Reply

from aipod_api.core.db import transaction
from aipod_api.events import service as events

FAST = {
    "webhook_allow_private": True,
    "webhook_retry_schedule": "0,0.05,0.05,0.05,0.05,0.05",
    "webhook_poll_s": 0.05,
    "webhook_lease_s": 10.0,
    "webhook_timeout_s": 5.0,
}


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


@pytest.fixture
def fast_api(make_app: Callable[..., Any]) -> Callable[..., Api]:
    def build(**overrides: Any) -> Api:
        return Api(test_client=make_app(**{**FAST, **overrides}).test_client())

    return build


def _hook(api: Api, key: str, url: str, types: list[str] | None = None) -> dict[str, Any]:
    r = api.post("/v1/webhooks", key=key, json={"url": url, "types": types or []})
    assert r.status == 201, r.body
    return dict(r.data)


def _ids(deliveries: list[Delivery]) -> list[str]:
    return [d.headers["webhook-id"] for d in deliveries]


def _log(api: Api, key: str, webhook_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/v1/webhooks/{webhook_id}/deliveries", key=key).data["items"])


def test_signed_deliveries_verify_with_standardwebhooks_in_order(
    fast_api: Callable[..., Api], receivers: list[Receiver]
) -> None:
    api = fast_api()
    key = api.register("verifier")
    secret_box: dict[str, str] = {}
    receiver = Receiver(verify=lambda body, headers: Webhook(secret_box["s"]).verify(body, headers))
    receivers.append(receiver)
    hook = _hook(api, key, receiver.url)
    secret_box["s"] = hook["secret"]
    for _ in range(5):
        assert api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key).status == 202
    # A domain event too: publishing a task debits the wallet (escrow).
    r = api.post(
        "/v1/tasks",
        key=key,
        json={"title": "t", "description": "d", "budget": 10, "deadline": "2099-01-01T00:00:00Z"},
    )
    assert r.status == 201, r.body
    assert receiver.wait_for(lambda ds: len(ds) >= 7)
    time.sleep(0.2)  # nothing more is due; a duplicate would show up meanwhile
    got = receiver.snapshot()
    assert all(d.verified for d in got), [d.verified for d in got]
    bodies = [orjson.loads(d.body) for d in got]
    types = [b["type"] for b in bodies]
    assert types[:5] == ["webhook.test"] * 5
    assert sorted(types[5:]) == ["task.published", "wallet.debited"]
    # In order, each once; the id is the event's feed cursor.
    numbers = [int(i.removeprefix("evt_")) for i in _ids(got)]
    assert numbers == sorted(set(numbers))
    assert [b["id"] for b in bodies] == numbers
    assert bodies[0]["data"]["webhook"]["webhook_id"] == hook["webhook_id"]
    assert set(bodies[0]) == {"id", "type", "timestamp", "data"}
    # The receiver refuses the same delivery tampered, or replayed later.
    sample = got[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(sample.body.replace(b"test", b"tent"), sample.headers)
    stale = {**sample.headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(sample.body, stale)
    log = _log(api, key, hook["webhook_id"])
    assert len(log) == len(got)
    assert all(d["status"] == "succeeded" and d["attempts"] == 1 for d in log)
    assert all(d["response_status"] == 200 and d["latency_ms"] is not None for d in log)


def test_types_filter_and_tests_reach_only_their_webhook(
    fast_api: Callable[..., Api], receivers: list[Receiver]
) -> None:
    api = fast_api()
    key = api.register("filterer")
    wallet_only, tests_only = Receiver(), Receiver()
    receivers += [wallet_only, tests_only]
    w1 = _hook(api, key, wallet_only.url, ["wallet.debited"])
    w2 = _hook(api, key, tests_only.url, ["rating.created"])
    api.post(f"/v1/webhooks/{w2['webhook_id']}/test", key=key)
    api.post(
        "/v1/tasks",
        key=key,
        json={"title": "t", "description": "d", "budget": 10, "deadline": "2099-01-01T00:00:00Z"},
    )
    api.post(f"/v1/webhooks/{w1['webhook_id']}/test", key=key)
    assert wallet_only.wait_for(lambda ds: len(ds) >= 2)
    assert tests_only.wait_for(lambda ds: len(ds) >= 1)
    time.sleep(0.3)  # let anything wrongly queued arrive too
    a = [orjson.loads(d.body) for d in wallet_only.snapshot()]
    b = [orjson.loads(d.body) for d in tests_only.snapshot()]
    assert [e["type"] for e in a] == ["wallet.debited", "webhook.test"]
    assert a[1]["data"]["webhook"]["webhook_id"] == w1["webhook_id"]
    assert [e["type"] for e in b] == ["webhook.test"]
    assert b[0]["data"]["webhook"]["webhook_id"] == w2["webhook_id"]


def test_retries_keep_the_webhook_id_and_are_logged(
    fast_api: Callable[..., Api], receivers: list[Receiver]
) -> None:
    api = fast_api()
    key = api.register("retrier")
    receiver = Receiver(lambda _d, n: Reply(500 if n < 2 else 200))
    receivers.append(receiver)
    hook = _hook(api, key, receiver.url)
    api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key)
    assert receiver.wait_for(lambda ds: len(ds) >= 3)
    got = receiver.snapshot()
    assert len(set(_ids(got))) == 1
    assert len({d.body for d in got}) == 1
    stamps = [int(d.headers["webhook-timestamp"]) for d in got]
    assert stamps == sorted(stamps)

    def settled() -> dict[str, Any]:
        (item,) = _log(api, key, hook["webhook_id"])
        return item

    deadline = time.monotonic() + 30
    while settled()["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    item = settled()
    assert item["status"] == "succeeded" and item["attempts"] == 3
    assert item["response_status"] == 200 and item["error"] is None
    assert api.get(f"/v1/webhooks/{hook['webhook_id']}", key=key).data["consecutive_failures"] == 0


def test_retry_after_is_honoured(fast_api: Callable[..., Api], receivers: list[Receiver]) -> None:
    api = fast_api()
    key = api.register("throttled")
    receiver = Receiver(lambda _d, n: Reply(429, {"Retry-After": "2"}) if n == 0 else Reply(200))
    receivers.append(receiver)
    hook = _hook(api, key, receiver.url)
    api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key)
    assert receiver.wait_for(lambda ds: len(ds) >= 1)
    # The worker records the answer after the receiver has it: wait for the record (not a
    # fixed pause, which a busy machine outlasts).
    deadline = time.monotonic() + 30
    while (log := _log(api, key, hook["webhook_id"]))[0]["response_status"] is None:
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    (item,) = log
    assert item["status"] == "pending" and item["response_status"] == 429
    assert item["error"] == "HTTP 429"
    # The schedule says 50 ms; the receiver asked for 2 s, so nothing came meanwhile.
    first = receiver.snapshot()[0]
    assert all(d.received_at - first.received_at >= 1.9 for d in receiver.snapshot()[1:])
    assert receiver.wait_for(lambda ds: len(ds) >= 2)
    second = receiver.snapshot()[1]
    assert second.received_at - first.received_at >= 1.9


def _feed(api: Api, agent_key: str) -> list[Any]:
    state = api.test_client.application.extensions["aipod"]
    agent = api.get("/v1/agents/me", key=agent_key)
    agent_id = agent.data["agent_id"] if agent.status == 200 else None
    assert agent_id is not None, agent.body
    with transaction(state.engine, write=False) as conn:
        feed = events.list_for_agent(
            conn, agent_id, after=0, types=None, limit=100, now=state.now()
        )
    return feed.items


def test_410_disables_at_once_and_says_so(
    fast_api: Callable[..., Api], receivers: list[Receiver]
) -> None:
    api = fast_api()
    key = api.register("gonehook")
    gone, watcher = Receiver(lambda _d, _n: Reply(410)), Receiver()
    receivers += [gone, watcher]
    hook = _hook(api, key, gone.url)
    other = _hook(api, key, watcher.url, ["webhook.disabled"])
    api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key)
    # The agent's other webhook hears of it.
    assert watcher.wait_for(lambda ds: len(ds) >= 1)
    event = orjson.loads(watcher.snapshot()[0].body)
    assert event["type"] == "webhook.disabled"
    assert event["data"]["webhook"]["webhook_id"] == hook["webhook_id"]
    assert event["data"]["webhook"]["disabled_reason"] == "gone"
    assert len(gone.snapshot()) == 1
    got = api.get(f"/v1/webhooks/{hook['webhook_id']}", key=key).data
    assert got["enabled"] is False and got["disabled_reason"] == "gone"
    (item,) = _log(api, key, hook["webhook_id"])
    assert item["status"] == "failed" and item["response_status"] == 410
    assert other["enabled"] is True
    assert "webhook.disabled" in [e.type for e in _feed(api, key)]
    # Disabled: no test, no replay, until re-enabled.
    assert api.post(f"/v1/webhooks/{hook['webhook_id']}/test", key=key).status == 409
    r = api.post(
        f"/v1/webhooks/{hook['webhook_id']}/deliveries/{item['delivery_id']}/replay", key=key
    )
    assert r.status == 409 and r.body["error"] == "webhook_disabled"


def test_auto_disable_after_consecutive_failures_then_reenable_and_replay(
    fast_api: Callable[..., Api], receivers: list[Receiver]
) -> None:
    api = fast_api(webhook_max_failures=3)
    key = api.register("flaky")
    healthy = {"ok": False}
    receiver = Receiver(lambda _d, _n: Reply(200 if healthy["ok"] else 503))
    receivers.append(receiver)
    hook = _hook(api, key, receiver.url)
    hid = hook["webhook_id"]
    api.post(f"/v1/webhooks/{hid}/test", key=key)
    deadline = time.monotonic() + 30
    while api.get(f"/v1/webhooks/{hid}", key=key).data["enabled"] and time.monotonic() < deadline:
        time.sleep(0.05)
    got = api.get(f"/v1/webhooks/{hid}", key=key).data
    assert got["enabled"] is False and got["disabled_reason"] == "failures"
    assert got["consecutive_failures"] == 3
    assert len(receiver.snapshot()) == 3
    (item,) = _log(api, key, hid)
    assert item["status"] == "pending" and item["attempts"] == 3 and item["response_status"] == 503
    assert any(e.type == "webhook.disabled" for e in _feed(api, key))
    # Re-enabled, the pending delivery goes out (and resets the count).
    healthy["ok"] = True
    r = api.request("PATCH", f"/v1/webhooks/{hid}", key=key, json={"enabled": True})
    assert r.status == 200 and r.data["consecutive_failures"] == 0
    assert receiver.wait_for(lambda ds: len(ds) >= 4)
    deadline = time.monotonic() + 30
    while _log(api, key, hid)[0]["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    (item,) = _log(api, key, hid)
    assert item["status"] == "succeeded" and item["attempts"] == 4
    # Replay: the same body under the same webhook-id, logged as a new delivery.
    r = api.post(f"/v1/webhooks/{hid}/deliveries/{item['delivery_id']}/replay", key=key)
    assert r.status == 202 and r.data["replay"] == 1
    assert receiver.wait_for(lambda ds: len(ds) >= 5)
    ds = receiver.snapshot()
    assert ds[4].headers["webhook-id"] == ds[0].headers["webhook-id"] and ds[4].body == ds[0].body


def test_exhausted_schedule_fails_the_delivery_and_moves_on(
    fast_api: Callable[..., Api], receivers: list[Receiver]
) -> None:
    api = fast_api(webhook_retry_schedule="0,0.05", webhook_max_failures=100)
    key = api.register("exhaust")
    receiver = Receiver(lambda d, _n: Reply(500 if b'"first"' in d.body or _n < 2 else 200))
    receivers.append(receiver)
    hook = _hook(api, key, receiver.url)
    hid = hook["webhook_id"]
    api.post(f"/v1/webhooks/{hid}/test", key=key)
    api.post(f"/v1/webhooks/{hid}/test", key=key)
    assert receiver.wait_for(lambda ds: len(ds) >= 3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log = _log(api, key, hid)
        if [d["status"] for d in log] == ["succeeded", "failed"]:
            break
        time.sleep(0.05)
    newest, oldest = _log(api, key, hid)
    assert oldest["status"] == "failed" and oldest["attempts"] == 2
    assert newest["status"] == "succeeded" and newest["attempts"] == 1
    ids = _ids(receiver.snapshot())
    assert ids[0] == ids[1] != ids[2]  # the first event twice, then the second
