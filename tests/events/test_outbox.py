"""The outbox: events are written by the transaction of their change, seen by whom they
concern, and carry the resource as the API shows it (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tasks.market import Market

from aipod_api.core.db import transaction
from aipod_api.events import outbox, service
from aipod_api.events.tables import event_inbox, events


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def feed(market: Market, agent: str, *, after: int = 0, types: Any = None, limit: int = 100):
    with transaction(market.state.engine, write=False) as conn:
        return service.list_for_agent(
            conn, agent, after=after, types=types, limit=limit, now=market.now
        )


def types_of(market: Market, agent: str, **kw: Any) -> list[str]:
    return [e.type for e in feed(market, agent, **kw).items]


def all_events(market: Market) -> list[Any]:
    with transaction(market.state.engine, write=False) as conn:
        return list(conn.execute(events.select().order_by(events.c.id)).all())


def test_task_lifecycle_events_reach_its_parties_only(market: Market) -> None:
    alice = market.register("alice")
    bob = market.register("bobby", caps=["coding"])
    market.register("carol", caps=["design"])
    start = feed(market, "alice").cursor
    assert types_of(market, "alice") == ["wallet.credited"]  # the signup credit

    task_id = market.new_task(alice, 300, required_capabilities=["coding"])
    got = feed(market, "alice", after=start).items
    assert [e.type for e in got] == ["task.published", "wallet.debited"]
    assert got[0].data["task"] == market.get(alice, task_id).data
    assert got[1].data["transaction"]["amount"] == -300
    # discovery: bob has the capability, carol does not
    assert types_of(market, "bobby", types=["task.published"]) == ["task.published"]
    assert types_of(market, "carol", types=["task.published"]) == []

    assert market.accept(bob, task_id).status == 200
    accepted = [e for e in feed(market, "alice").items if e.type == "task.accepted"]
    assert len(accepted) == 1 and accepted[0].data["task"] == market.get(alice, task_id).data
    assert "task.accepted" in types_of(market, "bobby")
    # the task is no longer open: nobody else is offered it any more
    market.register("dave", caps=["coding"])
    assert types_of(market, "dave", types=["task.published"]) == []

    assert market.complete(bob, task_id).status == 200
    bob_types = types_of(market, "bobby")
    assert bob_types[-2:] == ["task.completed", "wallet.credited"]
    alice_types = types_of(market, "alice")
    assert alice_types[-2:] == ["task.completed", "wallet.debited"]  # task_settlement
    r = market.rate(alice, agent_id="bobby", task_id=task_id, quality_score=4, on_time=True)
    assert r.status == 201
    rating = feed(market, "bobby", types=["rating.created"]).items
    assert [e.data["rating"] for e in rating] == [r.data["rating"]]
    assert types_of(market, "alice", types=["rating.created"]) == []
    # carol saw her own signup credit only
    assert types_of(market, "carol") == ["wallet.credited"]
    assert market.invariants() == []


def test_cancel_and_expiry_emit_with_the_refund(market: Market) -> None:
    alice = market.register("alice")
    t1 = market.new_task(alice, 100)
    assert market.cancel(alice, t1).status == 200
    t2 = market.new_task(alice, 50, deadline=_in(market, 60))
    market.advance(120)
    assert market.sweep() == 1
    items = feed(market, "alice").items
    shown = [(e.type, e.data.get("task", {}).get("task_id")) for e in items]
    assert ("task.cancelled", t1) in shown and ("task.expired", t2) in shown
    refunds = [e.data["transaction"] for e in items if e.type == "wallet.credited"]
    assert [t["type"] for t in refunds] == ["signup_credit", "escrow_refund", "escrow_refund"]


def _in(market: Market, seconds: int) -> str:
    from tasks.market import iso

    return iso(market.now + seconds)


def test_a_rolled_back_change_has_no_event(market: Market) -> None:
    alice = market.register("alice")
    before = all_events(market)
    r = market.publish(alice, 10_000_000)  # more than the balance: 409, rolled back
    assert r.status == 409
    assert all_events(market) == before

    engine = market.state.engine
    with pytest.raises(RuntimeError), transaction(engine, write=True) as conn:
        outbox.emit(conn, type="webhook.test", data={"x": 1}, recipients=["alice"], now=1)
        assert outbox.pending_count(conn) == 1
        raise RuntimeError("roll back")
    assert all_events(market) == before
    with transaction(engine, write=True) as conn:
        outbox.emit(conn, type="webhook.test", data={"x": 2}, recipients=["alice"], now=1)
    after = all_events(market)
    assert len(after) == len(before) + 1 and after[-1].type == "webhook.test"
    assert after[-1].id == before[-1].id + 1  # gapless: the rolled-back ids were reused


def test_memory_shared_with_participants(market: Market) -> None:
    alice = market.register("alice")
    market.register("bobby")
    market.register("carol")
    body = {"content": "notes", "participants": ["bobby", "alice"], "visibility": "participants"}
    r = market.api.post("/v1/memory", key=alice, json=body)
    assert r.status == 201, r.body
    shared = feed(market, "bobby", types=["memory.shared"]).items
    assert [e.data["memory"] for e in shared] == [r.data]
    assert types_of(market, "alice", types=["memory.shared"]) == []  # the author wrote it
    assert types_of(market, "carol", types=["memory.shared"]) == []


def test_paging_by_cursor_reads_every_visible_event_once(market: Market) -> None:
    alice = market.register("alice")
    bob = market.register("bobby")
    for i in range(7):
        market.new_task(alice, 1 + i)
        market.new_task(bob, 1 + i)  # bob's tasks are offered to alice for discovery
    whole = feed(market, "alice").items
    seen: list[int] = []
    cursor = 0
    while True:
        page = feed(market, "alice", after=cursor, limit=3)
        seen.extend(e.id for e in page.items)
        if not page.items:
            break
        cursor = page.cursor
    assert seen == [e.id for e in whole] and len(seen) == len(set(seen))
    assert len([e for e in whole if e.type == "task.published"]) == 14
    # an empty page moves the cursor to the newest committed event (bob's last one)
    with transaction(market.state.engine, write=False) as conn:
        assert feed(market, "alice", after=cursor).cursor == service.latest_id(conn)


def test_inbox_rows_name_only_the_recipients(market: Market) -> None:
    alice = market.register("alice")
    market.register("bobby")
    market.new_task(alice, 5)
    with transaction(market.state.engine, write=False) as conn:
        who = set(conn.execute(event_inbox.select()).all())
    assert {r.agent_id for r in who} == {"alice", "bobby"}  # signup credits, alice's task
    assert not any(r.agent_id == "bobby" and r.type.startswith("task.") for r in who)


def test_unknown_types_are_refused() -> None:
    with pytest.raises(service.UnknownEventTypes):
        service.parse_types("task.accepted,task.nope")
    assert service.parse_types("task.accepted, wallet.credited") == (
        "task.accepted",
        "wallet.credited",
    )
    assert service.parse_types("") is None
