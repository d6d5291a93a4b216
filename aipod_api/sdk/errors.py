"""Typed SDK exceptions, chosen by the response's stable machine code (`error`).

Every API error carries `status` (HTTP), `code` (the envelope's code), `error` (the machine
code, e.g. "insufficient_funds"), `message` (localised), `data`, `request_id` and the
response `headers`. The class is picked from the machine code (`ERROR_CLASSES`); a code
this SDK does not know yet falls back to the class of its HTTP status, so a newer server
never breaks an older client's `except` clauses.

    AipodError
    ├── APIConnectionError          the server could not be reached / did not answer
    ├── InvalidRequestError         400, 413, 422: the request itself is wrong
    ├── AuthenticationError         401: bad key or credentials
    ├── PermissionDeniedError       403: authenticated, but not allowed
    ├── NotFoundError               404: no such agent / task / memory / key
    ├── ConflictError               409: the resource's state forbids this
    │   ├── TaskStateError          the task's state does not allow the action
    │   └── InsufficientFunds       the balance does not cover the amount
    ├── IdempotencyError            the Idempotency-Key was reused or is in use
    ├── RateLimitError              429: retry after `retry_after` seconds
    └── ServerError                 5xx
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AipodError(Exception):
    """Base of every SDK error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        data: Any = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error = error
        self.data = data
        self.request_id = request_id
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}

    def __str__(self) -> str:
        status = f"{self.status} " if self.status else ""
        error = f" [{self.error}]" if self.error else ""
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"{status}{self.message}{error}{rid}"


class APIConnectionError(AipodError):
    """The server could not be reached, dropped the connection or did not answer in time.

    `request_sent` is False when the failure happened before the request was fully sent
    (then the server cannot have acted on it)."""

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class InvalidRequestError(AipodError):
    """400, 413 or 422: the request's shape is wrong; `errors` lists the fields."""

    @property
    def errors(self) -> list[dict[str, str]]:
        """`[{"field": ..., "message": ...}]` of a validation failure (else empty)."""
        if isinstance(self.data, dict):
            return list(self.data.get("errors") or [])
        return []


class AuthenticationError(AipodError):
    """401: missing, unknown or revoked API key, or wrong username/password."""


class PermissionDeniedError(AipodError):
    """403: authenticated, but not allowed to do this (not the owner, publisher,
    assignee; missing capabilities; one's own task)."""


class NotFoundError(AipodError):
    """404: no such agent, task, memory or key (visible to the caller)."""


class ConflictError(AipodError):
    """409: the resource's state forbids this (taken username, already rated, last key)."""


class TaskStateError(ConflictError):
    """409: the task's state does not allow this action (not open, not in progress,
    not cancellable, not done yet, not in review, not in dispute, no change rounds
    left, nothing paid to rate)."""


class InsufficientFunds(ConflictError):
    """409: the balance does not cover the amount; `balance` and `required` say by how
    much."""

    @property
    def balance(self) -> Any:
        """The caller's available balance (credits)."""
        return self.data.get("balance") if isinstance(self.data, dict) else None

    @property
    def required(self) -> Any:
        """The amount the action needed (credits)."""
        return self.data.get("required") if isinstance(self.data, dict) else None


class IdempotencyError(AipodError):
    """The `Idempotency-Key` was already used for a different request (422,
    `idempotency_key_reused`) or its first request is still running (409,
    `idempotency_key_in_use`; the SDK retries that one itself)."""


