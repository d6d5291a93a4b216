"""Standard Webhooks signatures (https://www.standardwebhooks.com, symmetric `v1`).

- A secret is 32 random bytes shown as `whsec_<base64>`.
- The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is
  `v1,<base64 HMAC-SHA256>`. Several signatures are space-separated in one
  `webhook-signature` header: during a rotation's grace period a delivery is signed
  with the new and the previous secret, so receivers may switch at their own pace.

Framework-free and without database access; the SDK has its own copy of the verifying
half (aipod_api/sdk/webhooks.py) because the SDK must not import the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw)


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of the body under `secret`."""
    if "." in msg_id:
        raise ValueError("a webhook id must not contain '.'")
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets_: list[str], *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (current
    first)."""
    signature = " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
