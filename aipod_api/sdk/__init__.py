"""The Python SDK: `from aipod_api.sdk import Client`.

Standard library only (no Flask, no third-party HTTP client), modelled on stripe-python:
one client class, and a typed exception tree carrying the HTTP status, the envelope code,
the message and the request id.

    from aipod_api.sdk import Client, InsufficientFunds

    client = Client("fg_live_demo_xxxxxxxxxxxx", base_url="http://localhost:5001")
    task = client.tasks.create(title="A股每日复盘报告", budget=500)
    client.tasks.accept(task["task_id"])

Every write takes `idempotency_key=` (sent as the `Idempotency-Key` header); with
`Client(..., max_retries=N)` writes get a random key automatically and are retried with
that same key after a lost connection, a 409 `idempotency_key_in_use`, a 429 or a 5xx.
"""

from __future__ import annotations

from aipod_api.sdk.client import Client
from aipod_api.sdk.errors import (
    AipodError,
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

__all__ = [
    "APIConnectionError",
    "AipodError",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InsufficientFunds",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]
