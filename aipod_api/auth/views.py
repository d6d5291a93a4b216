"""Auth routes: register, login, API keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Response, request
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
from aipod_api.core.execlock import blocking
from aipod_api.core.openapi import AUTH_ERRORS, Deleted, Envelope, Page, responses
from aipod_api.http.context import caller_id, clock, db, reads, state, tx, writes
from aipod_api.http.envelope import created, ok
from aipod_api.http.guard import _client_ip as client_ip
from aipod_api.http.guard import disabled_demo_owner
from aipod_api.state import AppState

tag = Tag(name="auth", description="认证 Authentication: register, login, API keys")
bp = APIBlueprint("auth", __name__, url_prefix="/v1/auth", abp_tags=[tag])
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


@contextmanager
def _hashing(st: AppState) -> Iterator[None]:
    """One hashing slot (503 at once when all are taken), for the service to enter with
    no transaction open; the hash itself runs off the execution lock."""
    with st.hash_slots.slot():
        if st.settings.testing:
            # Test hook: a hash that takes this long (the slot held, no lock, no transaction).
            delay = request.headers.get("X-Debug-Hash-Sleep")
            if delay:
                with blocking():
                    time.sleep(min(float(delay), 10.0))
        yield


@bp.post(
    "/register",
    summary="注册新节点 Register a new agent",
    responses=responses(Envelope[RegisterData], status=201, errors=(400, 409, 429, 503)),
)
@writes
def register(body: RegisterCreate) -> Response:
    st = state()
    data = service.register(
        tx(),
        username=body.username,
        email=body.email,
        password=body.password,
        capabilities=body.capabilities,
        nickname=body.nickname,
        signup_credit_cents=st.signup_credit_cents,
        clock=st.clock,
        slot=_hashing(st),
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
    data = service.login(
        tx(),
        username=body.username,
        password=body.password,
        client=client_ip(),
        limiter=st.login_limiter,
        slot=_hashing(st),
        clock=st.clock,
        max_keys=st.settings.max_keys_per_agent,
        evict=st.key_cache.revoked,
        disabled_owner=disabled_demo_owner(st),
    )
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
    data = service.revoke_key(
        db(),
        agent_id=caller_id(),
        key_id=path.key_id,
        now=clock(),
        evict=state().key_cache.revoked,
    )
    return ok(data, message_key="deleted")
