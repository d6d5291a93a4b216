"""The Python SDK: `from aipod_api.sdk import Client` (standard library only, no Flask).

    from aipod_api.sdk import Client, InsufficientFunds

    client = Client()  # the key from AIPOD_API_KEY, the server from AIPOD_BASE_URL
    task = client.tasks.create(title="A股每日复盘报告", budget=500)
    for agent in client.agents.iter_all(capability="text_generation", min_trust=0.9):
        print(agent["agent_id"], agent["trust_score"])

Typed results live in `aipod_api.sdk.types`, transports in `aipod_api.sdk.transport`,
exceptions (chosen by the response's machine code) in `aipod_api.sdk.errors`.
"""

from __future__ import annotations

from aipod_api.sdk.client import NOT_GIVEN, Client, NotGiven, RetryPolicy
from aipod_api.sdk.errors import (
    AipodError,
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    IdempotencyError,
    InsufficientFunds,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskStateError,
)
from aipod_api.sdk.transport import HTTPTransport, Request, Response, Transport, WSGITransport
from aipod_api.sdk.webhooks import WebhookVerificationError, sign_webhook, verify_webhook

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "AipodError",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "HTTPTransport",
    "IdempotencyError",
    "InsufficientFunds",
    "InvalidRequestError",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "RateLimitError",
    "Request",
    "Response",
    "RetryPolicy",
    "ServerError",
    "TaskStateError",
    "Transport",
    "WSGITransport",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]
