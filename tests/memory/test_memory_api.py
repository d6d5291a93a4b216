"""Shared memory: write, list/filters, search, visibility scoping, validation, delete."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import DEMO_KEY, Api

SEED_CONTENT = "2026年Q1新能源渗透率超过40%,比亚迪领先"


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """Three agents; alice writes public and participants-only memories with bob."""
    keys = {name: api.register(name) for name in ("alice", "bob", "carol")}

    def write(key: str, **body: Any) -> str:
        r = api.post("/v1/memory", key=key, json=body)
        assert r.status == 201, r.body
        return str(r.data["memory_id"])

    ids = {
        "public": write(
            keys["alice"],
            content=SEED_CONTENT,
            participants=["bob"],
            tags=["新能源", "市场数据"],
        ),
        "secret": write(
            keys["alice"],
            content="机密:新能源渗透率内部预测 Secret forecast",
            participants=["bob"],
            tags=["新能源", "内部"],
            visibility="participants",
        ),
        "solo": write(
            keys["alice"],
            content="只有作者知道的能源笔记",
            tags=["内部"],
            visibility="participants",
        ),
        "carol": write(keys["carol"], content="Carol 的光伏 PV 观察", tags=["光伏"]),
    }
    return {"keys": keys, "ids": ids}


def _ids(api: Api, key: str, **params: Any) -> tuple[list[str], int]:
    r = api.get("/v1/memory", key=key, params=params)
    assert r.status == 200, r.body
    return [m["memory_id"] for m in r.data["items"]], int(r.data["total"])


# --- create -------------------------------------------------------------------------------


def test_seed_example_creates_memory(demo_api: Api) -> None:
    r = demo_api.post(
        "/v1/memory",
        key=DEMO_KEY,
        json={
            "content": SEED_CONTENT,
            "participants": ["ai_analyst_001", "ai_finance_003"],
            "tags": ["新能源", "市场数据"],
        },
    )
    assert r.status == 201 and r.code == 0, r.body
    m = r.data
    assert m["content"] == SEED_CONTENT
    assert m["participants"] == ["ai_analyst_001", "ai_finance_003"]
    assert m["tags"] == ["新能源", "市场数据"]
    assert m["author_id"] == "demo" and m["visibility"] == "public"
    assert m["memory_id"].startswith("mem_") and m["created_at"].endswith("Z")
    listed = demo_api.get("/v1/memory", key=DEMO_KEY, params={"tag": "新能源"})
    assert listed.status == 200
    assert listed.data["items"][0]["memory_id"] == m["memory_id"]
    found = demo_api.get("/v1/memory", key=DEMO_KEY, params={"q": "渗透率"})
    assert [x["memory_id"] for x in found.data["items"]] == [m["memory_id"]]


def test_demo_memories(demo_api: Api) -> None:
    r = demo_api.get("/v1/memory", key=DEMO_KEY, params={"tag": "新能源"})
    assert r.status == 200 and r.data["total"] >= 2
    assert all(m["visibility"] == "public" for m in r.data["items"])
    assert all("渗透率" not in m["content"] for m in r.data["items"])


def test_lists_normalised(api: Api) -> None:
    key = api.register("alice")
    api.register("bob")
    r = api.post(
        "/v1/memory",
        key=key,
        json={"content": "x", "participants": ["BOB", "bob", " Bob "], "tags": [" a ", "b", "a"]},
    )
    assert r.status == 201, r.body
    assert r.data["participants"] == ["bob"]
    assert r.data["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": "x" * 20001}, "content"),
        ({}, "content"),
        ({"content": 5}, "content"),
        ({"content": "x", "tags": ["t" * 33]}, "tags"),
        ({"content": "x", "tags": ["  "]}, "tags"),
        ({"content": "x", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"content": "x", "tags": "新能源"}, "tags"),
        ({"content": "x", "tags": [1]}, "tags"),
        ({"content": "x", "visibility": "secret"}, "visibility"),
        ({"content": "x", "participants": [f"a{i}" for i in range(51)]}, "participants"),
        ({"content": "x", "extra": 1}, "extra"),
    ],
)
def test_create_validation(api: Api, body: dict[str, Any], field: str) -> None:
    key = api.register("alice")
    r = api.post("/v1/memory", key=key, json=body)
    assert r.status == 400 and r.code == 400, r.body
    assert any(e["field"].startswith(field) for e in r.data["errors"]), r.body


def test_limits_accepted(api: Api) -> None:
    key = api.register("alice")
    body = {"content": "字" * 20000, "tags": ["标" * 32] + [f"t{i}" for i in range(19)]}
    r = api.post("/v1/memory", key=key, json=body)
    assert r.status == 201, r.body
    assert len(r.data["tags"]) == 20


def test_unknown_participants_listed(api: Api) -> None:
    key = api.register("alice")
    api.register("bob")
    r = api.post(
        "/v1/memory",
        key=key,
        json={"content": "x", "participants": ["ghost_1", "bob", "Ghost_2"]},
        headers={"Accept-Language": "en"},
    )
    assert r.status == 400, r.body
    assert "ghost_1" in r.message and "ghost_2" in r.message
    fields = {e["field"]: e["message"] for e in r.data["errors"]}
    assert set(fields) == {"participants[0]", "participants[2]"}
    assert "ghost_1" in fields["participants[0]"] and "ghost_2" in fields["participants[2]"]
    assert api.get("/v1/memory", key=key).data["total"] == 0


def test_auth_required(api: Api) -> None:
    assert api.get("/v1/memory").status == 401
    assert api.post("/v1/memory", json={"content": "x"}).status == 401


# --- scoping -------------------------------------------------------------------------------


def test_third_agent_never_sees_private(api: Api, world: dict[str, Any]) -> None:
    carol = world["keys"]["carol"]
    ids = world["ids"]
    hidden = {ids["secret"], ids["solo"]}
    paths: list[dict[str, Any]] = [
        {},
        {"tag": "新能源"},
        {"tag": "内部"},
        {"participant": "bob"},
        {"author": "alice"},
        {"q": "机密"},
        {"q": "渗透率"},
        {"q": "能"},
        {"q": "能源"},
        {"q": "secret"},
        {"q": "笔记"},
        {"q": "渗透率", "sort": "relevance"},
        {"tag": "新能源", "q": "新能源", "author": "alice", "participant": "bob"},
    ]
    for params in paths:
        seen, total = _ids(api, carol, **params)
        assert not hidden & set(seen), params
        assert total == len(seen), params
    assert _ids(api, carol, tag="内部") == ([], 0)
    assert _ids(api, carol, q="机密") == ([], 0)
    for memory_id in hidden:
        r = api.get(f"/v1/memory/{memory_id}", key=carol)
        assert r.status == 404 and r.code == 404
        r = api.delete(f"/v1/memory/{memory_id}", key=carol)
        assert r.status == 404


def test_participant_and_author_see_private(api: Api, world: dict[str, Any]) -> None:
    keys, ids = world["keys"], world["ids"]
    bob_seen, bob_total = _ids(api, keys["bob"], tag="新能源")
    assert bob_seen == [ids["secret"], ids["public"]] and bob_total == 2
    assert ids["solo"] not in _ids(api, keys["bob"])[0]
    assert api.get(f"/v1/memory/{ids['solo']}", key=keys["bob"]).status == 404
    assert api.get(f"/v1/memory/{ids['secret']}", key=keys["bob"]).status == 200
    alice_seen, alice_total = _ids(api, keys["alice"])
    assert alice_seen == [ids["carol"], ids["solo"], ids["secret"], ids["public"]]
    assert alice_total == 4
    assert _ids(api, keys["alice"], q="笔记")[0] == [ids["solo"]]
    assert _ids(api, keys["carol"])[1] == 2


# --- filters -------------------------------------------------------------------------------


def test_filters(api: Api, world: dict[str, Any]) -> None:
    alice = world["keys"]["alice"]
    ids = world["ids"]
    assert _ids(api, alice, tag="光伏")[0] == [ids["carol"]]
    assert _ids(api, alice, tag="内部")[0] == [ids["solo"], ids["secret"]]
    assert _ids(api, alice, tag="nope") == ([], 0)
    assert _ids(api, alice, participant="BOB")[0] == [ids["secret"], ids["public"]]
    assert _ids(api, alice, author="carol")[0] == [ids["carol"]]
    assert _ids(api, alice, author="Alice")[1] == 3
    assert _ids(api, alice, author="alice", tag="内部", participant="bob")[0] == [ids["secret"]]
    assert _ids(api, alice, tag="新能源", q="机密")[0] == [ids["secret"]]
    assert _ids(api, alice, participant="bob", q="渗透率")[0] == [ids["secret"], ids["public"]]
    assert _ids(api, alice, author="carol", q="渗透率") == ([], 0)


# --- search --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("渗透率", ["secret", "public"]),  # 3 chars
        ("新能源渗透率超过", ["public"]),  # 8 chars
        ("能源", ["solo", "secret", "public"]),  # 2 chars
        ("能", ["solo", "secret", "public"]),  # 1 char
        ("率", ["secret", "public"]),
        ("Q1新能源", ["public"]),  # mixed scripts
        ("q1新", ["public"]),
        ("1新", ["public"]),  # 2 chars, mixed
        ("40%", ["public"]),
        ("%,", ["public"]),  # ASCII punctuation, 2 chars
        ("%", ["public"]),
        ("pv", ["carol"]),
        ("PV 观", ["carol"]),
        ("SECRET FORE", ["secret"]),
        ("secret forecast", ["secret"]),
        ("c", ["carol", "secret"]),
        ("不存在的词", []),
        ("比亚迪领先了", []),
        ('"', []),
        ('a"b', []),
        ("*", []),
        ("OR", ["secret"]),  # an FTS5 keyword is just text
    ],
)
def test_search(api: Api, world: dict[str, Any], q: str, expected: list[str]) -> None:
    alice = world["keys"]["alice"]
    seen, total = _ids(api, alice, q=q)
    assert seen == [world["ids"][name] for name in expected], q
    assert total == len(expected)


def test_search_trims_and_validates(api: Api, world: dict[str, Any]) -> None:
    alice = world["keys"]["alice"]
    assert _ids(api, alice, q="  比亚迪 ")[0] == [world["ids"]["public"]]
    for bad in ("", "   ", "x" * 101):
        r = api.get("/v1/memory", key=alice, params={"q": bad})
        assert r.status == 400, bad
        assert r.data["errors"][0]["field"] == "q"
    assert api.get("/v1/memory", key=alice, params={"q": "x" * 100}).status == 200
    assert api.get("/v1/memory", key=alice, params={"sort": "oldest"}).status == 400
    assert api.get("/v1/memory", key=alice, params={"tag": "t" * 33}).status == 400
    assert api.get("/v1/memory", key=alice, params={"page_size": 101}).status == 400
    assert api.get("/v1/memory", key=alice, params={"bogus": 1}).status == 400


def test_sort_relevance(api: Api) -> None:
    key = api.register("alice")
    contents = ["电池", "电池电池电池 很长的一段其他文字" * 3, "电池电池", "没有"]
    ids = [api.post("/v1/memory", key=key, json={"content": c}).data["memory_id"] for c in contents]
    newest, _ = _ids(api, key, q="电池")
    assert newest == [ids[2], ids[1], ids[0]]
    ranked, total = _ids(api, key, q="电池", sort="relevance")
    assert ranked == [ids[1], ids[2], ids[0]] and total == 3
    # without q, relevance falls back to newest first
    assert _ids(api, key, sort="relevance")[0] == ids[::-1]


# --- pagination and delete -----------------------------------------------------------------


def test_pagination(api: Api) -> None:
    key = api.register("alice")
    ids = [
        api.post("/v1/memory", key=key, json={"content": f"第{i}条 新能源", "tags": ["t"]}).data[
            "memory_id"
        ]
        for i in range(7)
    ]
    for params in ({}, {"tag": "t"}, {"q": "新能源"}, {"q": "能"}, {"author": "alice"}):
        got: list[str] = []
        for page in (1, 2, 3):
            r = api.get("/v1/memory", key=key, params={**params, "page": page, "page_size": 3})
            assert r.data["total"] == 7 and r.data["page"] == page
            assert r.data["has_more"] is (page < 3)
            assert r.data["total_capped"] is False
            got += [m["memory_id"] for m in r.data["items"]]
        assert got == ids[::-1], params
        past = api.get("/v1/memory", key=key, params={**params, "page": 9, "page_size": 3})
        assert past.data["items"] == [] and past.data["has_more"] is False


def test_total_cap(make_app: Any) -> None:
    from aipod_api.http.context import db
    from aipod_api.memory import service

    app = make_app()
    client = Api(test_client=app.test_client())
    key = client.register("alice")
    for i in range(5):
        client.post("/v1/memory", key=key, json={"content": f"n{i}", "tags": ["t"]})
    with app.test_request_context("/v1/memory"):
        data = service.list_memories(
            db(), viewer_id="alice", author="alice", page_size=2, count_cap=3
        )
        assert data["total"] == 3 and data["total_capped"] is True and data["has_more"] is True
        data = service.list_memories(
            db(), viewer_id="alice", author="alice", page=3, page_size=2, count_cap=3
        )
        assert len(data["items"]) == 1 and data["has_more"] is False
        # Tag-only and unfiltered totals come from the kept counters: exact past any cap.
        for kwargs in ({"tag": "t"}, {}):
            data = service.list_memories(db(), viewer_id="alice", count_cap=3, **kwargs)
            assert data["total"] == 5 and data["total_capped"] is False


def test_delete(api: Api, world: dict[str, Any]) -> None:
    keys, ids = world["keys"], world["ids"]
    # bob sees the secret but is not its author
    r = api.delete(f"/v1/memory/{ids['secret']}", key=keys["bob"])
    assert r.status == 403 and r.code == 403
    assert api.delete(f"/v1/memory/{ids['public']}", key=keys["carol"]).status == 403
    r = api.delete(f"/v1/memory/{ids['secret']}", key=keys["alice"])
    assert r.status == 200 and r.data == {"id": ids["secret"], "deleted": True}
    for key in (keys["alice"], keys["bob"]):
        assert api.get(f"/v1/memory/{ids['secret']}", key=key).status == 404
        for params in ({"q": "机密"}, {"q": "机"}, {"q": "secret"}, {"tag": "内部"}, {}):
            assert ids["secret"] not in _ids(api, key, **params)[0], params
        assert ids["secret"] not in _ids(api, key, participant="bob")[0]
    assert _ids(api, keys["alice"], q="能源")[0] == [ids["solo"], ids["public"]]
    assert api.delete(f"/v1/memory/{ids['secret']}", key=keys["alice"]).status == 404
    for bad in ("mem_999", "mem_1", "task_001", "mem_0001x"):
        assert api.get(f"/v1/memory/{bad}", key=keys["alice"]).status == 404
        assert api.delete(f"/v1/memory/{bad}", key=keys["alice"]).status == 404


def test_get(api: Api, world: dict[str, Any]) -> None:
    r = api.get(f"/v1/memory/{world['ids']['public']}", key=world["keys"]["carol"])
    assert r.status == 200 and r.data["content"] == SEED_CONTENT
    assert r.data["participants"] == ["bob"]
