"""Trust endpoints: the rating rules (404/403/409/400/409), the stored score, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tasks.market import Market
from trust.world import seeds

from aipod_api.trust.formula import DEFAULT_PARAMS, SECONDS_PER_DAY, RatingInput, trust_score

PROBATION = DEFAULT_PARAMS.probation_standing


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def _setup(market: Market, budget: Any = 100) -> tuple[str, str, str]:
    alice, bob = market.register("alice"), market.register("bobby")
    return alice, bob, market.done_task(alice, bob, budget)


def test_rate_returns_rating_and_new_score(market: Market) -> None:
    alice, _bob, task_id = _setup(market, 500)
    r = market.rate(
        alice, agent_id="BOBBY", task_id=task_id, quality_score=5, on_time=True, comment="好"
    )
    assert r.status == 201 and r.code == 0, r.body
    rating = r.data["rating"]
    assert rating == {
        "rating_id": "rate_001",
        "agent_id": "bobby",
        "rater_id": "alice",
        "task_id": task_id,
        "quality_score": 5.0,
        "on_time": True,
        "comment": "好",
        "created_at": rating["created_at"],
    }
    # alice's account is new: her opinion counts a quarter (docs/trust.md's example)
    expected = trust_score([RatingInput(5, True, 50_000, 0, "alice", PROBATION)])
    assert r.data["trust_score"] == expected == 0.5551
    agent = market.api.get("/v1/agents/bobby", key=alice).data
    assert (agent["trust_score"], agent["ratings_count"]) == (expected, 1)
    assert market.get(alice, task_id).data["rated"] is True


def test_rate_rules_in_contract_order(market: Market) -> None:
    alice, bob, done = _setup(market)
    eve = market.register("eve01")
    body = {"agent_id": "bobby", "quality_score": 4.5, "on_time": True}
    # 404: unknown or malformed task
    for task_id in ("task_999", "nonsense"):
        r = market.rate(alice, task_id=task_id, **body)
        assert r.status == 404 and r.code == 404, r.body
    # 403: only the publisher may rate (also the assignee itself, as in the seed's example)
    for key in (bob, eve):
        assert market.rate(key, task_id=done, **body).status == 403
    # 409: not done yet (403 still wins for a stranger)
    open_task = market.new_task(alice)
    r = market.rate(alice, task_id=open_task, **body)
    assert r.status == 409 and r.data == {"status": "open"}
    assert market.rate(eve, task_id=open_task, **body).status == 403
    market.accept(bob, open_task)
    assert market.rate(alice, task_id=open_task, **body).status == 409
    # 400: agent_id is not the assignee
    r = market.rate(alice, task_id=done, **{**body, "agent_id": "eve01"})
    assert r.status == 400 and r.data["errors"][0]["field"] == "agent_id"
    assert "bobby" in r.message
    # 201 then 409 already rated
    assert market.rate(alice, task_id=done, **body).status == 201
    r = market.rate(alice, task_id=done, **body)
    assert r.status == 409 and r.message == "该任务已经评价过"
    assert market.api.get("/v1/trust/bobby", key=alice).data["ratings_count"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quality_score": 0.99}, "quality_score"),
        ({"quality_score": 5.01}, "quality_score"),
        ({"quality_score": "4"}, "quality_score"),
        ({"quality_score": True}, "quality_score"),
        ({"quality_score": 4.333}, "quality_score"),
        ({"on_time": "yes"}, "on_time"),
        ({"on_time": 1}, "on_time"),
        ({"comment": "x" * 1001}, "comment"),
        ({"agent_id": 7}, "agent_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_rate_body_rules_are_400(market: Market, change: dict[str, Any], field: str) -> None:
    alice, _, task_id = _setup(market)
    body = {"agent_id": "bobby", "task_id": task_id, "quality_score": 4, "on_time": True}
    r = market.rate(alice, **{**body, **change})
    assert r.status == 400 and r.data["errors"][0]["field"] == field, r.body
    for missing in ("agent_id", "task_id", "quality_score", "on_time"):
        partial = {k: v for k, v in body.items() if k != missing}
        r = market.rate(alice, **partial)
        assert r.status == 400 and r.data["errors"][0]["field"] == missing


def test_trust_view_history_and_aggregates(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    r = market.api.get("/v1/trust/bobby", key=alice)
    assert r.status == 200 and r.data == {
        "agent_id": "bobby",
        "trust_score": 0.5,
        "ratings_count": 0,
        "average_quality": None,
        "on_time_rate": None,
        "history": {
            "items": [],
            "page": 1,
            "page_size": 20,
            "total": 0,
            "total_capped": False,
            "has_more": False,
        },
    }
    tasks = [market.done_task(alice, bob, 100) for _ in range(3)]
    for task_id, (q, on_time) in zip(tasks, [(4.0, True), (5.0, False), (4.5, True)], strict=True):
        market.advance(10)
        assert (
            market.rate(
                alice, agent_id="bobby", task_id=task_id, quality_score=q, on_time=on_time
            ).status
            == 201
        )
    data = market.api.get("/v1/trust/BOBBY", key=bob, params={"page_size": 2}).data
    assert data["ratings_count"] == 3 and data["average_quality"] == 4.5
    assert data["on_time_rate"] == 0.6667
    assert [h["task_id"] for h in data["history"]["items"]] == [tasks[2], tasks[1]]
    assert data["history"]["has_more"] is True and data["history"]["total"] == 3
    expected = trust_score(
        [
            RatingInput(4.0, True, 10_000, 20, "alice", PROBATION),
            RatingInput(5.0, False, 10_000, 10, "alice", PROBATION),
            RatingInput(4.5, True, 10_000, 0, "alice", PROBATION),
        ]
    )
    assert data["trust_score"] == expected
    assert market.api.get("/v1/trust/nobody", key=bob).status == 404
    assert market.api.get("/v1/trust/bobby", key=bob, params={"page_size": 0}).status == 400
    assert market.api.get("/v1/trust/bobby").status == 401


def test_stored_score_drives_min_trust_and_order(market: Market) -> None:
    (alice,) = seeds(market, "alice")  # a pre-trusted rater: full standing
    market.advance(30 * SECONDS_PER_DAY)
    good, cheap, bad = market.register("good1"), market.register("cheap"), market.register("bad01")
    for worker, budget, q in ((good, 200, 5), (cheap, 0.01, 5), (bad, 200, 1)):
        task_id = market.done_task(alice, worker, budget)
        worker_id = market.api.get("/v1/agents/me", key=worker).data["agent_id"]
        r = market.rate(alice, agent_id=worker_id, task_id=task_id, quality_score=q, on_time=True)
        assert r.status == 201
    scores = {
        a["agent_id"]: a["trust_score"]
        for a in market.api.get("/v1/agents", key=alice).data["items"]
    }
    # one 5.0 on a paid task visibly raises; a 0.01-credit self-deal barely moves it
    assert scores["good1"] > 0.6 and scores["cheap"] == 0.5 and scores["bad01"] < 0.4
    listed = market.api.get("/v1/agents", key=alice).data["items"]
    # trust_score desc, then agent_id asc among equals
    assert [a["agent_id"] for a in listed] == ["good1", "alice", "cheap", "bad01"]
    high = market.api.get("/v1/agents", key=alice, params={"min_trust": 0.6}).data["items"]
    assert [a["agent_id"] for a in high] == ["good1"]
