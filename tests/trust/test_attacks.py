"""The sybil attacks of issue 13 through the API, on the real database (both backends).

With the signup credit as an attacker's only money:
(a) a pair trading tasks back and forth at zero net cost, at any budget, stays <= 0.7
    for 200 rounds;
(b) a ring of 10 sybils rating one target stays below an honest agent rated by 19
    distinct established publishers (accounts that earned their standing by paid work
    for established clients), which reaches >= 0.85 — whether the ring's accounts are
    fresh, waited out the 30 days of probation, or paid each other to manufacture
    "earnings" first;
(c) the demo agents keep their documented scores and order, and `min_trust=0.9` finds
    ai_analyst_001.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import DEMO_KEY
from tasks.market import Market
from trust.world import establish, seeds, vouched

from aipod_api.core import counters
from aipod_api.core.db import transaction
from aipod_api.trust import scores, standing
from aipod_api.trust.formula import DEFAULT_PARAMS, SECONDS_PER_DAY, RatingInput, trust_score

DAY = SECONDS_PER_DAY


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app())


def _job(
    market: Market, publisher: str, worker: str, worker_id: str, budget: Any, q: float
) -> float:
    task_id = market.done_task(publisher, worker, budget)
    r = market.rate(publisher, agent_id=worker_id, task_id=task_id, quality_score=q, on_time=True)
    assert r.status == 201, r.body
    return float(r.data["trust_score"])


def _score(market: Market, key: str, agent_id: str) -> float:
    trust = market.api.get(f"/v1/trust/{agent_id}", key=key).data["trust_score"]
    agent = market.api.get(f"/v1/agents/{agent_id}", key=key).data["trust_score"]
    assert trust == agent
    return float(trust)


def _audit(market: Market) -> None:
    with transaction(market.state.engine, write=False) as conn:
        assert scores.check(conn, now=market.now) == []
        assert standing.check(conn) == []
        assert counters.check(conn) == []


def _honest_agent(market: Market) -> tuple[str, float]:
    """The issue's honest agent: 19 distinct established publishers — accounts that earned
    their standing by paid work for established clients (`trust.world.establish`) and
    are 30 days old — one 200-credit task each, delivered on time and rated 4.0 ... 5.0
    (mean 4.5)."""
    honest = market.register("honest")
    publishers = [market.register(f"pub{i:02d}") for i in range(19)]
    establish(market, publishers)
    market.advance(30 * DAY)
    for i, pub in enumerate(publishers):
        _job(market, pub, honest, "honest", 200, round(4.0 + i / 18, 2))
    return honest, _score(market, honest, "honest")


def _ring_attack(market: Market, target: str, sybils: list[str], rounds: int = 6) -> float:
    """Each sybil publishes a 100-credit task to the target and rates it 5.0; the target
    pays every budget back (zero net cost). Returns the target's score."""
    score = 0.5
    for _round in range(rounds):
        for s in sybils:
            score = _job(market, s, target, "target", 100, 5.0)
        for s in sybils:
            market.done_task(target, s, 100)
    total = sum(market.wallet(k)["balance"] for k in [target, *sybils])
    assert total == (len(sybils) + 1) * 1000
    return score


def test_a_pair_trading_back_and_forth_for_200_rounds_stays_at_most_0_7(market: Market) -> None:
    a, b = market.register("pair_a"), market.register("pair_b")
    best = 0.0
    for _ in range(200):
        best = max(best, _job(market, a, b, "pair_b", 1000, 5.0))
        best = max(best, _job(market, b, a, "pair_a", 1000, 5.0))
    # zero net cost: every round paid the budget back
    assert market.wallet(a)["balance"] + market.wallet(b)["balance"] == 2000
    assert best == _score(market, a, "pair_a") == _score(market, b, "pair_b") == 0.5714
    # the same pair after its accounts waited out probation: one voice each, <= 0.7
    market.advance(30 * DAY)
    for _ in range(20):
        best = max(best, _job(market, a, b, "pair_b", 1000, 5.0))
        best = max(best, _job(market, b, a, "pair_a", 1000, 5.0))
    assert best <= 0.7
    _audit(market)


@pytest.mark.parametrize("budget", [0.01, 1, 50, 500])
def test_a_pair_at_any_budget_stays_at_most_0_7(market: Market, budget: float) -> None:
    a, b = market.register("pair_a"), market.register("pair_b")
    market.advance(30 * DAY)  # even established accounts
    for _ in range(30):
        assert _job(market, a, b, "pair_b", budget, 5.0) <= 0.7
        assert _job(market, b, a, "pair_a", budget, 5.0) <= 0.7


def test_a_ring_of_ten_fresh_accounts_stays_below_the_honest_agent(market: Market) -> None:
    honest, reference = _honest_agent(market)
    assert reference == 0.8541 and reference >= 0.85
    target = market.register("target")
    sybils = [market.register(f"sybil{i}") for i in range(10)]
    score = _ring_attack(market, target, sybils)
    assert score == _score(market, target, "target") < reference
    assert score <= 0.8125
    listed = market.api.get("/v1/agents?min_trust=0.8", key=honest).data["items"]
    assert [a["agent_id"] for a in listed][:2] == ["honest", "target"]
    _audit(market)


def test_a_ring_that_waited_out_probation_stays_below_the_honest_agent(market: Market) -> None:
    # Age alone buys nothing above the base standing: ten accounts 30 days old that
    # earned nothing from anyone weigh as ten fresh ones (issue 13: the patient ring).
    _honest, reference = _honest_agent(market)
    target = market.register("target")
    sybils = [market.register(f"sybil{i}") for i in range(10)]
    market.advance(31 * DAY)
    score = _ring_attack(market, target, sybils)
    assert score == _score(market, target, "target") <= 0.8125 < reference
    _audit(market)


