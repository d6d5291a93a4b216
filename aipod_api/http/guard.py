"""The before/after-request hooks: request id, authentication, limits, body checks.

Order per CONTRACT §1: 401 (auth) before 400 (shape) before 404/403/409 (in views).
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import Any

from flask import Flask, Request, Response, current_app, g, request

from aipod_api.auth import service
from aipod_api.core.db import transaction
from aipod_api.core.errors import ApiError, FieldError, TooManyRequests, Unauthorized
from aipod_api.core.execlock import blocking
from aipod_api.core.i18n import register_messages
from aipod_api.core.inputs import EndpointInputs, endpoint_inputs, parse_body, shown
from aipod_api.core.ratelimit import Decision
from aipod_api.http.context import db, state
from aipod_api.state import AppState

log = logging.getLogger("aipod_api")

PUBLIC_PATHS = frozenset({"/v1/auth/register", "/v1/auth/login"})
# Routes (Flask rules) needing no key, limited per client IP like PUBLIC_PATHS: A2A cards.
PUBLIC_RULES = frozenset({"/.well-known/agent-card.json", "/v1/agents/<agent_id>/agent-card.json"})
UNLIMITED_PATHS = frozenset({"/v1/status", "/v1/openapi.json", "/", "/docs"})
UNLIMITED_PREFIXES = ("/static/", "/openapi")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TOUCH_EVERY_S = 60
_rid_rng = random.Random()
os.register_at_fork(after_in_child=_rid_rng.seed)  # distinct ids in every worker
_rid_random = _rid_rng.getrandbits


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_after),
    }


def _refuse(decision: Decision, key: str = "rate_limited") -> ApiError:
    headers = _limit_headers(decision)
    headers["Retry-After"] = str(decision.reset_after)
    return TooManyRequests(key, headers=headers, retry_after=decision.reset_after)


def _has_body(environ: dict[str, Any]) -> bool:
    length = environ.get("CONTENT_LENGTH")
    return bool(length and length != "0") or "HTTP_TRANSFER_ENCODING" in environ


def _parse_body(req: Request, inputs: EndpointInputs) -> None:
    """Parse the JSON body once (any content type, any method that sends one) and refuse
    malformed input, nesting beyond the depth limit, U+0000 and fields the endpoint does
    not declare (core/inputs.py)."""
    if req.method not in BODY_METHODS and not _has_body(req.environ):
        return
    body = parse_body(req.get_data(cache=True), inputs)
    if body is not None:
        # Hand the parsed body to flask-openapi3 (it calls request.get_json(silent=True)).
        req._cached_json = (body, body)


def _check_query(req: Request, inputs: EndpointInputs) -> None:
    query = req.environ.get("QUERY_STRING", "")
    if query:
        if "%00" in query or "\x00" in query:
            for name, value in req.args.items(multi=True):
                if "\x00" in name or "\x00" in value:
                    raise FieldError(name.replace("\x00", ""), "nul_in_string")
        allowed = inputs.query_names
        for name in req.args:
            if name not in allowed:
                raise FieldError(shown(name), "unknown_field")
    for name, value in (req.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise FieldError(name, "nul_in_string")


def _check_inputs(req: Request) -> None:
    """Query and body against what the endpoint declares (one rule for every route)."""
    inputs = endpoint_inputs(current_app, req.endpoint)
    _check_query(req, inputs)
    _parse_body(req, inputs)


def _touch_key(principal: service.Principal, st: AppState) -> None:
    """Record the key's use (`last_used_at`, at most once a minute per key).

    A key's first use is written by the request itself: `reissue_key` (core/idempotency.py)
    must see at once that a key has been used. Later refreshes only move a timestamp
    forward: while the app's background thread runs they are written by it within a
    second, in one transaction with the others (`KeyCache.flush_touches`), so a read
    request never commits (with `synchronous=FULL`: never waits for an fsync while holding
    the execution lock) to record one."""
    now = st.clock.now()
    last = principal.last_used_at
    if last is not None and now - last < TOUCH_EVERY_S:
        return
    cache = st.key_cache
    if last is not None and st.background.running:
        cache.defer_touch(principal.key_hash, principal.key_seq, now)
        return
    try:
        with transaction(st.engine, write=True) as conn:
            service.touch_key(conn, key_seq=principal.key_seq, now=now)
    except Exception:  # best effort: never fail a request for a usage timestamp
        log.warning("could not record key use", exc_info=True)
        return
    cache.touched(principal.key_hash, now)


def install(app: Flask) -> None:
    # Request headers are read from the WSGI environ (`HTTP_<NAME>`, what werkzeug's
    # `request.headers.get` looks up too): an absent header then costs a dict miss, not a
    # KeyError raised and caught inside werkzeug on every request.
    @app.before_request
    def _guard() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        header_id = req.environ.get("HTTP_X_REQUEST_ID", "")
        # A correlation id, not a secret: no system call for random bytes on every request.
        ctx.request_id = (
            header_id if REQUEST_ID_RE.fullmatch(header_id) else f"{_rid_random(64):016x}"
        )
        ctx.started = time.perf_counter()
        if req.url_rule is None:
            return  # 404 / 405: answered by the routing error handlers
        path = req.path
        if path in UNLIMITED_PATHS or path.startswith(UNLIMITED_PREFIXES):
            _check_inputs(req)
            return
        st = state()
        if path == "/v1/auth/register":
            decision = st.limits.registrations.hit(_client_ip())
            ctx.limit_decision = decision
            if not decision.allowed:
                raise _refuse(decision)
        elif path in PUBLIC_PATHS or req.url_rule.rule in PUBLIC_RULES:
            decision = st.limits.requests.hit("ip:" + _client_ip())
            ctx.limit_decision = decision
            if not decision.allowed:
                raise _refuse(decision)
        else:
            _authenticate_and_limit(req, ctx, st)
        _check_inputs(req)

    @app.after_request
    def _decorate(response: Response) -> Response:
        ctx = g._get_current_object()
        attrs = ctx.__dict__
        decision: Decision | None = attrs.get("limit_decision")
        headers = response.headers
        if decision is not None and "X-RateLimit-Limit" not in headers:
            headers.add("X-RateLimit-Limit", str(decision.limit))
            headers.add("X-RateLimit-Remaining", str(decision.remaining))
            headers.add("X-RateLimit-Reset", str(decision.reset_after))
        rid = attrs.get("request_id")
        if rid:
            headers.set("X-Request-Id", rid)
        return response

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        slot = g.pop("inflight_key", None)
        if slot is not None:
            try:
                state().limits.in_flight.release(slot)
            except Exception:  # pragma: no cover - storage outage
                log.warning("could not release in-flight slot", exc_info=True)


# Why a request is not authenticated (`data.reason`) -> its message key, and when a key
# was sent and refused, the RFC 6750 `error_description` (ASCII) of `invalid_token`.
# Without usable credentials the challenge carries no error (RFC 6750 §3.1).
AUTH_FAILURES: dict[str, tuple[str, str | None]] = {
    "missing": ("auth_missing", None),
    "x_api_key": ("auth_x_api_key", None),
    "no_bearer": ("auth_no_bearer", None),
    "scheme": ("auth_scheme", None),
    "malformed": ("auth_malformed", "The API key is malformed"),
    "unknown": ("auth_unknown", "The API key is unknown or revoked"),
    "demo_disabled": ("demo_disabled", "The demo account is disabled on this server"),
}
EXPECTED_HEADER = "Authorization: Bearer <api_key>"
_NO_DEMO = ""  # cached "no demo account" (never an agent id)

register_messages(
    {
        "auth_missing": (
            "缺少 API Key:请在请求头中携带 Authorization: Bearer <api_key>",
            "No API key: send the header Authorization: Bearer <api_key>",
        ),
        "auth_x_api_key": (
            "不支持 X-API-Key 请求头:请改用 Authorization: Bearer <api_key>",
            "The X-API-Key header is not supported: send Authorization: Bearer <api_key>",
        ),
        "auth_no_bearer": (
            "Authorization 请求头缺少 Bearer 前缀:应为 Authorization: Bearer <api_key>",
            "The Authorization header lacks the Bearer prefix: send "
            "Authorization: Bearer <api_key>",
        ),
        "auth_scheme": (
            "Authorization 请求头只支持 Bearer 方案:应为 Authorization: Bearer <api_key>",
            "The Authorization header must use the Bearer scheme: Authorization: Bearer <api_key>",
        ),
        "auth_malformed": (
            "API Key 格式不正确(应为 fg_live_ 加 32 位字母或数字):Authorization: Bearer <api_key>",
            "Malformed API key (expected fg_live_ and 32 letters or digits): "
            "Authorization: Bearer <api_key>",
        ),
        "auth_unknown": (
            "API Key 不存在或已被撤销:请在 Authorization: Bearer <api_key> 中使用有效的 Key"
            "(POST /v1/auth/login 可签发新 Key)",
            "Unknown or revoked API key: send a valid one as Authorization: Bearer <api_key> "
            "(POST /v1/auth/login issues a new key)",
        ),
    }
)


def disabled_demo_owner(st: AppState) -> str | None:
    """With demo off: the demo account's agent id, which may then neither use a key nor
    log in. None with demo on, or when this database never had demo data."""
    if st.settings.demo:
        return None
    owner = st.demo_owner
    if owner is None:
        # Looked up once per process: demo data is only ever created at startup.
        with transaction(st.engine, write=False) as conn:
            owner = service.demo_owner(conn) or _NO_DEMO
        st.demo_owner = owner
    return owner or None


def _principal(req: Request, st: AppState) -> tuple[service.Principal | None, str]:
    """The caller's principal, or None and why not (a key of AUTH_FAILURES)."""
    header = req.environ.get("HTTP_AUTHORIZATION", "").strip()
    if not header:
        return None, "x_api_key" if req.environ.get("HTTP_X_API_KEY") else "missing"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None, "no_bearer" if scheme.startswith(service.KEY_PREFIX[:3]) else "scheme"
    token = token.strip()
    if not service.looks_like_key(token):
        return None, "malformed"
    if token == service.DEMO_KEY and not st.settings.demo:
        return None, "demo_disabled"
    principal = st.key_cache.lookup(token)
    if principal is None:
        return None, "unknown"
    if not st.settings.demo and principal.agent_id == disabled_demo_owner(st):
        return None, "demo_disabled"
    return principal, ""


