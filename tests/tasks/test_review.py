"""Pay on approval (issue 13 §2): the review window, change requests, disputes and their
resolution, the task history, ratings only for paid work, and the publisher's record.

In process with an injected clock (`tasks.market.Market`); every edge of the transition
table that these endpoints take is exercised, with the money checked through the wallet
and the CONTRACT §5 invariants after each scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from tasks.market import Market, iso

from aipod_api.tasks.service import payout_cents

REVIEW = 3600


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app(operators="judge, Judge2"))


def _error(r: Any) -> str:
    return str(r.body.get("error"))


@pytest.fixture
def parties(market: Market) -> dict[str, str]:
    return {
        "pub": market.register("pub"),
        "worker": market.register("worker"),
        "judge": market.register("judge"),
        "other": market.register("other"),
    }


def submitted(market: Market, keys: dict[str, str], budget: Any = 100, **extra: Any) -> str:
    extra.setdefault("review_seconds", REVIEW)
    task_id = market.new_task(keys["pub"], budget, **extra)
    assert market.accept(keys["worker"], task_id).status == 200
    r = market.complete(keys["worker"], task_id, {"deliverables": {"v": 1}})
    assert r.status == 200 and r.data["status"] == "submitted", r.body
    return task_id


# --- the default stays the seed's flow ------------------------------------------------------


def test_without_review_complete_pays_at_once(market: Market, parties: dict[str, str]) -> None:
    task_id = market.new_task(parties["pub"], 100)
    assert market.get(parties["pub"], task_id).data["review_seconds"] == 0
    assert market.accept(parties["worker"], task_id).status == 200
    r = market.complete(parties["worker"], task_id)
    assert r.status == 200 and r.data["status"] == "done" and r.data["payout"] == 100
    assert r.message == "任务已完成,报酬已支付"
    assert market.wallet(parties["worker"])["balance"] == 1100
    # approve and dispute have nothing to act on
    for call in (market.approve, market.dispute, market.request_changes):
        r = call(parties["pub"], task_id)
        assert (r.status, _error(r)) == (409, "task_not_submitted"), r.body
    assert market.invariants() == []


def test_the_server_default_review_window_applies(make_app: Callable[..., Any]) -> None:
    m = Market(make_app(review_seconds=60))
    pub, worker = m.register("pub"), m.register("worker")
    task_id = m.new_task(pub, 10)
    assert m.get(pub, task_id).data["review_seconds"] == 60
    explicit = m.new_task(pub, 10, review_seconds=0)
    assert m.get(pub, explicit).data["review_seconds"] == 0
    assert m.accept(worker, task_id).status == 200
    assert m.complete(worker, task_id).data["status"] == "submitted"


@pytest.mark.parametrize("bad", [-1, 2_592_001, 1.5, "60", True])
def test_review_seconds_is_validated(market: Market, parties: dict[str, str], bad: Any) -> None:
    r = market.publish(parties["pub"], 10, review_seconds=bad)
    assert r.status == 400 and r.data["errors"][0]["field"] == "review_seconds", r.body


# --- submit, approve ----------------------------------------------------------------------


def test_submit_holds_the_escrow_and_approve_pays(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 250)
    task = market.get(parties["pub"], task_id).data
    assert task["status"] == "submitted" and task["payout"] is None
    assert task["submitted_at"] == iso(market.now)
    assert task["review_due"] == iso(market.now + REVIEW)
    assert task["deliverables"] == {"v": 1}
    assert market.wallet(parties["pub"])["escrow"] == 250
    assert market.wallet(parties["worker"])["balance"] == 1000
    # only the publisher approves
    for who in ("worker", "other", "judge"):
        r = market.approve(parties[who], task_id)
        assert (r.status, _error(r)) == (403, "not_publisher"), r.body
    market.advance(10)
    r = market.approve(parties["pub"], task_id)
    assert r.status == 200 and r.data["status"] == "done" and r.data["payout"] == 250
    assert r.data["completed_at"] == iso(market.now)
    assert market.wallet(parties["worker"])["balance"] == 1250
    pub_wallet = market.wallet(parties["pub"])
    assert (pub_wallet["balance"], pub_wallet["escrow"], pub_wallet["total_spent"]) == (750, 0, 250)
    r = market.approve(parties["pub"], task_id)
    assert (r.status, _error(r)) == (409, "task_not_submitted")
    assert market.api.get("/v1/agents/worker", key=parties["pub"]).data["tasks_completed"] == 1
    assert market.invariants() == []


def test_auto_approve_is_visible_at_once_and_paid_once(
    market: Market, parties: dict[str, str]
) -> None:
    task_id = submitted(market, parties, 80)
    market.advance(REVIEW)  # review_due == now: the window has ended
    assert market.get(parties["other"], task_id).data["status"] == "done"
    listed = market.api.get("/v1/tasks", key=parties["pub"], params={"status": "done"}).data
    assert [t["task_id"] for t in listed["items"]] == [task_id] and listed["total"] == 1
    subs = market.api.get("/v1/tasks", key=parties["pub"], params={"status": "submitted"}).data
    assert subs["total"] == 0 and subs["items"] == []
    # The assignee's wallet read pays it (the probe by assignee), before any sweep.
    assert market.wallet(parties["worker"])["balance"] == 1080
    assert market.sweep() == 0
    assert market.wallet(parties["pub"])["escrow"] == 0
    # too late to approve or dispute: 409 with the status the clock gave
    for call in (market.approve, market.dispute, market.request_changes):
        r = call(parties["pub"], task_id)
        assert (r.status, _error(r), r.data) == (409, "task_not_submitted", {"status": "done"})
    history = market.get(parties["pub"], task_id).data["history"]
    assert history[-1] == {
        "action": "auto_approve",
        "from_status": "submitted",
        "to_status": "done",
        "actor_id": None,
        "role": "clock",
        "at": iso(market.now),
        "reason": None,
    }
    assert market.invariants() == []


def test_the_sweep_auto_approves_and_approve_after_it_is_refused(
    market: Market, parties: dict[str, str]
) -> None:
    task_id = submitted(market, parties, 40)
    market.advance(REVIEW + 5)
    assert market.sweep() == 1 and market.sweep() == 0
    r = market.approve(parties["pub"], task_id)
    assert r.status == 409 and r.data == {"status": "done"}
    assert market.wallet(parties["worker"])["balance"] == 1040
    assert market.invariants() == []


def test_a_refused_approve_after_the_window_settles_the_auto_approval(
    market: Market, parties: dict[str, str]
) -> None:
    task_id = submitted(market, parties, 40)
    market.advance(REVIEW + 1)
    r = market.approve(parties["pub"], task_id)  # TaskDue: the clock's edge is applied
    assert r.status == 409 and r.data == {"status": "done"}
    assert market.sweep() == 0  # already paid by the refused request's transaction
    assert market.wallet(parties["worker"])["balance"] == 1040
    assert market.invariants() == []


# --- request changes ------------------------------------------------------------------------


def test_request_changes_up_to_the_limit(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 100)
    for round_ in (1, 2):
        r = market.request_changes(parties["pub"], task_id, f"round {round_}")
        assert r.status == 200 and r.data["status"] == "progress", r.body
        assert r.data["change_rounds"] == round_ and r.data["review_due"] is None
        assert market.wallet(parties["pub"])["escrow"] == 100
        r = market.complete(parties["worker"], task_id, {"deliverables": {"v": round_ + 1}})
        assert r.status == 200 and r.data["status"] == "submitted"
    r = market.request_changes(parties["pub"], task_id)
    assert (r.status, _error(r)) == (409, "change_rounds_exhausted"), r.body
    assert r.data == {"status": "submitted"}
    task = market.get(parties["pub"], task_id).data
    assert task["max_change_rounds"] == 2 and task["deliverables"] == {"v": 3}
    assert [h["action"] for h in task["history"]] == [
        "publish",
        "accept",
        "submit",
        "request_changes",
        "submit",
        "request_changes",
        "submit",
    ]
    assert task["history"][3]["reason"] == "round 1"
    assert task["history"][3]["role"] == "publisher"
    assert market.get(parties["other"], task_id).data["history"][3]["reason"] is None
    r = market.request_changes(parties["worker"], task_id)
    assert (r.status, _error(r)) == (403, "not_publisher")
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001}, {"why": "x"}):
        r = market.api.put(f"/v1/tasks/{task_id}/request-changes", key=parties["pub"], json=body)
        assert r.status == 400, (body, r.body)
    assert market.approve(parties["pub"], task_id).status == 200
    assert market.invariants() == []


def test_change_rounds_setting_is_fixed_per_task(make_app: Callable[..., Any]) -> None:
    m = Market(make_app(max_change_rounds=0))
    pub, worker = m.register("pub"), m.register("worker")
    keys = {"pub": pub, "worker": worker}
    task_id = submitted(m, keys)
    r = m.request_changes(pub, task_id)
    assert (r.status, r.body["error"]) == (409, "change_rounds_exhausted")


def test_a_change_request_moves_a_deadline_inside_the_next_window(
    market: Market, parties: dict[str, str]
) -> None:
    task_id = submitted(market, parties, 100, deadline=iso(market.now + 60))
    market.advance(30)
    r = market.request_changes(parties["pub"], task_id)
    assert r.status == 200 and r.data["deadline"] == iso(market.now + REVIEW)
    market.advance(100)  # past the original deadline: the publisher cannot cancel yet
    r = market.cancel(parties["pub"], task_id)
    assert (r.status, _error(r)) == (409, "task_in_progress_before_deadline")
    far = submitted(market, parties, 10, deadline=iso(market.now + 10 * REVIEW))
    r = market.request_changes(parties["pub"], far)
    assert r.data["deadline"] == iso(market.now + 10 * REVIEW)  # unchanged
    assert market.invariants() == []


def test_a_submitted_task_ignores_its_deadline(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 100, deadline=iso(market.now + 60))
    market.advance(120)  # deadline passed, review window open
    assert market.get(parties["pub"], task_id).data["status"] == "submitted"
    r = market.cancel(parties["pub"], task_id)
    assert (r.status, _error(r)) == (409, "task_not_cancellable")
    assert market.sweep() == 0
    assert market.approve(parties["pub"], task_id).status == 200


# --- disputes -------------------------------------------------------------------------------


def test_dispute_freezes_the_escrow_past_the_window(
    market: Market, parties: dict[str, str]
) -> None:
    task_id = submitted(market, parties, 100)
    r = market.dispute(parties["worker"], task_id)
    assert (r.status, _error(r)) == (403, "not_publisher")
    r = market.dispute(parties["pub"], task_id, "missing half")
    assert r.status == 200 and r.data["status"] == "disputed", r.body
    assert r.data["dispute_reason"] == "missing half" and r.data["disputed_at"] == iso(market.now)
    assert market.get(parties["other"], task_id).data["dispute_reason"] is None
    assert market.get(parties["judge"], task_id).data["dispute_reason"] == "missing half"
    assert market.get(parties["judge"], task_id).data["deliverables"] == {"v": 1}
    market.advance(REVIEW * 10)  # no clock on a dispute
    assert market.get(parties["pub"], task_id).data["status"] == "disputed"
    assert market.sweep() == 0
    assert market.wallet(parties["pub"])["escrow"] == 100
    assert market.wallet(parties["worker"])["balance"] == 1000
    for call in (market.approve, market.request_changes, market.dispute):
        r = call(parties["pub"], task_id)
        assert (r.status, _error(r)) == (409, "task_not_submitted")
    r = market.complete(parties["worker"], task_id)
    assert (r.status, _error(r)) == (409, "task_not_in_progress")
    assert market.cancel(parties["pub"], task_id).status == 409
    assert market.invariants() == []


def test_concede_refunds(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 100)
    r = market.concede(parties["worker"], task_id)
    assert (r.status, _error(r)) == (409, "task_not_disputed")
    assert market.dispute(parties["pub"], task_id).status == 200
    r = market.concede(parties["pub"], task_id)
    assert (r.status, _error(r)) == (403, "not_assignee")
    r = market.concede(parties["worker"], task_id)
    assert r.status == 200 and r.data["status"] == "cancelled" and r.data["payout"] is None
    assert market.wallet(parties["pub"])["balance"] == 1000
    assert market.wallet(parties["worker"])["balance"] == 1000
    r = market.rate(
        parties["pub"], agent_id="worker", task_id=task_id, quality_score=1, on_time=False
    )
    assert (r.status, _error(r)) == (409, "task_not_done")
    assert market.concede(parties["worker"], task_id).status == 409
    record = market.api.get("/v1/agents/pub", key=parties["worker"]).data["publisher_record"]
    assert record == {
        "tasks_published": 1,
        "reviews_approved": 0,
        "disputes_opened": 1,
        "disputes_lost": 0,
        "approval_rate": 0.0,
    }
    assert market.invariants() == []


def test_withdraw_dispute_pays(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 100)
    assert market.dispute(parties["pub"], task_id).status == 200
    r = market.withdraw_dispute(parties["worker"], task_id)
    assert (r.status, _error(r)) == (403, "not_publisher")
    r = market.withdraw_dispute(parties["pub"], task_id)
    assert r.status == 200 and r.data["status"] == "done" and r.data["payout"] == 100
    assert market.wallet(parties["worker"])["balance"] == 1100
    assert market.withdraw_dispute(parties["pub"], task_id).status == 409
    record = market.api.get("/v1/agents/pub", key=parties["pub"]).data["publisher_record"]
    assert record["disputes_opened"] == 1 and record["disputes_lost"] == 1
    assert market.invariants() == []


@pytest.mark.parametrize(
    ("outcome", "share", "worker_gets"),
    [
        ("release", None, Decimal("333.33")),
        ("release", 1, Decimal("333.33")),
        ("refund", None, Decimal("0")),
        ("refund", 0, Decimal("0")),
        ("split", 0.5, Decimal("166.67")),  # 166.665 rounds half up
        ("split", 0.3333, Decimal("111.10")),  # 111.099889 -> 111.10
        ("split", 0.0001, Decimal("0.03")),  # 0.033333 -> 0.03
        ("split", 0.9999, Decimal("333.30")),
    ],
)
def test_resolve_moves_each_part_once(
    market: Market, parties: dict[str, str], outcome: str, share: Any, worker_gets: Decimal
) -> None:
    task_id = submitted(market, parties, 333.33)
    assert market.dispute(parties["pub"], task_id).status == 200
    body: dict[str, Any] = {"outcome": outcome}
    if share is not None:
        body["assignee_share"] = share
    r = market.resolve(parties["judge"], task_id, **body, reason="looked at it")
    assert r.status == 200, r.body
    assert r.data["status"] == "done" and r.data["resolution"] == outcome
    assert Decimal(str(r.data["payout"])) == worker_gets
    assert market.wallet(parties["worker"])["balance"] == float(1000 + worker_gets)
    pub = market.wallet(parties["pub"])
    assert Decimal(str(pub["balance"])) == Decimal("1000") - worker_gets
    assert pub["escrow"] == 0 and Decimal(str(pub["total_spent"])) == worker_gets
    lines = market.api.get(
        "/v1/transactions", key=parties["pub"], params={"task_id": task_id}
    ).data["items"]
    kinds = sorted(line["type"] for line in lines)
    expected = ["escrow_hold"]
    if worker_gets > 0:
        expected.append("task_settlement")
    if worker_gets < Decimal("333.33"):
        expected.append("escrow_refund")
    assert kinds == sorted(expected)
    history = market.get(parties["pub"], task_id).data["history"][-1]
    assert (history["action"], history["role"], history["actor_id"]) == (
        "resolve",
        "operator",
        "judge",
    )
    assert history["reason"] == "looked at it"
    assert market.resolve(parties["judge"], task_id, outcome="release").status == 409
    rate = market.rate(
        parties["pub"], agent_id="worker", task_id=task_id, quality_score=3, on_time=True
    )
    if worker_gets == 0:
        assert (rate.status, _error(rate)) == (409, "task_not_paid"), rate.body
    else:
        assert rate.status == 201, rate.body
    record = market.api.get("/v1/agents/pub", key=parties["pub"]).data["publisher_record"]
    assert record["disputes_lost"] == (1 if outcome == "release" else 0)
    assert market.invariants() == []


def test_payout_rounding_is_half_up_to_the_cent() -> None:
    assert payout_cents(33333, Decimal("0.5")) == 16667
    assert payout_cents(1, Decimal("0.5")) == 1
    assert payout_cents(3, Decimal("0.5")) == 2
    assert payout_cents(100, Decimal("0.0049")) == 0
    assert payout_cents(100, Decimal("0.005")) == 1
    for budget in (0, 1, 7, 99999, 10**11):
        for bp in (0, 1, 4999, 5000, 9999, 10000):
            share = Decimal(bp) / 10000
            paid = payout_cents(budget, share)
            assert 0 <= paid <= budget
            assert abs(Decimal(paid) - budget * share) <= Decimal("0.5")


def test_resolve_is_for_operators_who_are_not_parties(
    make_app: Callable[..., Any],
) -> None:
    m = Market(make_app(operators="pub,judge"))
    keys = {"pub": m.register("pub"), "worker": m.register("worker")}
    judge, other = m.register("judge"), m.register("other")
    task_id = submitted(m, keys)
    r = m.resolve(judge, task_id, outcome="release")
    assert (r.status, _error(r)) == (409, "task_not_disputed")
    assert m.dispute(keys["pub"], task_id).status == 200
    for key in (other, keys["worker"], keys["pub"]):  # not an operator / a party
        r = m.resolve(key, task_id, outcome="release")
        assert (r.status, _error(r)) == (403, "not_operator"), r.body
    bad: list[dict[str, Any]] = [
        {"outcome": "split"},
        {"outcome": "split", "assignee_share": 0},
        {"outcome": "split", "assignee_share": 1},
        {"outcome": "release", "assignee_share": 0.5},
        {"outcome": "refund", "assignee_share": 0.5},
        {"outcome": "split", "assignee_share": 0.12345},
        {"outcome": "split", "assignee_share": 1.5},
        {"outcome": "split", "assignee_share": -0.1},
        {"outcome": "split", "assignee_share": "0.5"},
        {"outcome": "halve"},
        {},
    ]
    for body in bad:
        r = m.api.put(f"/v1/tasks/{task_id}/resolve", key=judge, json=body)
        assert r.status == 400, (body, r.body)
    r = m.resolve(judge, task_id, outcome="split", assignee_share=0.25)
    assert r.status == 200 and r.data["payout"] == 25 and r.data["assignee_share"] == 0.25
    assert m.invariants() == []


# --- history, ratings, the publisher's record ------------------------------------------------


def test_history_records_every_transition(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 10)
    market.advance(5)
    assert market.approve(parties["pub"], task_id).status == 200
    history = market.get(parties["worker"], task_id).data["history"]
    assert [(h["action"], h["from_status"], h["to_status"], h["role"]) for h in history] == [
        ("publish", None, "open", "publisher"),
        ("accept", "open", "progress", "contractor"),
        ("submit", "progress", "submitted", "assignee"),
        ("approve", "submitted", "done", "publisher"),
    ]
    assert [h["actor_id"] for h in history] == ["pub", "worker", "worker", "pub"]
    assert history[-1]["at"] == iso(market.now)
    cancelled = market.new_task(parties["pub"], 5, deadline=iso(market.now + 5))
    market.advance(10)
    market.sweep()
    expired = market.get(parties["pub"], cancelled).data["history"]
    assert [(h["action"], h["role"], h["actor_id"]) for h in expired] == [
        ("publish", "publisher", "pub"),
        ("expire", "clock", None),
    ]


def test_the_publisher_record(market: Market, parties: dict[str, str]) -> None:
    fresh = market.api.get("/v1/agents/pub", key=parties["pub"]).data["publisher_record"]
    assert fresh == {
        "tasks_published": 0,
        "reviews_approved": 0,
        "disputes_opened": 0,
        "disputes_lost": 0,
        "approval_rate": None,
    }
    approved = submitted(market, parties, 10)
    assert market.approve(parties["pub"], approved).status == 200
    auto = submitted(market, parties, 10)
    disputed = submitted(market, parties, 10)
    assert market.dispute(parties["pub"], disputed).status == 200
    market.done_task(parties["pub"], parties["worker"], 10)  # no review: not counted
    market.advance(REVIEW)
    assert market.get(parties["pub"], auto).data["status"] == "done"
    market.sweep()
    record = market.api.get("/v1/agents/pub", key=parties["other"]).data["publisher_record"]
    assert record == {
        "tasks_published": 4,
        "reviews_approved": 2,
        "disputes_opened": 1,
        "disputes_lost": 0,
        "approval_rate": 0.6667,
    }
    listed = market.api.get("/v1/agents", key=parties["pub"], params={"page_size": 100}).data
    assert next(a for a in listed["items"] if a["agent_id"] == "pub")["publisher_record"] == record


def test_rating_an_auto_approved_task_before_any_sweep(
    market: Market, parties: dict[str, str]
) -> None:
    task_id = submitted(market, parties, 50)
    r = market.rate(
        parties["pub"], agent_id="worker", task_id=task_id, quality_score=5, on_time=True
    )
    assert (r.status, _error(r)) == (409, "task_not_done")
    market.advance(REVIEW)
    r = market.rate(
        parties["pub"], agent_id="worker", task_id=task_id, quality_score=5, on_time=True
    )
    assert r.status == 201, r.body
    assert market.sweep() == 0
    assert market.wallet(parties["worker"])["balance"] == 1050
    assert market.invariants() == []


def test_english_messages(market: Market, parties: dict[str, str]) -> None:
    task_id = submitted(market, parties, 10)
    headers = {"Accept-Language": "en"}
    r = market.api.put(f"/v1/tasks/{task_id}/approve", key=parties["worker"], headers=headers)
    assert r.status == 403 and "publisher" in r.message
    r = market.api.put(
        f"/v1/tasks/{task_id}/dispute", key=parties["pub"], json={"reason": "x"}, headers=headers
    )
    assert r.status == 200 and r.message == "Dispute opened; the escrow is frozen"
    r = market.api.put(
        f"/v1/tasks/{task_id}/resolve", key=parties["other"], json={"outcome": "refund"}
    )
    assert r.status == 403 and "AIPOD_OPERATORS" in r.message
