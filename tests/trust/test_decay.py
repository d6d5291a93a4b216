"""Decay on read (docs/trust.md): single reads are exact at the request's time; lists
filter, order and show the stored 4-decimal scores, refreshed before they would differ;
the sweep refreshes them; rows rated before migration 0006 are recomputed."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from tasks.market import Market
from trust.world import seeds

from aipod_api.core import counters
from aipod_api.core.db import transaction
from aipod_api.core.tables import agent_capabilities, agents, ratings
from aipod_api.trust import scores
from aipod_api.trust.formula import DEFAULT_PARAMS, SECONDS_PER_DAY, RatingInput, trust_score

DAY = SECONDS_PER_DAY
PROBATION = DEFAULT_PARAMS.probation_standing


class KeyedMarket(Market):
    """A market that remembers each agent's key by its id."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.keys: dict[str, str] = {}

    def register(self, username: str, caps: list[str] | None = None) -> str:
        key = super().register(username, caps)
        self.keys[username] = key
        return key


@pytest.fixture
def market(make_app: Callable[..., Any]) -> KeyedMarket:
    return KeyedMarket(make_app())


def _rate(market: KeyedMarket, publisher: str, worker: str, budget: Any, q: float) -> None:
    """`publisher` (a key) pays `worker` (an agent id) for a task, then rates it."""
    task_id = market.done_task(publisher, market.keys[worker], budget)
    r = market.rate(publisher, agent_id=worker, task_id=task_id, quality_score=q, on_time=True)
    assert r.status == 201, r.body


def _single(market: KeyedMarket, key: str, agent_id: str) -> float:
    a = market.api.get(f"/v1/agents/{agent_id}", key=key).data["trust_score"]
    t = market.api.get(f"/v1/trust/{agent_id}", key=key).data["trust_score"]
    assert a == t
    return float(a)


def _audit(market: KeyedMarket) -> None:
    with transaction(market.state.engine, write=False) as conn:
        assert scores.check(conn, now=market.now) == []
        assert counters.check(conn) == []


def _stored(market: KeyedMarket, agent_id: str) -> float:
    with transaction(market.state.engine, write=False) as conn:
        return float(
            conn.execute(select(agents.c.trust_score).where(agents.c.agent_id == agent_id)).scalar()
        )


def test_single_reads_decay_exactly(market: KeyedMarket) -> None:
    (alice,) = seeds(market, "alice")  # a pre-trusted rater: full standing
    bob = market.register("bobby")
    market.advance(40 * DAY)
    _rate(market, alice, "bobby", 500, 5.0)
    market.advance(3 * DAY)
    _rate(market, alice, "bobby", 200, 4.0)
    history = [(500, 5.0, 3 * DAY), (200, 4.0, 0)]
    for step in (0, 1, 3600, DAY, 90 * DAY, 365 * DAY, 10 * 365 * DAY):
        market.advance(step)
        since = _since_last_rating(market)
        expected = trust_score(
            [RatingInput(q, True, b * 100, age + since, "alice") for b, q, age in history]
        )
        assert _single(market, bob, "bobby") == expected
    # ten years on: back at the prior
    assert _single(market, bob, "bobby") == 0.5


def _since_last_rating(market: KeyedMarket) -> int:
    with transaction(market.state.engine, write=False) as conn:
        last = conn.execute(select(ratings.c.created_at).order_by(ratings.c.seq.desc())).scalar()
    return market.now - int(last)


def test_lists_show_filter_and_order_exactly_what_single_reads_show(market: KeyedMarket) -> None:
    rng = random.Random(13)
    names = [f"pub{i}" for i in range(8)]
    keys = dict(zip(names, seeds(market, *names), strict=True))  # full standing
    workers = {f"wk{i:02d}": market.register(f"wk{i:02d}", caps=["coding"]) for i in range(10)}
    market.advance(31 * DAY)
    for name in workers:
        for _ in range(rng.randint(1, 4)):
            pub = rng.choice(list(keys.values()))
            _rate(market, pub, name, rng.choice([20, 50, 150, 300]), rng.choice([1.0, 3.5, 5.0]))
            market.advance(rng.randint(0, 3 * DAY))
    viewer = keys["pub0"]
    for _ in range(40):
        market.advance(rng.choice([1, 60, 3600, 4 * 3600, DAY, 3 * DAY, 20 * DAY]))
        exact = {name: _single(market, viewer, name) for name in workers}
        for params in ({}, {"capability": "coding"}):
            listed = market.api.get("/v1/agents", key=viewer, params={**params, "page_size": 100})
            shown = {a["agent_id"]: a["trust_score"] for a in listed.data["items"]}
            assert {k: v for k, v in shown.items() if k in exact} == exact
            order = [(-a["trust_score"], a["agent_id"]) for a in listed.data["items"]]
            assert order == sorted(order)
        for threshold in sorted(set(exact.values()))[::3]:
            r = market.api.get(
                "/v1/agents", key=viewer, params={"capability": "coding", "min_trust": threshold}
            )
            want = sorted((-v, k) for k, v in exact.items() if v >= threshold)
            assert [(-a["trust_score"], a["agent_id"]) for a in r.data["items"]] == want
            assert r.data["total"] == len(want)
    _audit(market)


