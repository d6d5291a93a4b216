"""Typed SDK exceptions: every one carries status, code, message, data and request_id."""

from __future__ import annotations

from typing import Any


class AipodError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        data: Any = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error = error  # the stable machine code, e.g. "insufficient_funds"
        self.data = data
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        rid = f" (request {self.request_id})" if self.request_id else ""
        status = f"{self.status} " if self.status else ""
        return f"{status}{self.message}{rid}"


class APIConnectionError(AipodError):
    """The server could not be reached or did not answer in time."""


class InvalidRequestError(AipodError):
    """400: the request's shape is wrong; `errors` lists the fields."""

    @property
    def errors(self) -> list[dict[str, str]]:
        if isinstance(self.data, dict):
            return list(self.data.get("errors", []))
        return []


class AuthenticationError(AipodError):
    """401: missing, unknown or revoked API key, or wrong credentials."""


class PermissionDeniedError(AipodError):
    """403: authenticated, but not allowed to do this."""


class NotFoundError(AipodError):
    """404."""


class ConflictError(AipodError):
    """409: the resource's state forbids this (taken, not open, already rated, ...)."""


class InsufficientFunds(ConflictError):
    """409 with `balance` and `required`."""

    @property
    def balance(self) -> Any:
        return (self.data or {}).get("balance")

    @property
    def required(self) -> Any:
        return (self.data or {}).get("required")


class IdempotencyKeyInUse(ConflictError):
    """409: a request with this Idempotency-Key is still running; retry with the same key."""


class IdempotencyKeyReused(AipodError):
    """422: this Idempotency-Key was already used for a different request."""


class RateLimitError(AipodError):
    """429: retry after `retry_after` seconds."""

    @property
    def retry_after(self) -> int | None:
        value = self.headers.get("retry-after")
        return int(value) if value and value.isdigit() else None


class ServerError(AipodError):
    """5xx."""


_BY_STATUS: dict[int, type[AipodError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: IdempotencyKeyReused,
    429: RateLimitError,
}


# Exceptions chosen by the machine `error` code first; the HTTP status otherwise.
_BY_ERROR: dict[str, type[AipodError]] = {
    "insufficient_funds": InsufficientFunds,
    "idempotency_key_in_use": IdempotencyKeyInUse,
    "idempotency_key_reused": IdempotencyKeyReused,
}


def error_for(
    status: int, body: Any, headers: dict[str, str], request_id: str | None
) -> AipodError:
    message = "HTTP error"
    data = None
    code = status
    error: str | None = None
    if isinstance(body, dict):
        message = str(body.get("message") or message)
        data = body.get("data")
        code = int(body.get("code") or status)
        raw = body.get("error")
        error = raw if isinstance(raw, str) else None
    cls = _BY_ERROR.get(error or "") or _BY_STATUS.get(
        status, ServerError if status >= 500 else AipodError
    )
    return cls(
        message,
        status=status,
        code=code,
        data=data,
        request_id=request_id,
        headers=headers,
        error=error,
    )