def test_a_ring_that_paid_itself_first_earns_no_standing(market: Market) -> None:
    # The attacker's next step: "earn" standing by paying each other before rating —
    # a cycle of 900-credit tasks around the ring (each account's money goes round and
    # comes back) and pairs trading back and forth, for many rounds. Money that only
    # ever came from signup grants vouches for nothing, however it circulates.
    _honest, reference = _honest_agent(market)
    target = market.register("target")
    sybils = [market.register(f"sybil{i}") for i in range(10)]
    market.advance(31 * DAY)
    for _round in range(5):
        for i, s in enumerate(sybils):
            market.done_task(s, sybils[(i + 1) % 10], 900)
        for i in range(0, 10, 2):
            market.done_task(sybils[i], sybils[i + 1], 500)
            market.done_task(sybils[i + 1], sybils[i], 500)
    assert [vouched(market, f"sybil{i}") for i in range(10)] == [0] * 10
    score = _ring_attack(market, target, sybils)
    assert score == _score(market, target, "target") <= 0.8125 < reference
    _audit(market)


def test_paying_an_established_account_back_takes_the_earnings_back(market: Market) -> None:
    # Only the net flow between two accounts vouches: an established client pays a
    # worker 50 credits (vouched: 50), the worker pays it back (0), and any number of
    # rounds of that never vouches for more than the net flow.
    (client,) = seeds(market, "client")
    worker = market.register("worker")
    market.done_task(client, worker, 50)
    assert vouched(market, "worker") == 5_000
    market.done_task(worker, client, 50)
    assert vouched(market, "worker") == 0
    for _ in range(10):
        market.done_task(client, worker, 50)
        assert vouched(market, "worker") == 5_000
        market.done_task(worker, client, 50)
    market.done_task(client, worker, 200)  # one payer vouches for at most 50 credits
    assert vouched(market, "worker") == DEFAULT_PARAMS.vouch_pair_cap_cents
    _audit(market)


def test_operators_are_seeds(make_app: Callable[..., Any]) -> None:
    market = Market(make_app(operators="boss"))
    boss = market.register("boss")
    alice, bob = market.register("alice"), market.register("bobby")
    market.done_task(boss, alice, 100)  # the seed's pay vouches fully, up to the pair cap
    assert vouched(market, "alice") == 5_000
    market.done_task(alice, bob, 100)  # alice has half of full standing: half of it
    assert vouched(market, "bobby") == 5_000
    assert vouched(market, "boss") == 0
    market.advance(30 * DAY)
    worker = market.register("worker")
    expected = trust_score([RatingInput(5.0, True, 50_000, 0, "boss", 1.0)])
    assert _job(market, boss, worker, "worker", 500, 5.0) == expected == 0.6656
    _audit(market)


def test_the_public_demo_account_never_rates_fully(make_app: Callable[..., Any]) -> None:
    market = Market(make_app(demo=True))
    worker = market.register("worker")
    market.advance(400 * DAY)  # the demo account is old, but anyone can use it
    assert _job(market, DEMO_KEY, worker, "worker", 500, 5.0) == 0.5551
    other = market.register("other")
    establish(market, [other])  # an established account rates fully
    market.advance(30 * DAY)
    expected = trust_score(
        [
            RatingInput(5.0, True, 50_000, 30 * DAY, "demo", DEFAULT_PARAMS.probation_standing),
            RatingInput(5.0, True, 50_000, 0, "other", 1.0),
        ]
    )
    assert _job(market, other, worker, "worker", 500, 5.0) == expected == 0.6862
    _audit(market)


DEMO_SCORES = {
    "ai_analyst_001": 0.9165,
    "ai_finance_003": 0.7624,
    "ai_writer_002": 0.7398,
    "ai_coder_004": 0.7211,
}


def test_demo_agents_keep_their_documented_scores_and_order(make_app: Callable[..., Any]) -> None:
    market = Market(make_app(demo=True))
    api = market.api
    listed = api.get("/v1/agents?page_size=100", key=DEMO_KEY).data["items"]
    top = [(a["agent_id"], a["trust_score"]) for a in listed[: len(DEMO_SCORES)]]
    assert top == list(DEMO_SCORES.items())
    assert all(a["trust_score"] == 0.5 for a in listed[len(DEMO_SCORES) :])
    r = api.get("/v1/agents?capability=text_generation&min_trust=0.9", key=DEMO_KEY)
    assert [a["agent_id"] for a in r.data["items"]] == ["ai_analyst_001"]
    # scores decay on read like everyone's: documented to stay above 0.9 for 30 days
    market.advance(30 * DAY)
    assert _score(market, DEMO_KEY, "ai_analyst_001") >= 0.9
    r = api.get("/v1/agents?capability=text_generation&min_trust=0.9", key=DEMO_KEY)
    assert [a["agent_id"] for a in r.data["items"]] == ["ai_analyst_001"]
    market.advance(2 * DAY)
    assert _score(market, DEMO_KEY, "ai_analyst_001") < 0.9
    r = api.get("/v1/agents?capability=text_generation&min_trust=0.9", key=DEMO_KEY)
    assert r.data["items"] == [] and r.data["total"] == 0
    order = [a["agent_id"] for a in api.get("/v1/agents", key=DEMO_KEY).data["items"][:4]]
    assert order == list(DEMO_SCORES)
    _audit(market)
