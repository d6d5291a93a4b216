"""Auth routes: register, login, API keys."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Response, g, request
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.auth import service
from aipod_api.auth.schemas import (
    KeyCreate,
    KeyCreatedPublic,
    KeyListQuery,
    KeyPath,
    KeyPublic,
    LoginCreate,
    LoginData,
    RegisterCreate,
    RegisterData,
)
from aipod_api.core.errors import TooManyRequests
from aipod_api.core.execlock import blocking
from aipod_api.core.openapi import AUTH_ERRORS, Deleted, Envelope, Page, responses
from aipod_api.core.ratelimit import Decision
from aipod_api.http.context import after_commit, caller_id, clock, db, reads, state, writes
from aipod_api.http.envelope import created, ok
from aipod_api.http.guard import _client_ip as client_ip
from aipod_api.http.guard import disabled_demo_owner
from aipod_api.state import AppState

tag = Tag(name="auth", description="认证 Authentication: register, login, API keys")
bp = APIBlueprint("auth", __name__, url_prefix="/v1/auth", abp_tags=[tag])
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


@contextmanager
def _hashing(st: AppState) -> Iterator[None]:
    """One hashing slot (503 at once when all are taken). Entered with no transaction
    open; the hash itself runs off the execution lock (`service.hash_password`)."""
    with st.hash_slots.slot():
        if st.settings.testing:
            # Test hook: a hash that takes this long (the slot held, no lock, no transaction).
            delay = request.headers.get("X-Debug-Hash-Sleep")
            if delay:
                with blocking():
                    time.sleep(min(float(delay), 10.0))
        yield


def _throttled(decision: Decision) -> TooManyRequests:
    return TooManyRequests(
        "login_throttled",
        headers={"Retry-After": str(decision.reset_after)},
        retry_after=decision.reset_after,
    )


@bp.post(
    "/register",
    summary="注册新节点 Register a new agent",
    responses=responses(Envelope[RegisterData], status=201, errors=(400, 409, 429, 503)),
)
@writes
def register(body: RegisterCreate) -> Response:
    st = state()
    password_hash = None
    if body.password is not None:
        password_hash = service.new_password_hash(
            st.engine,
            username=body.username,
            email=body.email,
            password=body.password,
            slot=_hashing(st),
        )
    data = service.register(
        db(),
        username=body.username,
        email=body.email,
        capabilities=body.capabilities,
        password_hash=password_hash,
        nickname=body.nickname,
        signup_credit_cents=st.signup_credit_cents,
        now=st.now(),  # the app's clock: an account's age decides its raters' standing
        operators=st.settings.operator_ids,
    )
    return created(data, message_key="registered")


@bp.post(
    "/login",
    summary="用户名密码登录,签发新 Key / Log in and get a new API key",
    responses=responses(Envelope[LoginData], errors=(400, 401, 409, 429, 503)),
)
@writes
def login(body: LoginCreate) -> Response:
    st = state()
    username = body.username.lower()
    if username == disabled_demo_owner(st):
        raise service.DemoDisabled()
    limits = st.limits
    # Every attempt counts, right or wrong, before its password is checked: per
    # (username, client IP), so one IP's guesses cannot lock the owner out from another,
    # and per username from any IP (a slower ceiling against guesses from many IPs).
    windows = ((limits.logins, f"{username}|{client_ip()}"), (limits.login_users, username))
    for window, bucket in windows:
        seen = window.test(bucket)  # an exhausted budget is refused without taking a slot
        if not seen.allowed:
            raise _throttled(seen)
    with _hashing(st):  # a busy refusal (503) costs no attempt
        for window, bucket in windows:
            decision = window.hit(bucket)  # atomic: at most the limit ever reach the check
            if not decision.allowed:
                raise _throttled(decision)
        record = service.verify_login(st.engine, username=username, password=body.password)
    key, revoked = service.issue_login_key(
        db(), record=record, now=clock(), max_keys=st.settings.max_keys_per_agent
    )
    if revoked:
        cache = st.key_cache
        for _key_id, key_hash in revoked:
            after_commit(functools.partial(cache.revoked, key_hash))
    data: LoginData = {
        "api_key": key["api_key"],
        "node_id": record.agent_id,
        "key_id": key["key_id"],
        "revoked_key_ids": [key_id for key_id, _ in revoked],
    }
    return ok(data, message_key="logged_in")


@bp.get(
    "/keys",
    summary="列出我的 API Key / List my API keys",
    security=SECURITY,
    responses=responses(Envelope[Page[KeyPublic]], errors=AUTH_ERRORS),
)
@reads
def list_keys(query: KeyListQuery) -> Response:
    data = service.list_keys(db(), agent_id=caller_id(), page=query.page, page_size=query.page_size)
    return ok(data)


@bp.post(
    "/keys",
    summary="创建新的 API Key / Create an API key",
    security=SECURITY,
    responses=responses(Envelope[KeyCreatedPublic], status=201, errors=(*AUTH_ERRORS, 409)),
)
@writes
def create_key(body: KeyCreate) -> Response:
    key = service.create_key(
        db(),
        agent_id=caller_id(),
        label=body.label,
        now=clock(),
        max_keys=state().settings.max_keys_per_agent,
    )
    return created(key)


@bp.delete(
    "/keys/<key_id>",
    summary="撤销 API Key(立即生效)/ Revoke an API key at once",
    security=SECURITY,
    responses=responses(Envelope[Deleted], errors=(*AUTH_ERRORS, 404, 409)),
)
@writes
def revoke_key(path: KeyPath) -> Response:
    key_hash = service.revoke_key(db(), agent_id=caller_id(), key_id=path.key_id, now=clock())
    cache = state().key_cache
    after_commit(lambda: cache.revoked(key_hash))
    g.revoked = path.key_id
    return ok({"id": path.key_id, "deleted": True}, message_key="deleted")
