"""Auth routes: register, login, API keys."""

from __future__ import annotations

from flask import Response, g
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.agents.schemas import AgentOwner
from aipod_api.auth import service
from aipod_api.auth.schemas import (
    KeyCreate,
    KeyCreatedPublic,
    KeyListQuery,
    KeyPath,
    KeyPublic,
    LoginCreate,
    LoginPublic,
    RegisterCreate,
)
from aipod_api.core.context import after_commit, caller_id, db, state
from aipod_api.core.envelope import created, ok
from aipod_api.core.errors import TooManyRequests
from aipod_api.core.openapi import AUTH_ERRORS, Deleted, Envelope, Page, responses
from aipod_api.core.types import now_s, page_data

tag = Tag(name="auth", description="认证 Authentication: register, login, API keys")
bp = APIBlueprint("auth", __name__, url_prefix="/v1/auth", abp_tags=[tag])
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


class RegisterData(LoginPublic):
    agent: AgentOwner


@bp.post(
    "/register",
    summary="注册新节点 Register a new agent",
    responses=responses(Envelope[RegisterData], status=201, errors=(400, 409, 429)),
)
def register(body: RegisterCreate) -> Response:
    data = service.register(
        db(),
        username=body.username,
        email=body.email,
        capabilities=body.capabilities,
        password=body.password,
        nickname=body.nickname,
        signup_credit_cents=state().signup_credit_cents,
        now=now_s(),
    )
    return created(data, message_key="registered")


@bp.post(
    "/login",
    summary="用户名密码登录,签发新 Key / Log in and get a new API key",
    responses=responses(Envelope[LoginPublic], errors=(400, 401, 429)),
)
def login(body: LoginCreate) -> Response:
    limits = state().limits
    throttle_key = body.username.lower()
    before = limits.logins.test(throttle_key)
    if not before.allowed:
        raise TooManyRequests(
            "login_throttled",
            headers={"Retry-After": str(before.reset_after)},
            retry_after=before.reset_after,
        )
    conn = db()
    try:
        agent_id = service.check_password(conn, username=body.username, password=body.password)
    except service.BadCredentials:
        limits.logins.hit(throttle_key)
        raise
    key = service.issue_key(conn, agent_id=agent_id, label="login", now=now_s())
    return ok(
        {"api_key": key["api_key"], "node_id": agent_id, "key_id": key["key_id"]},
        message_key="logged_in",
    )


@bp.get(
    "/keys",
    summary="列出我的 API Key / List my API keys",
    security=SECURITY,
    responses=responses(Envelope[Page[KeyPublic]], errors=AUTH_ERRORS),
)
def list_keys(query: KeyListQuery) -> Response:
    items, total = service.list_keys(
        db(), agent_id=caller_id(), page=query.page, page_size=query.page_size
    )
    return ok(page_data(items, page=query.page, page_size=query.page_size, total=total))


@bp.post(
    "/keys",
    summary="创建新的 API Key / Create an API key",
    security=SECURITY,
    responses=responses(Envelope[KeyCreatedPublic], status=201, errors=AUTH_ERRORS),
)
def create_key(body: KeyCreate) -> Response:
    key = service.issue_key(db(), agent_id=caller_id(), label=body.label, now=now_s())
    return created(key)


@bp.delete(
    "/keys/<key_id>",
    summary="撤销 API Key(立即生效)/ Revoke an API key at once",
    security=SECURITY,
    responses=responses(Envelope[Deleted], errors=(*AUTH_ERRORS, 404, 409)),
)
def revoke_key(path: KeyPath) -> Response:
    key_hash = service.revoke_key(db(), agent_id=caller_id(), key_id=path.key_id, now=now_s())
    cache = state().extras["key_cache"]
    after_commit(lambda: cache.revoked(key_hash))
    g.revoked = path.key_id
    return ok({"id": path.key_id, "deleted": True}, message_key="deleted")
