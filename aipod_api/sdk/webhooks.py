"""Verify a webhook delivery (Standard Webhooks, symmetric `v1` signatures).

    from aipod_api.sdk import verify_webhook, WebhookVerificationError

    event = verify_webhook(request_body_bytes, request_headers, "whsec_...")
    print(event["type"], event["data"])

Standard library only; it does not import the server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(Exception):
    """The delivery is not authentic: a header is missing, the timestamp is outside
    the tolerance, or no signature matches the secret."""


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("the secret is not whsec_<base64>") from exc
    if not key:
        raise ValueError("the secret is empty")
    return key


def sign_webhook(payload: bytes | str, *, msg_id: str, timestamp: int, secret: str | bytes) -> str:
    """The `v1,<base64>` signature of a delivery (for tests and for sending)."""
    body = payload.encode() if isinstance(payload, str) else payload
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """Check a delivery and return its parsed JSON body.

    `payload`: the raw request body, exactly as received (not re-serialised JSON).
    `headers`: the request headers (any case). `secret`: the webhook's `whsec_...`.
    `tolerance`: how far, in seconds, `webhook-timestamp` may be from `now` (replays of
    an old delivery are refused). Raises `WebhookVerificationError`."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    timestamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if sent < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if sent > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    expected = sign_webhook(payload, msg_id=msg_id, timestamp=sent, secret=secret)
    expected_bytes = base64.b64decode(expected[3:])
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1" or not value:
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected_bytes):
            body = payload.decode() if isinstance(payload, bytes) else payload
            try:
                return json.loads(body)
            except ValueError as exc:
                raise WebhookVerificationError("the body is not JSON") from exc
    raise WebhookVerificationError("no signature matches the secret")
