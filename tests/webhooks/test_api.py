"""The webhook endpoints: registration (secret shown once), owner-only access, limits,
URL refusals in the envelope, rotation, the delivery log and replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import Api


@pytest.fixture
def hooks_api(make_app: Callable[..., Any]) -> Api:
    app = make_app(webhook_allow_private=True, webhook_max_per_agent=3, webhook_delivery=False)
    return Api(test_client=app.test_client())


def test_register_list_get_delete(hooks_api: Api) -> None:
    key = hooks_api.register("hookowner")
    r = hooks_api.post(
        "/v1/webhooks",
        key=key,
        json={"url": "http://127.0.0.1:9/hook", "types": ["task.published", "wallet.credited"]},
    )
    assert r.status == 201, r.body
    created = r.data
    assert created["webhook_id"] == "wh_001"
    assert created["secret"].startswith("whsec_")
    assert created["types"] == ["task.published", "wallet.credited"]
    assert created["enabled"] is True and created["consecutive_failures"] == 0
    # The secret is never shown again.
    got = hooks_api.get("/v1/webhooks/wh_001", key=key)
    assert got.status == 200 and "secret" not in got.data
    assert {k: v for k, v in created.items() if k != "secret"} == got.data
    listed = hooks_api.get("/v1/webhooks", key=key)
    assert listed.data["total"] == 1 and listed.data["items"] == [got.data]
    assert created["secret"] not in str(listed.body)
    deleted = hooks_api.delete("/v1/webhooks/wh_001", key=key)
    assert deleted.status == 200 and deleted.data == {"id": "wh_001", "deleted": True}
    assert hooks_api.get("/v1/webhooks/wh_001", key=key).status == 404


def test_only_the_owner_sees_a_webhook(hooks_api: Api) -> None:
    owner = hooks_api.register("owner1")
    other = hooks_api.register("other1")
    hooks_api.post("/v1/webhooks", key=owner, json={"url": "http://127.0.0.1:9/"})
    for method, path in [
        ("GET", "/v1/webhooks/wh_001"),
        ("PATCH", "/v1/webhooks/wh_001"),
        ("DELETE", "/v1/webhooks/wh_001"),
        ("POST", "/v1/webhooks/wh_001/rotate-secret"),
        ("POST", "/v1/webhooks/wh_001/test"),
        ("GET", "/v1/webhooks/wh_001/deliveries"),
        ("POST", "/v1/webhooks/wh_001/deliveries/whd_000001/replay"),
    ]:
        body = {"enabled": True} if method == "PATCH" else None
        r = hooks_api.request(method, path, key=other, json=body)
        assert r.status == 404, (method, path, r.body)
        assert r.body["error"] == "webhook_not_found"
    assert hooks_api.get("/v1/webhooks", key=other).data["items"] == []
    assert hooks_api.get("/v1/webhooks/nonsense", key=owner).body["error"] == "webhook_not_found"
    assert hooks_api.get("/v1/webhooks/wh_001", key=owner).status == 200


def test_limit_per_agent(hooks_api: Api) -> None:
    key = hooks_api.register("manyhooks")
    for _ in range(3):
        assert (
            hooks_api.post("/v1/webhooks", key=key, json={"url": "http://10.0.0.1/"}).status == 201
        )
    r = hooks_api.post("/v1/webhooks", key=key, json={"url": "http://10.0.0.1/"})
    assert r.status == 409 and r.body["error"] == "too_many_webhooks"
    assert "3" in r.body["message"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "forbidden_address"),
        ("https://[::ffff:169.254.169.254]/", "forbidden_address"),
        ("http://8.8.8.8/", "http_public"),
        ("ftp://example.com/", "scheme"),
        ("https://u:p@example.com/", "credentials"),
        ("not a url", "malformed"),
    ],
)
def test_url_refusals(hooks_api: Api, url: str, reason: str) -> None:
    key = hooks_api.register("ssrfer")
    r = hooks_api.post("/v1/webhooks", key=key, json={"url": url})
    assert r.status == 400, r.body
    assert r.body["error"] == "webhook_url_refused"
    assert r.body["data"] == {
        "errors": [{"field": "url", "message": r.body["message"]}],
        "reason": reason,
    }
    en = hooks_api.post(
        "/v1/webhooks", key=key, json={"url": url}, headers={"Accept-Language": "en"}
    )
    assert en.body["message"].startswith("Webhook URL not allowed: ")
    assert r.body["message"].startswith("不允许的 webhook URL")


def test_private_addresses_refused_by_default(make_app: Callable[..., Any]) -> None:
    api = Api(test_client=make_app(webhook_delivery=False).test_client())
    key = api.register("defaults")
    for url in ("http://127.0.0.1:8080/", "https://127.0.0.1/", "https://2130706433/"):
        r = api.post("/v1/webhooks", key=key, json={"url": url})
        assert r.status == 400 and r.body["error"] == "webhook_url_refused", (url, r.body)
    assert (
        api.post("/v1/webhooks", key=key, json={"url": "https://hooks.example.com/x"}).status == 201
    )


def test_bad_bodies(hooks_api: Api) -> None:
    key = hooks_api.register("badbody")
    for body in (
        {},
        {"url": 5},
        {"url": "http://127.0.0.1/", "types": "task.published"},
        {"url": "http://127.0.0.1/", "types": ["Not A Type"]},
        {"url": "http://127.0.0.1/", "types": ["task.nonexistent"]},
        {"url": "http://127.0.0.1/", "extra": 1},
    ):
        r = hooks_api.post("/v1/webhooks", key=key, json=body)
        assert r.status == 400 and r.body["error"] == "validation_failed", (body, r.body)


def test_rotate_secret_and_update(hooks_api: Api) -> None:
    key = hooks_api.register("rotator")
    first = hooks_api.post("/v1/webhooks", key=key, json={"url": "http://127.0.0.1:9/"}).data
    r = hooks_api.post("/v1/webhooks/wh_001/rotate-secret", key=key)
    assert r.status == 201
    assert r.data["secret"].startswith("whsec_") and r.data["secret"] != first["secret"]
    assert r.data["previous_secret_expires_at"] is not None
    got = hooks_api.get("/v1/webhooks/wh_001", key=key).data
    assert got["previous_secret_expires_at"] == r.data["previous_secret_expires_at"]
    r = hooks_api.request(
        "PATCH",
        "/v1/webhooks/wh_001",
        key=key,
        json={"types": ["rating.created"], "enabled": False},
    )
    assert r.status == 200, r.body
    assert r.data["types"] == ["rating.created"] and r.data["enabled"] is False
    assert r.data["disabled_reason"] == "manual"
    t = hooks_api.post("/v1/webhooks/wh_001/test", key=key)
    assert t.status == 409 and t.body["error"] == "webhook_disabled"
    r = hooks_api.request("PATCH", "/v1/webhooks/wh_001", key=key, json={"enabled": True})
    assert r.data["enabled"] is True and r.data["disabled_reason"] is None
    r = hooks_api.request(
        "PATCH", "/v1/webhooks/wh_001", key=key, json={"url": "http://169.254.169.254/"}
    )
    assert r.status == 400 and r.body["error"] == "webhook_url_refused"


def test_test_event_is_queued_and_logged(hooks_api: Api) -> None:
    key = hooks_api.register("tester")
    hooks_api.post(
        "/v1/webhooks", key=key, json={"url": "http://127.0.0.1:9/", "types": ["rating.created"]}
    )
    r = hooks_api.post("/v1/webhooks/wh_001/test", key=key)
    assert r.status == 202 and r.data == {
        "webhook_id": "wh_001",
        "type": "webhook.test",
        "queued": True,
    }
    # The worker is off in this app: dispatch by hand, as one of its rounds would.
    from aipod_api.core.db import transaction
    from aipod_api.webhooks import service

    engine = hooks_api.test_client.application.extensions["aipod"].engine
    with transaction(engine, write=True) as conn:
        assert service.dispatch(conn, now=1_700_000_000) == 1
    page = hooks_api.get("/v1/webhooks/wh_001/deliveries", key=key).data
    assert page["total"] == 1
    (item,) = page["items"]
    assert item["event_type"] == "webhook.test" and item["status"] == "pending"
    assert item["attempts"] == 0 and item["msg_id"].startswith("evt_")
    assert item["delivery_id"] == "whd_000001" and item["replay"] == 0
    r = hooks_api.post("/v1/webhooks/wh_001/deliveries/whd_000001/replay", key=key)
    assert r.status == 202 and r.data["replay"] == 1 and r.data["msg_id"] == item["msg_id"]
    assert r.data["delivery_id"] == "whd_000002"
    assert (
        hooks_api.get(
            "/v1/webhooks/wh_001/deliveries", key=key, params={"status": "succeeded"}
        ).data["total"]
        == 0
    )
    missing = hooks_api.post("/v1/webhooks/wh_001/deliveries/whd_000099/replay", key=key)
    assert missing.status == 404 and missing.body["error"] == "webhook_delivery_not_found"


def test_the_python_sdk_manages_webhooks(make_app: Callable[..., Any]) -> None:
    from aipod_api.sdk import Client, ConflictError, InvalidRequestError, NotFoundError
    from aipod_api.sdk.transport import WSGITransport

    app = make_app(webhook_allow_private=True, webhook_max_per_agent=2, webhook_delivery=False)
    anon = Client(api_key=None, transport=WSGITransport(app))
    key = anon.auth.register(username="sdkhooks", email="sdkhooks@example.com")["api_key"]
    client = Client(api_key=key, transport=WSGITransport(app))
    made = client.webhooks.create(url="http://127.0.0.1:9/h", types=["rating.created"])
    assert made["secret"].startswith("whsec_") and made["webhook_id"] == "wh_001"
    assert client.webhooks.retrieve("wh_001")["types"] == ["rating.created"]
    assert [w["webhook_id"] for w in client.webhooks.list()["items"]] == ["wh_001"]
    assert client.webhooks.update("wh_001", enabled=False)["disabled_reason"] == "manual"
    with pytest.raises(ConflictError):
        client.webhooks.test("wh_001")
    client.webhooks.update("wh_001", enabled=True)
    assert client.webhooks.test("wh_001")["queued"] is True
    rotated = client.webhooks.rotate_secret("wh_001")
    assert rotated["secret"] != made["secret"]
    assert client.webhooks.deliveries("wh_001", status="failed")["items"] == []
    with pytest.raises(InvalidRequestError) as refused:
        client.webhooks.create(url="http://169.254.169.254/")
    assert refused.value.error == "webhook_url_refused"
    client.webhooks.create(url="http://127.0.0.1:9/2")
    with pytest.raises(ConflictError):
        client.webhooks.create(url="http://127.0.0.1:9/3")
    with pytest.raises(NotFoundError):
        client.webhooks.replay("wh_001", "whd_000042")
    assert client.webhooks.delete("wh_001") == {"id": "wh_001", "deleted": True}