def test_the_sweep_refreshes_due_scores_and_their_capability_copies(market: KeyedMarket) -> None:
    (alice,) = seeds(market, "alice")  # a pre-trusted rater: full standing
    market.register("bobby", caps=["coding"])
    market.advance(31 * DAY)
    _rate(market, alice, "bobby", 500, 5.0)
    assert _stored(market, "bobby") == 0.6656
    market.advance(90 * DAY)
    assert _single(market, alice, "bobby") == 0.5992  # exact on read; stored is stale
    assert _stored(market, "bobby") == 0.6656
    with transaction(market.state.engine, write=False) as conn:
        assert scores.check(conn, now=market.now) == []  # stale but due: allowed
        assert scores.any_due(conn, now=market.now)
    assert market.state.sweeper.refresh_scores() == 1
    assert _stored(market, "bobby") == 0.5992
    with transaction(market.state.engine, write=False) as conn:
        copy = conn.execute(
            select(agent_capabilities.c.trust_score).where(agent_capabilities.c.agent_id == "bobby")
        ).scalar()
        assert copy == 0.5992
        assert not scores.any_due(conn, now=market.now)
    assert market.state.sweeper.refresh_scores() == 0
    _audit(market)


def test_rows_rated_before_migration_0006_are_recomputed(market: KeyedMarket) -> None:
    (alice,) = seeds(market, "alice")  # a pre-trusted rater: full standing
    market.register("bobby")
    market.advance(31 * DAY)
    _rate(market, alice, "bobby", 500, 5.0)
    # what migration 0006 leaves behind: the old formula's score, no aggregate, due now
    with transaction(market.state.engine, write=True) as conn:
        conn.execute(
            update(agents)
            .where(agents.c.agent_id == "bobby")
            .values(trust_score=0.1234, trust_n=0, trust_d=0, trust_at=None, trust_due=0)
        )
    market.advance(DAY)
    expected = trust_score([RatingInput(5.0, True, 50_000, DAY, "alice")])
    assert _single(market, alice, "bobby") == expected  # computed from its ratings
    assert _stored(market, "bobby") == 0.1234
    listed = market.api.get("/v1/agents", key=alice).data["items"]  # refreshed first
    assert {a["agent_id"]: a["trust_score"] for a in listed}["bobby"] == expected
    assert _stored(market, "bobby") == expected
    _audit(market)


def test_a_refresh_never_overwrites_a_newer_rating(market: KeyedMarket) -> None:
    (alice,) = seeds(market, "alice")  # a pre-trusted rater: full standing
    bob = market.register("bobby")
    market.advance(31 * DAY)
    _rate(market, alice, "bobby", 500, 5.0)
    market.advance(200 * DAY)
    engine = market.state.engine
    with transaction(engine, write=False) as conn:
        row = conn.execute(
            select(agents.c.agent_id, *scores.TRUST_COLUMNS).where(agents.c.agent_id == "bobby")
        ).one()
    _rate(market, alice, "bobby", 500, 1.0)  # a rating commits between read and write
    fresh = _stored(market, "bobby")
    with transaction(engine, write=True) as conn:  # the refresh of the row it read
        stale = {
            "a": "bobby",
            "t0": row.trust_at,
            "rc": row.ratings_count,
            "now": market.now,
            "score": 0.9999,
            "due": None,
        }
        assert scores._REFRESH.execute(conn, stale).rowcount == 0
    assert _stored(market, "bobby") == fresh == _single(market, bob, "bobby")
    _audit(market)
