"""Migration 0008 (trust aggregates) up, down and up again, with data, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from tasks.market import Market
from trust.world import seeds

from aipod_api.core import counters
from aipod_api.core.db import transaction
from aipod_api.core.migrate import alembic_config
from aipod_api.core.tables import agents
from aipod_api.trust import scores
from aipod_api.trust.formula import SECONDS_PER_DAY, RatingInput, trust_score

DAY = SECONDS_PER_DAY


def _migrate(engine: Any, target: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with transaction(engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def _heads(engine: Any) -> set[str]:
    """The applied revisions: the current heads and every revision below them (later
    migrations may sit on top of 0008)."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for head in current for rev in script.iterate_revisions(head, "base")}


def _at_least_0008(engine: Any) -> bool:
    """At 0008 or a later revision (`_heads` includes every revision applied below the
    current heads)."""
    return "0008" in _heads(engine)


def _columns(engine: Any) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("agents")}


def test_0008_downgrades_and_upgrades_with_data(make_app: Callable[..., Any]) -> None:
    market = Market(make_app())
    engine = market.state.engine
    (alice,) = seeds(market, "alice")  # a pre-trusted rater: full standing
    bob = market.register("bobby", caps=["coding"])
    market.advance(31 * DAY)
    task_id = market.done_task(alice, bob, 500)
    r = market.rate(alice, agent_id="bobby", task_id=task_id, quality_score=5, on_time=True)
    assert r.status == 201 and r.data["trust_score"] == 0.6656
    assert _at_least_0008(engine)
    assert {"trust_n", "trust_d", "trust_at", "trust_due"} <= _columns(engine)

    _migrate(engine, "0007", down=True)
    assert "0008" not in _heads(engine) and "0007" in _heads(engine)
    assert not {"trust_n", "trust_d", "trust_at", "trust_due"} & _columns(engine)
    assert "ix_agents_trust_due" not in {i["name"] for i in inspect(engine).get_indexes("agents")}
    with transaction(engine, write=True) as conn:
        # the rows and 0004's triggers survived: the capability copy still follows
        assert counters.check(conn) == []
        conn.execute(text("UPDATE agents SET trust_score = 0.4321 WHERE agent_id = 'bobby'"))
        copy = conn.execute(
            text("SELECT trust_score FROM agent_capabilities WHERE agent_id = 'bobby'")
        ).scalar()
        assert copy == 0.4321  # what the previous formula's code would have stored

    _migrate(engine, "heads")
    assert _at_least_0008(engine)
    with transaction(engine, write=False) as conn:
        row = conn.execute(
            select(agents.c.trust_at, agents.c.trust_due).where(agents.c.agent_id == "bobby")
        ).one()
        assert (row.trust_at, row.trust_due) == (None, 0)  # marked for recomputation
        unrated = conn.execute(
            select(agents.c.trust_due).where(agents.c.agent_id == "alice")
        ).scalar()
        assert unrated is None
    market.advance(DAY)
    expected = trust_score([RatingInput(5.0, True, 50_000, DAY, "alice")])
    assert market.api.get("/v1/agents/bobby", key=alice).data["trust_score"] == expected
    listed = market.api.get("/v1/agents?capability=coding", key=alice).data["items"]
    assert [(a["agent_id"], a["trust_score"]) for a in listed] == [("bobby", expected)]
    with transaction(engine, write=False) as conn:
        assert scores.check(conn, now=market.now) == []
        assert counters.check(conn) == []


def test_0012_keeps_old_ratings_standing_and_makes_the_demo_agents_seeds(
    make_app: Callable[..., Any],
) -> None:
    from helpers import DEMO_KEY

    from aipod_api.core.tables import ratings, trust_flows
    from aipod_api.trust import standing

    market = Market(make_app(demo=True))
    engine = market.state.engine
    young, worker = market.register("young"), market.register("worker")
    market.done_task(young, worker, 500)
    task_id = market.done_task(young, worker, 500)
    assert market.rate(young, agent_id="worker", task_id=task_id, quality_score=5, on_time=True)
    demo_task = market.done_task(DEMO_KEY, worker, 500)
    assert market.rate(
        DEMO_KEY, agent_id="worker", task_id=demo_task, quality_score=4, on_time=True
    )
    with transaction(engine, write=False) as conn:
        before = conn.execute(select(ratings.c.seq, ratings.c.rater_standing)).all()
        seeds_before = (
            conn.execute(select(agents.c.agent_id).where(agents.c.trust_seed.is_(True)))
            .scalars()
            .all()
        )
    assert len(seeds_before) == 9 and "demo" not in seeds_before

    _migrate(engine, "0011", down=True)
    assert not {"trust_vouched_cents", "trust_seed"} & _columns(engine)
    assert "trust_flows" not in inspect(engine).get_table_names()
    _migrate(engine, "heads")
    with transaction(engine, write=False) as conn:
        after = conn.execute(select(ratings.c.seq, ratings.c.rater_standing)).all()
        seeds_after = (
            conn.execute(select(agents.c.agent_id).where(agents.c.trust_seed.is_(True)))
            .scalars()
            .all()
        )
        assert conn.execute(select(trust_flows)).all() == []  # pay before 0012 vouches nothing
        assert scores.check(conn, now=market.now) == []
        assert standing.check(conn) == []
    # the old rule's standing: the demo account and an account younger than 30 days: 1/4;
    # the demo history's established raters: 1
    assert sorted(after) == sorted(before)
    assert sorted(seeds_after) == sorted(seeds_before)
