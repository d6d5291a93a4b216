"""Domain-neutral API errors, their stable machine codes and pydantic error wording.

Framework-free. Domains raise subclasses of `ApiError` (e.g. `tasks.flows.TaskDue`) with a
message key and parameters; the HTTP edge (`aipod_api/http/errors.py`) renders them in
the request's language into the envelope, and maps pydantic validation errors, werkzeug
HTTP errors and unexpected exceptions too.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from aipod_api.core.i18n import MESSAGES, message, register_messages

# The stable machine codes of every error response (the top-level `error` field), with
# their HTTP status and an English description. One table: README and OpenAPI derive
# from it, and a code missing here is a bug (refused loudly under AIPOD_TESTING).
ERROR_CODES: dict[str, tuple[int, str]] = {
    # request shape
    "validation_failed": (400, "A field or query parameter is missing, unknown or invalid"),
    "invalid_json": (400, "The body is not valid JSON"),
    "bad_request": (400, "The request is malformed"),
    "payload_too_large": (413, "The body is larger than AIPOD_MAX_BODY_BYTES"),
    "request_timeout": (408, "The body did not arrive within AIPOD_BODY_TIMEOUT_S"),
    "body_incomplete": (400, "The body was cut short or its chunked framing is broken"),
    "route_not_found": (404, "No such endpoint"),
    "method_not_allowed": (405, "The endpoint does not support this method"),
    "http_error": (400, "The request was refused by the HTTP layer"),
    # authentication and limits
    "invalid_api_key": (401, "Missing, malformed, unknown or revoked API key"),
    "invalid_credentials": (401, "Wrong username or password"),
    "rate_limited": (429, "Too many requests; retry after Retry-After seconds"),
    "too_many_in_flight": (429, "Too many concurrent requests for this caller"),
    "login_throttled": (429, "Too many failed logins"),
    "too_many_streams": (
        429,
        "Too many open event streams (AIPOD_EVENT_STREAMS_PER_AGENT, _PER_PROCESS)",
    ),
    "demo_disabled": (401, "The demo account is off on this server (AIPOD_DEMO=0)"),
    "hashing_busy": (503, "Every password-hashing slot is busy; retry after Retry-After"),
    # idempotency keys (core/idempotency.py)
    "idempotency_key_reused": (
        422,
        "The Idempotency-Key was already used with another method, path or body",
    ),
    "idempotency_key_in_use": (
        409,
        "A request with this Idempotency-Key is still running; retry after Retry-After",
    ),
    "idempotency_key_secret_used": (
        409,
        "The API key issued under this Idempotency-Key has been used or revoked since; "
        "a retry issues no other",
    ),
    # resources
    "forbidden": (403, "Authenticated, but not allowed to do this"),
    "not_found": (404, "The resource does not exist"),
    "conflict": (409, "The resource's state forbids this"),
    "username_taken": (409, "The username is already registered"),
    "email_taken": (409, "The email is already registered"),
    "key_not_found": (404, "No such API key of the caller"),
    "last_key": (409, "An agent cannot revoke its last API key"),
    "too_many_keys": (409, "The agent holds AIPOD_MAX_KEYS_PER_AGENT active keys already"),
    "login_keys_exhausted": (409, "At the key cap with no login-issued key left to recycle"),
    "agent_not_found": (404, "No such agent"),
    "not_owner": (403, "Only the agent itself may change its profile"),
    "task_not_found": (404, "No such task"),
    "own_task": (403, "A publisher cannot accept its own task"),
    "missing_capabilities": (403, "The caller lacks a capability the task requires"),
    "not_assignee": (403, "Only the task's assignee may do this"),
    "not_publisher": (403, "Only the task's publisher may do this"),
    "illegal_transition": (409, "The task's state does not allow this action"),
    "task_not_acceptable": (409, "The task is not open (taken, expired, cancelled...)"),
    "task_not_in_progress": (409, "The task is not in progress"),
    "task_not_cancellable": (409, "The task cannot be cancelled in its state"),
    "task_in_progress_before_deadline": (
        409,
        "A task in progress can be cancelled only after its deadline",
    ),
    "not_operator": (403, "Only an operator (AIPOD_OPERATORS) who is not a party may resolve"),
    "task_not_submitted": (409, "The task is not awaiting review (approve/changes/dispute)"),
    "task_not_disputed": (409, "The task is not in dispute (concede/withdraw/resolve)"),
    "change_rounds_exhausted": (409, "The task has used all its change rounds"),
    "task_not_paid": (409, "The task paid its assignee nothing (refunded); it cannot be rated"),
    "insufficient_funds": (409, "The balance does not cover the amount; see data"),
    "not_task_publisher": (403, "Only the task's publisher may rate it"),
    "task_not_done": (409, "Only a completed task can be rated"),
    "already_rated": (409, "The task has already been rated"),
    "memory_not_found": (404, "No such memory visible to the caller"),
    "memory_not_author": (403, "Only the author may delete a memory"),
    "memory_unknown_participants": (400, "Some participants are not agents; see data"),
    # webhooks
    "webhook_url_refused": (
        400,
        "The webhook URL is not https, or names a loopback, private, link-local or "
        "reserved address (see data.reason)",
    ),
    "webhook_not_found": (404, "No such webhook of the caller"),
    "webhook_delivery_not_found": (404, "No such delivery of this webhook"),
    "too_many_webhooks": (409, "The agent has AIPOD_WEBHOOK_MAX_PER_AGENT webhooks already"),
    "webhook_disabled": (409, "The webhook is disabled; re-enable it with PATCH first"),
    # the server
    "internal_error": (500, "An unexpected error; quote the request id"),
    "service_unavailable": (503, "Storage is unreachable"),
    "busy_retry": (503, "The transaction kept meeting deadlocks; retry after Retry-After"),
}


class ApiError(Exception):
    """An error with an HTTP status, a message key (see i18n) and optional data.

    `error_code` is the stable machine code sent as the envelope's `error` field; a
    class that leaves it unset uses its message key (which must then be a registered
    code, see ERROR_CODES).

    `commits`: the effects made before this error was raised are kept — the request
    scope commits the transaction although the answer is an error (core/tx.py;
    e.g. `tasks.flows.TaskDue`, which refunds an expired task, then refuses). Errors
    roll back otherwise.

    `render(english)` gives the message and data in the caller's language, when the
    answer is written (never when the error is raised: a service does not know the
    caller's language)."""

    status = 400
    key = "bad_request"
    error_code: str | None = None
    commits = False

    def __init__(
        self,
        key: str | None = None,
        *,
        status: int | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        if key is not None:
            self.key = key
        if status is not None:
            self.status = status
        self.data = data
        self.params = params
        self.headers = headers or {}
        super().__init__(self.key)

    @property
    def code_name(self) -> str:
        return type(self).error_code or self.key

    def render(self, english: bool) -> tuple[str, Any]:
        return message(self.key, english, **self.params), self.data


class BadRequest(ApiError):
    status = 400
    key = "bad_request"


class Unauthorized(ApiError):
    status = 401
    key = "unauthorized"
    error_code = "invalid_api_key"


class Forbidden(ApiError):
    status = 403
    key = "forbidden"


class NotFound(ApiError):
    status = 404
    key = "not_found"


class Conflict(ApiError):
    status = 409
    key = "conflict"


class TooManyRequests(ApiError):
    status = 429
    key = "rate_limited"


class FieldError(BadRequest):
    """A 400 about one field, shaped like a validation error."""

    error_code = "validation_failed"

    def __init__(self, field: str, key: str, **params: Any) -> None:
        message_params = {"field": field, **params}
        super().__init__(key, **message_params)
        self.field = field

    def render(self, english: bool) -> tuple[str, Any]:
        text = message(self.key, english, **self.params)
        return text, {"errors": [{"field": self.field, "message": text}]}


# --- pydantic -> envelope -----------------------------------------------------------

# Our own wording for every pydantic error type a request can produce: (zh, en) templates
# over the error's `ctx`, registered in the one message catalogue (core/i18n.py) under
# `field_error.<type>`. A type missing here gets `field_error.default`, never pydantic's
# English text. tests/core/test_messages.py checks that both languages are complete.
FIELD_ERRORS: dict[str, tuple[str, str]] = {
    "string_too_short": (
        "长度不能少于 {min_length} 个字符",
        "length must be at least {min_length}",
    ),
    "string_too_long": (
        "长度不能超过 {max_length} 个字符",
        "length must be at most {max_length}",
    ),
    "too_short": ("至少需要 {min_length} 项", "has too few items (at least {min_length})"),
    "too_long": ("最多 {max_length} 项", "has too many items (at most {max_length})"),
    "string_type": ("必须是字符串", "must be a string"),
    "string_unicode": ("必须是合法的 Unicode 字符串", "must be a valid Unicode string"),
    "int_type": ("必须是整数", "must be an integer"),
    "int_parsing": ("必须是整数", "must be an integer"),
    "int_from_float": ("必须是整数,不能带小数部分", "must be a whole number"),
    "int_parsing_size": ("数字过大", "is too large a number"),
    "bool_type": ("必须是布尔值", "must be a boolean"),
    "bool_parsing": ("必须是布尔值", "must be a boolean"),
    "float_type": ("必须是数字", "must be a number"),
    "float_parsing": ("必须是数字", "must be a number"),
    "finite_number": ("必须是有限数字", "must be a finite number"),
    "list_type": ("必须是数组", "must be an array"),
    "dict_type": ("必须是 JSON 对象", "must be a JSON object"),
    "model_type": ("必须是 JSON 对象", "must be a JSON object"),
    "greater_than_equal": ("不能小于 {ge}", "must be at least {ge}"),
    "less_than_equal": ("不能大于 {le}", "must be at most {le}"),
    "greater_than": ("必须大于 {gt}", "must be greater than {gt}"),
    "less_than": ("必须小于 {lt}", "must be less than {lt}"),
    "literal_error": ("必须是以下之一: {expected}", "must be one of: {expected}"),
    "enum": ("必须是以下之一: {expected}", "must be one of: {expected}"),
    "string_pattern_mismatch": ("格式不正确", "has the wrong format"),
    "datetime_parsing": ("不是合法的 ISO 8601 时间", "is not a valid ISO 8601 time"),
    "datetime_type": ("不是合法的 ISO 8601 时间", "is not a valid ISO 8601 time"),
    "json_invalid": ("不是合法的 JSON", "is not valid JSON"),
    "default": ("格式不正确", "is not valid"),
}

# `string_pattern_mismatch` names the rule in words where we know the pattern (the regex
# itself means nothing to most readers): pattern -> rule name, worded in FIELD_RULES.
PATTERN_RULES: dict[str, str] = {
    r"^[A-Za-z0-9_-]{3,32}$": "username",  # auth.schemas.USERNAME_PATTERN
}
FIELD_RULES: dict[str, tuple[str, str]] = {
    "username": ("须为 3–32 位字母、数字、_ 或 -", "must be 3–32 letters, digits, _ or -"),
}

register_messages({f"field_error.{kind}": pair for kind, pair in FIELD_ERRORS.items()})
register_messages({f"field_rule.{name}": pair for name, pair in FIELD_RULES.items()})


def _one_of(expected: str) -> str:
    """pydantic's `'a', 'b' or 'c'` without the English "or": `'a', 'b', 'c'`."""
    head, sep, tail = expected.rpartition(" or ")
    return f"{head}, {tail}" if sep else expected


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    out = ""
    for part in parts:
        if part.isdigit():
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "body"


def _error_message(err: ErrorDetails, field: str, english: bool) -> str:
    def t(key: str, **params: Any) -> str:
        return message(key, english, **params)

    kind = err["type"]
    if kind == "missing":
        return t("missing_field", field=field)
    if kind == "extra_forbidden":
        return t("unknown_field", field=field)
    ctx = dict(err.get("ctx") or {})
    if kind == "value_error":
        # our own validators raise ValueError("zh|en")
        raw = str(ctx.get("error", err["msg"]))
        zh, _, en = raw.partition("|")
        reason = en if (english and en) else zh
        return t("invalid_field", field=field, reason=reason)
    rule = PATTERN_RULES.get(str(ctx.get("pattern"))) if kind == "string_pattern_mismatch" else None
    if rule is not None:
        return t("invalid_field", field=field, reason=t(f"field_rule.{rule}"))
    if "expected" in ctx:
        ctx["expected"] = _one_of(str(ctx["expected"]))
    key = f"field_error.{kind}" if f"field_error.{kind}" in MESSAGES else "field_error.default"
    zh, en = MESSAGES[key]
    try:
        reason = (en if english else zh).format(**ctx)
    except (KeyError, IndexError, ValueError):
        reason = t("field_error.default")
    return t("invalid_field", field=field, reason=reason)


def validation_payload(exc: ValidationError, english: bool) -> tuple[str, dict[str, Any]]:
    """A pydantic error as the envelope's message and `{errors: [{field, message}]}`."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        field = _field_name(err["loc"])
        if not err["loc"] and err["type"] in ("model_type", "dict_type"):
            errors.append({"field": "body", "message": message("body_not_object", english)})
            continue
        errors.append({"field": field, "message": _error_message(err, field, english)})
    text = errors[0]["message"] if errors else message("bad_request", english)
    return text, {"errors": errors}
