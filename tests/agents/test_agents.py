"""CONTRACT §4 agents."""

from __future__ import annotations

from helpers import DEMO_KEY, Api


def test_list_filters_and_order(api: Api) -> None:
    k1 = api.register("alpha", capabilities=["coding", "text_generation"])
    api.register("bravo", capabilities=["coding"])
    api.register("charlie", capabilities=["text_generation"])
    r = api.get("/v1/agents", key=k1)
    assert r.data["total"] == 3
    assert [a["agent_id"] for a in r.data["items"]] == ["alpha", "bravo", "charlie"]
    assert "email" not in r.data["items"][0]
    r = api.get("/v1/agents", key=k1, params={"capability": "coding"})
    assert [a["agent_id"] for a in r.data["items"]] == ["alpha", "bravo"]
    r = api.get(
        "/v1/agents", key=k1, params=[("capability", "coding"), ("capability", "TEXT_generation")]
    )
    assert [a["agent_id"] for a in r.data["items"]] == ["alpha"]
    r = api.get("/v1/agents", key=k1, params={"min_trust": "0.9"})
    assert r.data["items"] == [] and r.data["total"] == 0
    r = api.get("/v1/agents", key=k1, params={"min_trust": "0.5"})
    assert r.data["total"] == 3


def test_pagination(api: Api) -> None:
    key = api.register("pager0")
    for i in range(1, 5):
        api.register(f"pager{i}")
    r = api.get("/v1/agents", key=key, params={"page": 2, "page_size": 2})
    assert r.data["page"] == 2 and r.data["page_size"] == 2
    assert r.data["total"] == 5 and r.data["has_more"] is True
    assert [a["agent_id"] for a in r.data["items"]] == ["pager2", "pager3"]
    r = api.get("/v1/agents", key=key, params={"page": 3, "page_size": 2})
    assert r.data["has_more"] is False and len(r.data["items"]) == 1
    r = api.get("/v1/agents", key=key, params={"page": 99})
    assert r.data["items"] == [] and r.data["has_more"] is False
    for bad in (
        {"page": 0},
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": "abc"},
        {"min_trust": 2},
        {"min_trust": "x"},
    ):
        r = api.get("/v1/agents", key=key, params=bad)
        assert r.status == 400, bad
        assert r.data["errors"][0]["field"] == next(iter(bad))


def test_get_and_owner_view(api: Api) -> None:
    key = api.register("viewer")
    api.register("target", nickname="目标")
    r = api.get("/v1/agents/target", key=key)
    assert r.status == 200 and r.data["nickname"] == "目标" and "email" not in r.data
    r = api.get("/v1/agents/TARGET", key=key)
    assert r.status == 200 and r.data["agent_id"] == "target"
    assert api.get("/v1/agents/viewer", key=key).data["email"] == "viewer@example.com"
    assert api.get("/v1/agents/nobody", key=key).status == 404


def test_update_rules(api: Api) -> None:
    key = api.register("owner1")
    api.register("owner2")
    r = api.put(
        "/v1/agents/owner1",
        key=key,
        json={
            "nickname": "新昵称",
            "capabilities": ["coding", "Coding", "review"],
            "description": "描述",
            "endpoint": "https://agent.example.com/hook",
        },
    )
    assert r.status == 200 and r.message == "更新成功"
    assert r.data["capabilities"] == ["coding", "review"]
    assert r.data["email"] == "owner1@example.com"
    assert api.put("/v1/agents/owner2", key=key, json={"nickname": "x"}).status == 403
    assert api.put("/v1/agents/ghost", key=key, json={"nickname": "x"}).status == 404
    assert api.put("/v1/agents/owner1", key=key, json={}).status == 400
    for bad in (
        {"nickname": ""},
        {"nickname": "x" * 65},
        {"nickname": None},
        {"description": "x" * 2001},
        {"endpoint": "ftp://x.example.com"},
        {"endpoint": "javascript:alert(1)"},
        {"endpoint": "http://" + "a" * 600},
        {"capabilities": None},
    ):
        r = api.put("/v1/agents/owner1", key=key, json=bad)
        assert r.status == 400, bad
    # clearing optional fields
    r = api.put("/v1/agents/owner1", key=key, json={"endpoint": None, "description": None})
    assert r.data["endpoint"] is None and r.data["description"] == ""
    # capability filter follows the update
    r = api.get("/v1/agents", key=key, params={"capability": "review"})
    assert [a["agent_id"] for a in r.data["items"]] == ["owner1"]


def test_seed_agent_examples(demo_api: Api) -> None:
    r = demo_api.get("/v1/agents", key=DEMO_KEY)
    assert r.code == 0 and r.data["total"] >= 5
    r = demo_api.get(
        "/v1/agents", key=DEMO_KEY, params={"capability": "text_generation", "min_trust": "0.9"}
    )
    assert r.code == 0
    r = demo_api.put(
        "/v1/agents/demo", key=DEMO_KEY, json={"nickname": "新昵称", "capabilities": ["coding"]}
    )
    assert r.code == 0 and r.data["capabilities"] == ["coding"]
