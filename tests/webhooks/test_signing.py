"""Signatures interoperate with the `standardwebhooks` package, both ways, and the SDK's
`verify_webhook` refuses what the specification says to refuse."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StdError

from aipod_api.sdk import WebhookVerificationError, sign_webhook, verify_webhook
from aipod_api.webhooks import signing

BODY = b'{"id":7,"type":"webhook.test","timestamp":"2026-12-01T12:00:00Z","data":{}}'


def test_secret_format() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(signing.secret_bytes(secret)) == 32
    assert signing.new_secret() != secret


def test_server_signature_verifies_with_standardwebhooks() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers([secret], msg_id="evt_7", timestamp=now, body=BODY)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {
        "id": 7,
        "type": "webhook.test",
        "timestamp": "2026-12-01T12:00:00Z",
        "data": {},
    }
    # The package's own signature of the same content is ours.
    ts = datetime.fromtimestamp(now, UTC)
    assert Webhook(secret).sign("evt_7", ts, BODY.decode()) == headers["webhook-signature"]


def test_tampered_body_and_old_timestamp_are_rejected_by_both() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers([secret], msg_id="evt_7", timestamp=now, body=BODY)
    tampered = BODY.replace(b"webhook.test", b"wallet.credit")
    with pytest.raises(StdError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(tampered, headers, secret)
    old = signing.headers([secret], msg_id="evt_7", timestamp=now - 600, body=BODY)
    with pytest.raises(StdError):
        Webhook(secret).verify(BODY, old)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, old, secret)
    future = signing.headers([secret], msg_id="evt_7", timestamp=now + 600, body=BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, future, secret)
    # Another id under the same signature is refused too (the id is signed).
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, {**headers, "webhook-id": "evt_8"}, secret)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, signing.new_secret())
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, {"webhook-id": "evt_7"}, secret)


def test_sdk_verifies_standardwebhooks_signatures() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    sig = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), BODY.decode())
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(now), "Webhook-Signature": sig}
    assert verify_webhook(BODY, headers, secret)["id"] == 7
    assert verify_webhook(BODY.decode(), headers, secret, tolerance=1)["type"] == "webhook.test"
    assert sign_webhook(BODY, msg_id="msg_1", timestamp=now, secret=secret) == sig
    # An explicit clock: the same delivery is too old an hour later.
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, secret, now=now + 3600)


def test_rotation_signs_with_both_secrets() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    now = int(time.time())
    headers = signing.headers([new, old], msg_id="evt_9", timestamp=now, body=BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        verify_webhook(BODY, headers, secret)
    with pytest.raises(StdError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_ids_with_a_dot_are_never_signed() -> None:
    with pytest.raises(ValueError):
        signing.sign(signing.new_secret(), msg_id="a.b", timestamp=1, body=b"{}")