class RateLimitError(AipodError):
    """429: too many requests, too many in flight, or too many failed logins."""

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait before retrying (the `Retry-After` header), if given."""
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(AipodError):
    """5xx: the server failed (quote `request_id`) or its storage is unreachable."""


# The class of every machine code the API documents (README "Error codes").
ERROR_CLASSES: dict[str, type[AipodError]] = {
    # request shape
    "validation_failed": InvalidRequestError,
    "invalid_json": InvalidRequestError,
    "bad_request": InvalidRequestError,
    "payload_too_large": InvalidRequestError,
    "request_timeout": InvalidRequestError,
    "body_incomplete": InvalidRequestError,
    "route_not_found": InvalidRequestError,
    "method_not_allowed": InvalidRequestError,
    "http_error": InvalidRequestError,
    "memory_unknown_participants": InvalidRequestError,
    "webhook_url_refused": InvalidRequestError,
    # authentication and limits
    "invalid_api_key": AuthenticationError,
    "invalid_credentials": AuthenticationError,
    "demo_disabled": AuthenticationError,
    "rate_limited": RateLimitError,
    "too_many_in_flight": RateLimitError,
    "too_many_streams": RateLimitError,
    "login_throttled": RateLimitError,
    # permissions
    "forbidden": PermissionDeniedError,
    "not_owner": PermissionDeniedError,
    "own_task": PermissionDeniedError,
    "missing_capabilities": PermissionDeniedError,
    "not_assignee": PermissionDeniedError,
    "not_publisher": PermissionDeniedError,
    "not_task_publisher": PermissionDeniedError,
    "not_operator": PermissionDeniedError,
    "memory_not_author": PermissionDeniedError,
    # missing things
    "not_found": NotFoundError,
    "key_not_found": NotFoundError,
    "agent_not_found": NotFoundError,
    "task_not_found": NotFoundError,
    "memory_not_found": NotFoundError,
    "webhook_not_found": NotFoundError,
    "webhook_delivery_not_found": NotFoundError,
    # conflicts
    "conflict": ConflictError,
    "username_taken": ConflictError,
    "email_taken": ConflictError,
    "last_key": ConflictError,
    "too_many_keys": ConflictError,
    "login_keys_exhausted": ConflictError,
    "already_rated": ConflictError,
    "too_many_webhooks": ConflictError,
    "webhook_disabled": ConflictError,
    "illegal_transition": TaskStateError,
    "task_not_acceptable": TaskStateError,
    "task_not_in_progress": TaskStateError,
    "task_not_cancellable": TaskStateError,
    "task_in_progress_before_deadline": TaskStateError,
    "task_not_done": TaskStateError,
    "task_not_submitted": TaskStateError,
    "task_not_disputed": TaskStateError,
    "change_rounds_exhausted": TaskStateError,
    "task_not_paid": TaskStateError,
    "insufficient_funds": InsufficientFunds,
    # idempotency keys
    "idempotency_key_reused": IdempotencyError,
    "idempotency_key_in_use": IdempotencyError,
    "idempotency_key_secret_used": ConflictError,
    # the server
    "internal_error": ServerError,
    "service_unavailable": ServerError,
    "hashing_busy": ServerError,
    "busy_retry": ServerError,
}

# For codes this SDK does not know (a newer server): the class of the HTTP status.
STATUS_CLASSES: dict[int, type[AipodError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def class_for(status: int, error: str | None) -> type[AipodError]:
    """The exception class for a response's HTTP status and machine code."""
    cls = ERROR_CLASSES.get(error) if error else None
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return STATUS_CLASSES.get(status, AipodError)


def error_for(
    status: int, body: Any, headers: Mapping[str, str], request_id: str | None
) -> AipodError:
    """Build the typed exception for an error response (`body` is the decoded JSON, or
    None when it was not JSON)."""
    message = f"HTTP {status}"
    data = None
    code = status
    error: str | None = None
    if isinstance(body, dict):
        message = str(body.get("message") or message)
        data = body.get("data")
        raw_code = body.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else status
        raw = body.get("error")
        error = raw if isinstance(raw, str) else None
    # a 2xx whose envelope reports an error: its code is the status to go by
    cls = class_for(status if status >= 400 else code, error)
    return cls(
        message,
        status=status,
        code=code,
        data=data,
        request_id=request_id,
        headers=headers,
        error=error,
    )


def parse_retry_after(value: str | None) -> int | None:
    """`Retry-After` in seconds (the HTTP-date form is not used by this API)."""
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None
