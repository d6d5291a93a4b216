"""Tasks: every 400/401/403/404/409 rule, visibility, lists, expiry (CONTRACT §4 Tasks)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import Api
from tasks.market import Market, iso

TASK_FIELDS = {
    "task_id",
    "title",
    "description",
    "required_capabilities",
    "budget",
    "deadline",
    "status",
    "publisher_id",
    "assignee_id",
    "created_at",
    "accepted_at",
    "completed_at",
    "deliverables",
    "quality_notes",
    "rated",
    # pay on approval (issue 13 §2)
    "review_seconds",
    "submitted_at",
    "review_due",
    "change_rounds",
    "max_change_rounds",
    "disputed_at",
    "dispute_reason",
    "resolution",
    "assignee_share",
    "payout",
}


def _field(r: Any) -> str:
    return str(r.data["errors"][0]["field"])


# --- publish ---------------------------------------------------------------------------


def test_publish_returns_the_task_and_holds_escrow(market: Market) -> None:
    key = market.register("alice")
    r = market.publish(
        key,
        budget=12.5,
        title="翻译一段文字",
        description="中文 → English",
        required_capabilities=["Translation", "translation", "writing"],
        deadline=iso(market.now + 3600),
    )
    assert r.status == 201 and r.code == 0, r.body
    task = r.data
    assert set(task) == TASK_FIELDS
    assert task["task_id"] == "task_001" and task["status"] == "open"
    assert task["budget"] == 12.5 and task["required_capabilities"] == ["translation", "writing"]
    assert task["deadline"] == iso(market.now + 3600) and task["created_at"] == iso(market.now)
    assert task["publisher_id"] == "alice" and task["assignee_id"] is None
    assert task["rated"] is False and task["deliverables"] is None
    wallet = market.wallet(key)
    assert wallet["balance"] == 987.5 and wallet["escrow"] == 12.5
    assert market.new_task(key, budget=0) == "task_002"  # a free task is allowed
    assert market.invariants() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"budget": 1}, "title"),
        ({"title": "t"}, "budget"),
        ({"title": "", "budget": 1}, "title"),
        ({"title": "   ", "budget": 1}, "title"),
        ({"title": "x" * 201, "budget": 1}, "title"),
        ({"title": 5, "budget": 1}, "title"),
        ({"title": "t", "budget": 1, "description": "x" * 10_001}, "description"),
        ({"title": "t", "budget": -1}, "budget"),
        ({"title": "t", "budget": "100"}, "budget"),
        ({"title": "t", "budget": True}, "budget"),
        ({"title": "t", "budget": 1.005}, "budget"),
        ({"title": "t", "budget": 1_000_000_001}, "budget"),
        ({"title": "t", "budget": 1, "required_capabilities": [f"c{i}" for i in range(17)]}, None),
        ({"title": "t", "budget": 1, "required_capabilities": ["bad cap"]}, None),
        ({"title": "t", "budget": 1, "required_capabilities": "coding"}, None),
        ({"title": "t", "budget": 1, "deadline": "tomorrow"}, "deadline"),
        ({"title": "t", "budget": 1, "deadline": "2026-02-30T10:00:00"}, "deadline"),
        ({"title": "t", "budget": 1, "deadline": 1_900_000_000}, "deadline"),
        ({"title": "t", "budget": 1, "deadline": "2020-01-01T00:00:00Z"}, "deadline"),
        ({"title": "t", "budget": 1, "color": "red"}, "color"),
    ],
)
def test_publish_rejects_bad_input_with_400(
    market: Market, body: dict[str, Any], field: str | None
) -> None:
    key = market.register("alice")
    r = market.api.post("/v1/tasks", key=key, json=body)
    assert r.status == 400 and r.code == 400, r.body
    if field is not None:
        assert _field(r).startswith(field), r.body
    assert market.wallet(key)["escrow"] == 0


def test_deadline_must_be_in_the_future(market: Market) -> None:
    key = market.register("alice")
    for when in (market.now, market.now - 1):
        r = market.publish(key, deadline=iso(when))
        assert r.status == 400 and _field(r) == "deadline", r.body
    r = market.api.post(
        "/v1/tasks",
        key=key,
        json={"title": "t", "budget": 1, "deadline": iso(market.now)},
        headers={"Accept-Language": "en"},
    )
    assert r.message == "Field deadline must be in the future"
    assert market.publish(key, deadline=iso(market.now + 1)).status == 201


def test_deadline_without_offset_is_read_in_the_server_time_zone(make_app: Any) -> None:
    market = Market(make_app(timezone="Asia/Shanghai"))
    key = market.register("alice")
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(microsecond=0) + timedelta(days=1)
    market.now = int(datetime.now(ZoneInfo("UTC")).timestamp())
    r = market.publish(key, deadline=local.replace(tzinfo=None).isoformat())
    assert r.status == 201, r.body
    assert r.data["deadline"] == iso(int(local.timestamp()))
    r = market.publish(key, deadline=(local.isoformat()))  # with an offset: taken as is
    assert r.data["deadline"] == iso(int(local.timestamp()))


def test_insufficient_balance_is_409_with_balance_and_required(market: Market) -> None:
    key = market.register("alice")
    assert market.new_task(key, budget=999.99)
    r = market.publish(key, budget=0.02)
    assert r.status == 409 and r.code == 409
    assert r.message == "余额不足"
    assert r.data == {"balance": 0.01, "required": 0.02}
    assert market.wallet(key) | {"agent_id": "alice"} == {
        "agent_id": "alice",
        "balance": 0.01,
        "escrow": 999.99,
        "total_earned": 0,
        "total_spent": 0,
        "currency": "credit",
    }
    listed = market.api.get("/v1/tasks", key=key).data
    assert listed["total"] == 1  # the refused task left no trace
    assert market.invariants() == []


def test_every_task_route_needs_a_key(market: Market) -> None:
    api: Api = market.api
    for method, path in [
        ("GET", "/v1/tasks"),
        ("POST", "/v1/tasks"),
        ("GET", "/v1/tasks/task_001"),
        ("PUT", "/v1/tasks/task_001/accept"),
        ("PUT", "/v1/tasks/task_001/complete"),
        ("PUT", "/v1/tasks/task_001/cancel"),
    ]:
        r = api.request(method, path, json={})
        assert r.status == 401 and r.code == 401, (method, path)
        r = api.request(method, path, json={}, key="fg_live_" + "x" * 32)
        assert r.status == 401, (method, path)


# --- get / visibility ------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["task_999", "task_1", "task_0001", "mem_001", "TASK_001"])
def test_unknown_or_malformed_task_id_is_404(market: Market, task_id: str) -> None:
    key = market.register("alice")
    market.new_task(key)
    for r in (
        market.get(key, task_id),
        market.accept(key, task_id),
        market.complete(key, task_id),
        market.cancel(key, task_id),
    ):
        assert r.status == 404 and r.code == 404, r.body


def test_deliverables_are_visible_to_the_parties_only(market: Market) -> None:
    alice, bob, eve = market.register("alice"), market.register("bobby"), market.register("eve01")
    task_id = market.new_task(alice, 50)
    assert market.accept(bob, task_id).status == 200
    body = {"deliverables": {"report": "内容", "files": ["a.pdf"]}, "quality_notes": "好"}
    done = market.complete(bob, task_id, body)
    assert done.status == 200 and done.data["deliverables"] == body["deliverables"]
    for key in (alice, bob):
        task = market.get(key, task_id).data
        assert task["deliverables"] == body["deliverables"] and task["quality_notes"] == "好"
    task = market.get(eve, task_id).data
    assert task["deliverables"] is None and task["quality_notes"] is None
    assert task["status"] == "done"
    listed = market.api.get("/v1/tasks", key=eve).data["items"][0]
    assert listed["deliverables"] is None and listed["quality_notes"] is None
    listed = market.api.get("/v1/tasks", key=alice).data["items"][0]
    assert listed["deliverables"] == body["deliverables"]


# --- accept ----------------------------------------------------------------------------


def test_accept_moves_to_progress(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby", ["coding"])
    task_id = market.new_task(alice, required_capabilities=["coding"])
    market.advance(60)
    r = market.accept(bob, task_id)
    assert r.status == 200 and r.code == 0 and r.message == "承接成功"
    assert r.data["status"] == "progress" and r.data["assignee_id"] == "bobby"
    assert r.data["accepted_at"] == iso(market.now)


def test_accept_own_task_is_403(market: Market) -> None:
    alice = market.register("alice")
    task_id = market.new_task(alice)
    r = market.accept(alice, task_id)
    assert r.status == 403 and r.code == 403


def test_accept_without_a_required_capability_is_403(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby", ["coding"])
    task_id = market.new_task(alice, required_capabilities=["coding", "translation", "math"])
    r = market.accept(bob, task_id)
    assert r.status == 403 and r.data == {"missing_capabilities": ["translation", "math"]}
    assert "translation, math" in r.message


@pytest.mark.parametrize("state", ["progress", "done", "cancelled", "expired"])
def test_accept_is_409_unless_open(market: Market, state: str) -> None:
    alice, bob, carol = market.register("alice"), market.register("bobby"), market.register("carol")
    task_id = market.new_task(alice, deadline=iso(market.now + 100))
    if state in ("progress", "done"):
        assert market.accept(bob, task_id).status == 200
    if state == "done":
        assert market.complete(bob, task_id).status == 200
    if state == "cancelled":
        assert market.cancel(alice, task_id).status == 200
    if state == "expired":
        market.advance(100)
    r = market.accept(carol, task_id)
    assert r.status == 409 and r.code == 409 and r.data == {"status": state}, r.body
    assert state in r.message
    # 403 comes before 409: the publisher is refused for what it is, not for the state
    assert market.accept(alice, task_id).status == 403
    assert market.invariants() == []


def test_accept_at_the_deadline_second_is_too_late(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, deadline=iso(market.now + 10))
    market.advance(9)
    assert market.get(bob, task_id).data["status"] == "open"
    market.advance(1)
    assert market.get(bob, task_id).data["status"] == "expired"
    assert market.accept(bob, task_id).status == 409


# --- complete --------------------------------------------------------------------------


def test_complete_pays_the_assignee(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, 300)
    market.accept(bob, task_id)
    market.advance(30)
    r = market.complete(bob, task_id, {"deliverables": {"x": [1, 2]}, "quality_notes": None})
    assert r.status == 200 and r.data["status"] == "done"
    assert r.data["completed_at"] == iso(market.now) and r.data["quality_notes"] is None
    assert market.wallet(bob)["balance"] == 1300 and market.wallet(bob)["total_earned"] == 300
    pub = market.wallet(alice)
    assert (pub["balance"], pub["escrow"], pub["total_spent"]) == (700, 0, 300)
    agent = market.api.get("/v1/agents/bobby", key=bob).data
    assert agent["tasks_completed"] == 1
    assert market.invariants() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "deliverables"),
        ({"deliverables": None}, "deliverables"),
        ({"deliverables": "report"}, "deliverables"),
        ({"deliverables": ["a"]}, "deliverables"),
        ({"deliverables": {}, "quality_notes": "x" * 2001}, "quality_notes"),
        ({"deliverables": {}, "quality_notes": 5}, "quality_notes"),
        ({"deliverables": {}, "extra": 1}, "extra"),
    ],
)
def test_complete_body_rules_are_400(market: Market, body: dict[str, Any], field: str) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice)
    market.accept(bob, task_id)
    r = market.complete(bob, task_id, body)
    assert r.status == 400 and _field(r) == field, r.body
    # 400 (shape) comes before 404 (resource)
    assert market.complete(bob, "task_999", body).status == 400


def test_complete_by_anyone_but_the_assignee_is_403(market: Market) -> None:
    alice, bob, eve = market.register("alice"), market.register("bobby"), market.register("eve01")
    task_id = market.new_task(alice)
    assert market.complete(bob, task_id).status == 403  # open: nobody is the assignee
    market.accept(bob, task_id)
    assert market.complete(alice, task_id).status == 403
    assert market.complete(eve, task_id).status == 403


@pytest.mark.parametrize("state", ["done", "cancelled"])
def test_complete_is_409_unless_in_progress(market: Market, state: str) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, deadline=iso(market.now + 100))
    market.accept(bob, task_id)
    if state == "done":
        assert market.complete(bob, task_id).status == 200
    else:
        market.advance(100)
        assert market.cancel(alice, task_id).status == 200
    r = market.complete(bob, task_id)
    assert r.status == 409 and r.data == {"status": state}
    assert market.invariants() == []


def test_assignee_may_complete_after_the_deadline(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, 100, deadline=iso(market.now + 100))
    market.accept(bob, task_id)
    market.advance(1000)
    assert market.get(alice, task_id).data["status"] == "progress"
    assert market.complete(bob, task_id).status == 200
    assert market.wallet(bob)["balance"] == 1100


# --- cancel ----------------------------------------------------------------------------


def test_cancel_open_task_refunds_in_full(market: Market) -> None:
    alice = market.register("alice")
    task_id = market.new_task(alice, 420.5)
    assert market.wallet(alice)["balance"] == 579.5
    r = market.cancel(alice, task_id)
    assert r.status == 200 and r.data["status"] == "cancelled"
    assert market.wallet(alice) | {} == {
        "agent_id": "alice",
        "balance": 1000,
        "escrow": 0,
        "total_earned": 0,
        "total_spent": 0,
        "currency": "credit",
    }
    assert market.invariants() == []


def test_cancel_by_anyone_but_the_publisher_is_403(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice)
    assert market.cancel(bob, task_id).status == 403
    market.accept(bob, task_id)
    assert market.cancel(bob, task_id).status == 403


def test_cancel_in_progress_only_after_the_deadline(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    no_deadline = market.new_task(alice, 100)
    with_deadline = market.new_task(alice, 200, deadline=iso(market.now + 50))
    market.accept(bob, no_deadline)
    market.accept(bob, with_deadline)
    for task_id in (no_deadline, with_deadline):
        r = market.cancel(alice, task_id)
        assert r.status == 409 and r.data == {"status": "progress"}, r.body
    market.advance(50)
    assert market.cancel(alice, no_deadline).status == 409  # no deadline: never overdue
    r = market.cancel(alice, with_deadline)
    assert r.status == 200 and r.data["status"] == "cancelled"
    assert market.wallet(alice)["balance"] == 900  # 1000 - 100 (still held) - 0
    assert market.complete(bob, with_deadline).status == 409
    assert market.invariants() == []


@pytest.mark.parametrize("state", ["done", "cancelled", "expired"])
def test_cancel_is_409_when_closed(market: Market, state: str) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, deadline=iso(market.now + 100))
    if state == "done":
        market.accept(bob, task_id)
        market.complete(bob, task_id)
    elif state == "cancelled":
        market.cancel(alice, task_id)
    else:
        market.advance(101)
    r = market.cancel(alice, task_id)
    assert r.status == 409 and r.data == {"status": state}, r.body
    assert market.invariants() == []


# --- expiry ----------------------------------------------------------------------------


def test_expiry_reads_right_before_any_sweep_and_refunds_once(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, 300, deadline=iso(market.now + 60))
    market.advance(61)
    # every read shows expired, though nothing has been written yet
    assert market.get(bob, task_id).data["status"] == "expired"
    listed = market.api.get("/v1/tasks", key=bob, params={"status": "expired"}).data
    assert [t["task_id"] for t in listed["items"]] == [task_id]
    assert market.api.get("/v1/tasks", key=bob, params={"status": "open"}).data["total"] == 0
    assert market.api.get("/v1/tasks", key=bob, params={"eligible": "true"}).data["total"] == 0
    # the wallet read settles the caller's due tasks first
    wallet = market.wallet(alice)
    assert (wallet["balance"], wallet["escrow"]) == (1000, 0)
    assert market.sweep() == 0  # already settled
    refunds = market.api.get("/v1/transactions", key=alice, params={"type": "escrow_refund"})
    assert refunds.data["total"] == 1
    assert market.invariants() == []


def test_expired_escrow_is_spendable_before_any_sweep(market: Market) -> None:
    # Found by the stateful test: the refunded money must be usable at once.
    alice = market.register("alice")
    market.new_task(alice, 400, deadline=iso(market.now + 60))
    market.advance(61)
    r = market.api.post("/v1/tasks", key=alice, json={"title": "再发一个", "budget": 1000})
    assert r.status == 201, r.body
    wallet = market.wallet(alice)
    assert (wallet["balance"], wallet["escrow"]) == (0, 1000)
    assert market.sweep() == 0
    assert market.invariants() == []


def test_sweep_settles_due_tasks_exactly_once(market: Market) -> None:
    alice = market.register("alice")
    due = [market.new_task(alice, 100, deadline=iso(market.now + 10 + i)) for i in range(3)]
    later = market.new_task(alice, 100, deadline=iso(market.now + 1000))
    market.advance(12)
    assert market.sweep() == 3
    assert market.sweep() == 0
    assert [market.get(alice, t).data["status"] for t in due] == ["expired"] * 3
    assert market.get(alice, later).data["status"] == "open"
    assert market.invariants() == []
    wallet = market.wallet(alice)
    assert (wallet["balance"], wallet["escrow"]) == (900, 100)


def test_accept_or_cancel_of_a_due_task_settles_its_refund(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    first = market.new_task(alice, 100, deadline=iso(market.now + 10))
    second = market.new_task(alice, 200, deadline=iso(market.now + 10))
    market.advance(10)
    assert market.accept(bob, first).status == 409
    assert market.cancel(alice, second).status == 409
    # both refunds were written by those requests (committed despite the 409)
    assert market.sweep() == 0
    assert market.invariants() == []


def test_a_due_refusal_keeps_its_refund_and_is_replayed(market: Market) -> None:
    # The 409 of an accept that found the task due commits the expiry and refund it made
    # (`TaskDue.commits`); with an Idempotency-Key, that answer is stored and replayed.
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, 100, deadline=iso(market.now + 10))
    market.advance(10)
    key = {"Idempotency-Key": "due-accept"}
    first = market.api.put(f"/v1/tasks/{task_id}/accept", key=bob, headers=key)
    assert first.status == 409 and first.body["error"] == "task_not_acceptable", first.body
    assert first.data == {"status": "expired"}
    again = market.api.put(f"/v1/tasks/{task_id}/accept", key=bob, headers=key)
    assert again.status == 409 and again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert market.sweep() == 0  # nothing left for the sweep
    refunds = market.api.get("/v1/transactions", key=alice, params={"type": "escrow_refund"})
    assert refunds.data["total"] == 1
    assert market.invariants() == []


def test_background_sweep_thread_settles_expired_escrow(market: Market) -> None:
    import time

    from aipod_api.core.db import transaction
    from aipod_api.core.tables import tasks
    from aipod_api.tasks.sweep import Sweeper

    alice = market.register("alice")
    task_id = market.new_task(alice, 100, deadline=iso(market.now + 5))
    market.advance(5)
    sweeper = Sweeper(market.state, 0.02)  # the app's own one is stopped by Market
    sweeper.ensure_started()
    try:
        give_up = time.monotonic() + 10
        while True:
            with transaction(market.state.engine, write=False) as conn:
                status = conn.execute(tasks.select()).one().status
            if status == "expired":
                break
            assert time.monotonic() < give_up, "the sweep thread never ran"
            time.sleep(0.02)
    finally:
        sweeper.stop()
    assert market.sweep() == 0
    assert market.get(alice, task_id).data["status"] == "expired"
    assert market.invariants() == []


# --- lists -----------------------------------------------------------------------------


def test_list_filters_and_order(market: Market) -> None:
    alice = market.register("alice", ["coding"])
    bob = market.register("bobby", ["coding", "writing"])
    carol = market.register("carol", [])
    t1 = market.new_task(alice, required_capabilities=["coding"])
    t2 = market.new_task(alice, required_capabilities=["coding", "writing"])
    t3 = market.new_task(bob, required_capabilities=["writing"])
    t4 = market.new_task(bob)
    t5 = market.new_task(carol, deadline=iso(market.now + 5))
    market.accept(bob, t1)
    market.accept(alice, t4)
    market.complete(alice, t4)
    market.advance(5)  # t5 expires (read time only)

    def ids(key: str, **params: Any) -> list[str]:
        r = market.api.get("/v1/tasks", key=key, params=params)
        assert r.status == 200, r.body
        assert r.data["total"] == len(r.data["items"])
        return [t["task_id"] for t in r.data["items"]]

    assert ids(carol) == [t5, t4, t3, t2, t1]  # newest first
    assert ids(carol, status="open") == [t3, t2]
    assert ids(carol, status="progress") == [t1]
    assert ids(carol, status="done") == [t4]
    assert ids(carol, status="expired") == [t5]
    assert ids(carol, status="cancelled") == []
    assert ids(carol, capability="coding") == [t2, t1]
    assert ids(carol, capability=["coding", "WRITING"]) == [t2]
    assert ids(carol, publisher="alice") == [t2, t1]
    assert ids(carol, publisher="ALICE", status="open") == [t2]
    assert ids(carol, assignee="bobby") == [t1]
    assert ids(carol, assignee="alice", status="done") == [t4]
    assert ids(bob, eligible="true") == [t2]  # t3 is bob's own; t1 taken; t5 expired
    assert ids(alice, eligible="true") == []  # t3 needs writing; t2 is alice's own
    assert ids(carol, eligible="true") == []  # carol has no capabilities
    assert ids(carol, eligible="false") == [t5, t4, t3, t2, t1]
    page = market.api.get("/v1/tasks", key=carol, params={"page": 2, "page_size": 2}).data
    assert [t["task_id"] for t in page["items"]] == [t3, t2]
    assert (page["total"], page["has_more"]) == (5, True)
    past = market.api.get("/v1/tasks", key=carol, params={"page": 9}).data
    assert past["items"] == [] and past["has_more"] is False


@pytest.mark.parametrize(
    "params",
    [
        {"status": "finished"},
        {"page": 0},
        {"page_size": 101},
        {"page_size": "abc"},
        {"eligible": "maybe"},
        {"unknown": "1"},
    ],
)
def test_list_rejects_bad_query_with_400(market: Market, params: dict[str, Any]) -> None:
    key = market.register("alice")
    r = market.api.get("/v1/tasks", key=key, params=params)
    assert r.status == 400 and r.code == 400, r.body


def test_messages_in_english(market: Market) -> None:
    alice = market.register("alice")
    task_id = market.new_task(alice)
    en = {"Accept-Language": "en"}
    r = market.api.put(f"/v1/tasks/{task_id}/accept", key=alice, headers=en)
    assert r.message == "You cannot accept your own task"
    market.cancel(alice, task_id)
    bob = market.register("bobby")
    r = market.api.put(f"/v1/tasks/{task_id}/accept", key=bob, headers=en)
    assert r.message == "Task is cancelled; it cannot be accepted"
    r = market.api.get("/v1/tasks/task_404", key=bob, headers=en)
    assert r.message == "Task not found: task_404"
