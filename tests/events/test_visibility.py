"""Who sees what, after a random marketplace session (both backends): every event in an
agent's feed is one the access rules give it, and every change that concerns it has its
event (each statement line, each task it is party to, each rating about it)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from tasks.market import Market

from aipod_api.core.db import transaction
from aipod_api.events import service

NAMES = ("alice", "bobby", "carol", "dave_")
CAPS = {"alice": [], "bobby": ["coding"], "carol": ["design"], "dave_": ["coding", "design"]}


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def _feed(market: Market, agent: str) -> list[Any]:
    items: list[Any] = []
    after = 0
    with transaction(market.state.engine, write=False) as conn:
        while True:
            page = service.list_for_agent(
                conn, agent, after=after, types=None, limit=37, now=market.now
            )
            items.extend(page.items)
            if not page.items:
                return items
            after = page.cursor


def test_every_event_is_allowed_and_every_change_has_its_event(market: Market) -> None:
    rng = random.Random(14)
    keys = {n: market.register(n, caps=CAPS[n]) for n in NAMES}
    tasks: list[str] = []
    for _ in range(60):
        who = rng.choice(NAMES)
        roll = rng.random()
        if roll < 0.35 or not tasks:
            caps = rng.choice([[], ["coding"], ["design"], ["coding", "design"]])
            r = market.publish(keys[who], rng.randint(1, 20), required_capabilities=caps)
            if r.status == 201:
                tasks.append(r.data["task_id"])
        elif roll < 0.6:
            market.accept(keys[who], rng.choice(tasks))
        elif roll < 0.8:
            task_id = rng.choice(tasks)
            assignee = market.get(keys[who], task_id).data["assignee_id"]
            if assignee is not None and rng.random() < 0.8:
                who = assignee  # mostly the assignee (others are refused)
            market.complete(keys[who], task_id)
        elif roll < 0.9:
            market.cancel(keys[who], rng.choice(tasks))
        else:
            others = [n for n in NAMES if n != who]
            body = {"content": "note", "participants": rng.sample(others, 2)}
            body["visibility"] = rng.choice(["public", "participants"])
            assert market.api.post("/v1/memory", key=keys[who], json=body).status == 201
    for task_id in tasks:  # most accepted tasks get delivered
        t = market.get(keys["alice"], task_id).data
        if t["status"] == "progress" and rng.random() < 0.7:
            assert market.complete(keys[t["assignee_id"]], task_id).status == 200
    for task_id in tasks:  # rate what is done
        t = market.get(keys["alice"], task_id).data
        if t["status"] == "done":
            pub = t["publisher_id"]
            market.rate(
                keys[pub], agent_id=t["assignee_id"], task_id=task_id, quality_score=4, on_time=True
            )
    current = {t: market.get(keys["alice"], t).data for t in tasks}

    kinds: set[str] = set()
    for name in NAMES:
        items = _feed(market, name)
        kinds.update(e.type for e in items)
        assert [e.id for e in items] == sorted({e.id for e in items})
        lines = market.api.get("/v1/transactions", key=keys[name], params={"page_size": 100})
        statement = {x["tx_id"]: x for x in lines.data["items"] if x["amount"] != 0}
        seen_tx: dict[str, Any] = {}
        party_of: set[tuple[str, str]] = set()
        for e in items:
            if e.type.startswith("wallet."):
                tx = e.data["transaction"]
                assert tx == statement[tx["tx_id"]] or tx["tx_id"] in statement, (name, tx)
                seen_tx[tx["tx_id"]] = tx
            elif e.type.startswith("task."):
                task = e.data["task"]
                if name in (task["publisher_id"], task["assignee_id"]):
                    party_of.add((task["task_id"], e.type))
                    continue
                # discovery only: open now, not its own, and it has every capability
                assert e.type == "task.published", (name, e.type, task)
                now = current[task["task_id"]]
                assert now["status"] == "open" and now["publisher_id"] != name
                assert set(now["required_capabilities"]) <= set(CAPS[name])
            elif e.type == "rating.created":
                assert e.data["rating"]["agent_id"] == name
            elif e.type == "memory.shared":
                memory = e.data["memory"]
                assert name in memory["participants"] and memory["author_id"] != name
            else:
                raise AssertionError(f"unexpected {e.type} for {name}")
        # completeness: every statement line, every transition of its tasks
        assert set(seen_tx) == set(statement), name
        for task_id, task in current.items():
            if name == task["publisher_id"]:
                assert (task_id, "task.published") in party_of
            if name in (task["publisher_id"], task["assignee_id"]) and task["status"] != "open":
                final = {"progress": "task.accepted", "done": "task.completed"}
                final.update(cancelled="task.cancelled", expired="task.expired")
                assert (task_id, final[task["status"]]) in party_of, (name, task_id)
        ratings = market.api.get(f"/v1/trust/{name}", key=keys[name]).data
        rated = [e for e in items if e.type == "rating.created"]
        assert len(rated) == ratings["ratings_count"]
    # the session exercised every kind of event
    assert kinds >= {
        "task.published",
        "task.accepted",
        "task.completed",
        "task.cancelled",
        "rating.created",
        "memory.shared",
        "wallet.credited",
        "wallet.debited",
    }, kinds
