"""Totals kept by triggers (migration 0004) and the trust copy on agent_capabilities:
the API's totals and orders must equal a count / sort of the rows themselves."""

from __future__ import annotations

from typing import Any

from tasks.market import Market, iso

from aipod_api.core import counters
from aipod_api.core.db import transaction


def _check(market: Market) -> None:
    with transaction(market.state.engine, write=False) as conn:
        assert counters.check(conn) == []


def test_totals_follow_every_change(make_app: Any) -> None:
    market = Market(make_app())
    keys = {
        n: market.register(n, caps=["coding", "writing"][: 1 + i % 2])
        for i, n in enumerate(["alice", "bobby", "carol", "dave1"])
    }
    api = market.api

    def total(path: str, key: str = keys["alice"]) -> int:
        r = api.get(path, key=key)
        assert r.status == 200, r.body
        assert r.data["total_capped"] is False
        return int(r.data["total"])

    assert total("/v1/agents") == 4
    assert total("/v1/agents?capability=writing") == 2
    # capabilities replaced: the old one's total drops, the new one's rises
    r = api.put("/v1/agents/bobby", key=keys["bobby"], json={"capabilities": ["design"]})
    assert r.status == 200, r.body
    assert total("/v1/agents?capability=writing") == 1
    assert total("/v1/agents?capability=design") == 1
    _check(market)

    t1 = market.new_task(keys["alice"], 10)
    t2 = market.new_task(keys["alice"], 10, deadline=iso(market.now + 3600))
    market.new_task(keys["carol"], 10)
    assert total("/v1/tasks?status=open") == 3 and total("/v1/tasks") == 3
    assert market.accept(keys["bobby"], t1).status == 200
    assert total("/v1/tasks?status=open") == 2 and total("/v1/tasks?status=progress") == 1
    # past its deadline and not yet swept: counted as expired, not open
    market.advance(7200)
    assert total("/v1/tasks?status=open") == 1 and total("/v1/tasks?status=expired") == 1
    assert market.sweep() == 1
    assert total("/v1/tasks?status=open") == 1 and total("/v1/tasks?status=expired") == 1
    assert market.complete(keys["bobby"], t1).status == 200
    assert total("/v1/tasks?status=done") == 1 and total("/v1/tasks") == 3
    _check(market)
    assert t2

    # memories: public ones by tag for everyone, "participants" ones for members only
    for body in (
        {"content": "a", "tags": ["ev"]},
        {"content": "b", "tags": ["ev", "solar"]},
        {"content": "c", "tags": ["ev"], "participants": ["carol"], "visibility": "participants"},
    ):
        assert api.post("/v1/memory", key=keys["alice"], json=body).status == 201, body
    assert total("/v1/memory?tag=ev", keys["alice"]) == 3
    assert total("/v1/memory?tag=ev", keys["carol"]) == 3
    assert total("/v1/memory?tag=ev", keys["dave1"]) == 2
    assert total("/v1/memory", keys["dave1"]) == 2 and total("/v1/memory", keys["carol"]) == 3
    listed = api.get("/v1/memory?tag=ev", key=keys["alice"]).data["items"]
    assert api.delete(f"/v1/memory/{listed[-1]['memory_id']}", key=keys["alice"]).status == 200
    assert total("/v1/memory?tag=ev", keys["dave1"]) == 1
    _check(market)


def test_capability_list_follows_trust(make_app: Any) -> None:
    market = Market(make_app())
    alice = market.register("alice", caps=["ops"])
    workers = {n: market.register(n, caps=["coding"]) for n in ("wa001", "wb001", "wc001")}

    def order() -> list[str]:
        r = market.api.get("/v1/agents?capability=coding", key=alice)
        return [a["agent_id"] for a in r.data["items"]]

    def by_trust() -> list[str]:
        r = market.api.get("/v1/agents?page_size=100", key=alice)
        return [a["agent_id"] for a in r.data["items"] if "coding" in a["capabilities"]]

    assert order() == by_trust() == ["wa001", "wb001", "wc001"]
    for name, score in (("wc001", 5), ("wa001", 1)):
        task = market.done_task(alice, workers[name], 50)
        r = market.rate(alice, agent_id=name, task_id=task, quality_score=score, on_time=True)
        assert r.status == 201, r.body
    assert order() == by_trust() == ["wc001", "wb001", "wa001"]
    r = market.api.get("/v1/agents?capability=coding&min_trust=0.51", key=alice)
    assert [a["agent_id"] for a in r.data["items"]] == ["wc001"] and r.data["total"] == 1
    _check(market)


def test_agent_filters_match_brute_force(make_app: Any) -> None:
    market = Market(make_app())
    caps = [["a", "b"], ["a"], ["b", "c"], ["a", "b", "c"], ["c"], ["b", "a"]]
    keys = [market.register(f"ag{i:03d}", caps=c) for i, c in enumerate(caps)]
    for worker, score in ((3, 5), (1, 2)):
        task = market.done_task(keys[4], keys[worker], 20)
        r = market.rate(
            keys[4], agent_id=f"ag{worker:03d}", task_id=task, quality_score=score, on_time=True
        )
        assert r.status == 201, r.body
    api = market.api
    everyone = api.get("/v1/agents?page_size=100", key=keys[0]).data["items"]
    for wanted in (["a"], ["a", "b"], ["a", "b", "c"], ["c", "a"], ["zz"]):
        for min_trust in (None, 0.5, 0.51):
            expected = [
                a["agent_id"]
                for a in everyone
                if set(wanted) <= set(a["capabilities"])
                and (min_trust is None or a["trust_score"] >= min_trust)
            ]
            query = "&".join(f"capability={c}" for c in wanted)
            if min_trust is not None:
                query += f"&min_trust={min_trust}"
            got: list[str] = []
            for page in (1, 2, 3, 4):
                r = api.get(f"/v1/agents?{query}&page_size=2&page={page}", key=keys[0])
                assert r.status == 200, r.body
                assert r.data["total"] == len(expected), (wanted, min_trust)
                got += [a["agent_id"] for a in r.data["items"]]
            assert got == expected, (wanted, min_trust)
