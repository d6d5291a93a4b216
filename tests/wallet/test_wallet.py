"""Wallet and statement views over the task lifecycle (CONTRACT §4 Wallet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tasks.market import Market, iso


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def _lines(market: Market, key: str, **params: Any) -> list[dict[str, Any]]:
    r = market.api.get("/v1/transactions", key=key, params={"page_size": 100, **params})
    assert r.status == 200, r.body
    return list(r.data["items"])


def test_new_agent_wallet_and_signup_credit(market: Market) -> None:
    key = market.register("alice")
    assert market.wallet(key) == {
        "agent_id": "alice",
        "balance": 1000,
        "escrow": 0,
        "total_earned": 0,
        "total_spent": 0,
        "currency": "credit",
    }
    (line,) = _lines(market, key)
    assert line["type"] == "signup_credit" and line["amount"] == 1000
    assert line["balance_after"] == 1000 and line["task_id"] is None
    assert line["tx_id"].startswith("tx_") and len(line["tx_id"]) == 9


def test_statement_over_a_paid_task(market: Market) -> None:
    alice, bob = market.register("alice"), market.register("bobby")
    task_id = market.new_task(alice, 150.25)
    market.accept(bob, task_id)
    market.complete(bob, task_id)

    pub = _lines(market, alice)
    assert [(x["type"], x["amount"], x["balance_after"]) for x in pub] == [
        ("task_settlement", -150.25, 849.75),  # the escrow pays: balance unchanged
        ("escrow_hold", -150.25, 849.75),
        ("signup_credit", 1000, 1000),
    ]
    assert pub[0]["counterparty_id"] == "bobby" and pub[0]["task_id"] == task_id
    assert pub[0]["tx_id"] != pub[1]["tx_id"]
    work = _lines(market, bob)
    assert [(x["type"], x["amount"], x["balance_after"]) for x in work] == [
        ("task_payment", 150.25, 1150.25),
        ("signup_credit", 1000, 1000),
    ]
    assert work[0]["counterparty_id"] == "alice" and work[0]["tx_id"] == pub[0]["tx_id"]
    assert market.wallet(alice) | {} == {
        "agent_id": "alice",
        "balance": 849.75,
        "escrow": 0,
        "total_earned": 0,
        "total_spent": 150.25,
        "currency": "credit",
    }
    assert market.wallet(bob)["total_earned"] == 150.25
    assert market.invariants() == []


def test_statement_refunds_and_filters(market: Market) -> None:
    alice = market.register("alice")
    cancelled = market.new_task(alice, 100)
    expiring = market.new_task(alice, 200, deadline=iso(market.now + 10))
    kept = market.new_task(alice, 300)
    market.cancel(alice, cancelled)
    market.advance(10)
    wallet = market.wallet(alice)  # settles the due task before reading
    assert (wallet["balance"], wallet["escrow"], wallet["total_spent"]) == (700, 300, 0)

    refunds = _lines(market, alice, type="escrow_refund")
    assert [(x["task_id"], x["amount"]) for x in refunds] == [(expiring, 200), (cancelled, 100)]
    assert [x["balance_after"] for x in refunds] == [700, 500]
    holds = _lines(market, alice, type="escrow_hold")
    assert [x["amount"] for x in holds] == [-300, -200, -100]
    assert [x["type"] for x in _lines(market, alice, task_id=cancelled)] == [
        "escrow_refund",
        "escrow_hold",
    ]
    assert _lines(market, alice, task_id=kept)[0]["type"] == "escrow_hold"
    assert _lines(market, alice, task_id="task_999") == []
    assert _lines(market, alice, task_id="garbage") == []
    page = market.api.get("/v1/transactions", key=alice, params={"page": 2, "page_size": 2})
    assert page.data["total"] == 6 and len(page.data["items"]) == 2
    assert market.api.get("/v1/transactions", key=alice, params={"type": "gift"}).status == 400
    assert market.invariants() == []


def test_wallet_needs_a_key(market: Market) -> None:
    assert market.api.get("/v1/wallet").status == 401
    assert market.api.get("/v1/transactions").status == 401