def _unauthorized(reason: str) -> Unauthorized:
    key, description = AUTH_FAILURES[reason]
    challenge = 'Bearer realm="aipod_api"'
    if description:
        challenge += f', error="invalid_token", error_description="{description}"'
    return Unauthorized(
        key,
        data={"reason": reason, "expected": EXPECTED_HEADER},
        headers={"WWW-Authenticate": challenge},
    )


def _authenticate_and_limit(req: Request, ctx: Any, st: AppState) -> None:
    principal, reason = _principal(req, st)
    if principal is None:
        decision = st.limits.requests.hit("ip:" + _client_ip())
        if not decision.allowed:
            raise _refuse(decision)
        raise _unauthorized(reason)
    ctx.principal = principal
    # Limits are the agent's, shared by all its keys: minting keys multiplies nothing.
    agent_key = "agent:" + principal.agent_id
    decision = st.limits.requests.hit(agent_key)
    ctx.limit_decision = decision
    if not decision.allowed:
        raise _refuse(decision)
    if not st.limits.in_flight.acquire(agent_key):
        raise TooManyRequests(
            "too_many_in_flight",
            headers={**_limit_headers(decision), "Retry-After": "1"},
            limit=st.limits.max_concurrency,
        )
    ctx.inflight_key = agent_key
    if st.settings.testing:
        delay = req.environ.get("HTTP_X_DEBUG_SLEEP")
        if delay:
            with blocking():
                time.sleep(min(float(delay), 10.0))
    _touch_key(principal, st)


__all__ = ["db", "install"]
