"""The SDK's exception classes, chosen by the machine code of the server's ERROR_CODES."""

from __future__ import annotations

import pytest

from aipod_api.core.errors import ERROR_CODES
from aipod_api.sdk import (
    AipodError,
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
from aipod_api.sdk.errors import ERROR_CLASSES, class_for, error_for

# What a caller catching by HTTP family may rely on.
FAMILY: dict[int, tuple[type[AipodError], ...]] = {
    400: (InvalidRequestError,),
    401: (AuthenticationError,),
    403: (PermissionDeniedError,),
    404: (NotFoundError, InvalidRequestError),  # route_not_found is the caller's bug
    405: (InvalidRequestError,),
    408: (InvalidRequestError,),
    409: (ConflictError, IdempotencyError),
    413: (InvalidRequestError,),
    422: (InvalidRequestError, IdempotencyError),
    429: (RateLimitError,),
    500: (ServerError,),
    503: (ServerError,),
}


def test_every_server_code_has_a_deliberate_class() -> None:
    missing = sorted(set(ERROR_CODES) - set(ERROR_CLASSES))
    assert not missing, f"add these codes to aipod_api/sdk/errors.py ERROR_CLASSES: {missing}"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_class_matches_the_status_family(code: str) -> None:
    status = ERROR_CODES[code][0]
    cls = class_for(status, code)
    assert issubclass(cls, FAMILY[status]), (code, status, cls)
    assert cls is ERROR_CLASSES[code]


def test_specific_families() -> None:
    assert class_for(409, "insufficient_funds") is InsufficientFunds
    assert issubclass(InsufficientFunds, ConflictError)
    for code in (
        "task_not_acceptable",
        "task_not_in_progress",
        "task_not_cancellable",
        "task_in_progress_before_deadline",
        "task_not_done",
        "illegal_transition",
    ):
        assert class_for(409, code) is TaskStateError
    for code in ("username_taken", "email_taken", "last_key", "already_rated", "conflict"):
        assert class_for(409, code) is ConflictError
    assert class_for(409, "idempotency_key_in_use") is IdempotencyError
    assert class_for(422, "idempotency_key_reused") is IdempotencyError
    for code in ("rate_limited", "too_many_in_flight", "login_throttled"):
        assert class_for(429, code) is RateLimitError


def test_unknown_codes_fall_back_to_the_status() -> None:
    assert class_for(409, "a_code_from_the_future") is ConflictError
    assert class_for(403, None) is PermissionDeniedError
    assert class_for(422, "new") is InvalidRequestError
    assert class_for(502, None) is ServerError
    assert class_for(418, "teapot") is AipodError
    # the machine code wins over the status
    assert class_for(400, "insufficient_funds") is InsufficientFunds


def test_error_for_carries_everything() -> None:
    body = {
        "code": 409,
        "error": "insufficient_funds",
        "message": "余额不足",
        "data": {"balance": 12.5, "required": 500},
        "timestamp": "2026-03-27T10:30:00Z",
    }
    err = error_for(409, body, {"X-Request-Id": "abc", "Retry-After": "7"}, "abc")
    assert isinstance(err, InsufficientFunds)
    assert (err.status, err.code, err.error, err.message) == (
        409,
        409,
        "insufficient_funds",
        "余额不足",
    )
    assert (err.balance, err.required, err.request_id) == (12.5, 500, "abc")
    assert err.headers["retry-after"] == "7"
    assert str(err) == "409 余额不足 [insufficient_funds] (request abc)"
    limited = error_for(
        429, {"code": 429, "error": "rate_limited", "message": "m"}, {"retry-after": "12"}, None
    )
    assert isinstance(limited, RateLimitError) and limited.retry_after == 12
    odd = error_for(429, None, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None)
    assert isinstance(odd, RateLimitError) and odd.retry_after is None
    bare = error_for(500, None, {}, None)
    assert isinstance(bare, ServerError) and bare.message == "HTTP 500" and bare.data is None
    bad = error_for(
        400,
        {
            "code": 400,
            "error": "validation_failed",
            "message": "m",
            "data": {"errors": [{"field": "budget", "message": "m"}]},
        },
        {},
        None,
    )
    assert isinstance(bad, InvalidRequestError) and bad.errors[0]["field"] == "budget"
    assert InvalidRequestError("x").errors == [] and InsufficientFunds("x").balance is None
