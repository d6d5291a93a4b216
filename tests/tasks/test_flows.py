"""The transition table (aipod_api/tasks/flows.py) is the one source of the lifecycle.

- what is derived from the real table (statuses, escrow, CHECK text, enums);
- a table with a new state (`review`) reaches every derivation: the CHECK, the status
  enums, the read-time filter, effective status, due tasks, the counter correction — in
  process, and through the OpenAPI document and `GET /v1/tasks?status=` of an app built
  on it (a fresh interpreter);
- the read-time rules in SQL and in Python agree, row by row, on both backends;
- the database's CHECK allows exactly the table's statuses (a new state needs a
  migration: this fails until it has one);
- inconsistent tables are refused when built;
- the clients' copies of the status list (CLI, MCP server) match.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from aipod_api.core.db import transaction
from aipod_api.core.tables import tasks
from aipod_api.tasks import flows
from aipod_api.tasks.flows import (
    AFTER_DEADLINE,
    CLOCK,
    PUBLISHER,
    REFUND,
    SETTLE,
    Lifecycle,
    LifecycleError,
    Transition,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_900_000_000


SEED_ACTIONS = ("publish", "accept", "complete", "cancel", "expire")


def with_review() -> Lifecycle:
    """The seed's table (the real one's seed actions) plus a different review step:
    `complete` hands the work in for review (the escrow stays held); the publisher
    approves it (the assignee is paid), or the clock does once the deadline has passed."""
    edges = [
        dataclasses.replace(t, target="review", effect=None) if t.action == "complete" else t
        for t in flows.TRANSITIONS
        if t.action in SEED_ACTIONS
    ]
    edges += [
        Transition("review", "approve", "done", who=PUBLISHER, effect=SETTLE),
        Transition(
            "review", "auto_approve", "done", who=CLOCK, guard=AFTER_DEADLINE, effect=SETTLE
        ),
    ]
    return Lifecycle(edges, refusals={**flows.REFUSALS, "approve": "task_not_in_progress"})


def _enum(status_type: Any) -> list[str]:
    return list(TypeAdapter(status_type).json_schema()["enum"])


def _sql(clause: Any) -> str:
    return str(clause.compile(compile_kwargs={"literal_binds": True}))


# --- what the real table gives -------------------------------------------------------------


def test_the_real_table_derives_the_lifecycle() -> None:
    life = flows.LIFECYCLE
    assert flows.STATUSES == (
        "open",
        "progress",
        "done",
        "submitted",
        "disputed",
        "cancelled",
        "expired",
    )
    assert life.initial == "open"
    # escrow = budget exactly there (CONTRACT §5): in review and in dispute it stays held
    assert flows.HELD == ("open", "progress", "submitted", "disputed")
    assert life.final == {"done", "cancelled", "expired"}
    assert [e.action for e in life.clock_edges] == ["auto_approve", "expire"]
    # The CHECK the migrations created (0009, which must change with the table).
    import importlib

    m0009 = importlib.import_module("aipod_api.migrations.versions.0009_review")
    assert life.check_sql() == m0009.NEW_CHECK
    [check] = [c for c in tasks.constraints if c.name == "ck_tasks_status"]
    assert str(check.sqltext) == life.check_sql()
    assert _enum(life.status_type()) == list(flows.STATUSES)
    # who may act, and with what money movement
    who = {
        "accept": flows.CONTRACTOR,
        "complete": flows.ASSIGNEE,
        "submit": flows.ASSIGNEE,
        "approve": flows.PUBLISHER,
        "auto_approve": flows.CLOCK,
        "request_changes": flows.PUBLISHER,
        "dispute": flows.PUBLISHER,
        "concede": flows.ASSIGNEE,
        "withdraw_dispute": flows.PUBLISHER,
        "resolve": flows.OPERATOR,
        "cancel": flows.PUBLISHER,
        "expire": flows.CLOCK,
    }
    assert {a: life.edge(a).who for a in who} == who
    assert life.creation.effect is flows.HOLD
    for action in ("complete", "approve", "auto_approve", "withdraw_dispute"):
        assert life.edge(action).effect is SETTLE and life.edge(action).target == "done"
    assert life.edge("resolve").effect is flows.PAYOUT
    for action in ("cancel", "expire", "concede"):
        assert life.edge(action).effect is REFUND
    for action in ("accept", "submit", "request_changes", "dispute"):
        assert life.edge(action).effect is None
    # complete with and without review: one request, two actions on disjoint guards
    assert set(life.edges("complete")) == set(life.edges("submit")) == {"progress"}
    assert life.automatic["submitted"].action == "auto_approve"


def test_the_schemas_use_the_table() -> None:
    from aipod_api.tasks.schemas import TaskListQuery, TaskPublic

    public = TypeAdapter(TaskPublic).json_schema()
    assert public["properties"]["status"]["enum"] == list(flows.STATUSES)
    query = TaskListQuery.model_json_schema()["properties"]["status"]
    assert query["anyOf"][0]["enum"] == list(flows.STATUSES)


# --- a new state reaches every derivation --------------------------------------------------


def test_a_new_state_reaches_every_derivation() -> None:
    life = with_review()
    assert life.statuses == ("open", "progress", "review", "cancelled", "expired", "done")
    assert life.held == ("open", "progress", "review")
    assert life.final == {"cancelled", "expired", "done"}
    # the CHECK (a migration must then create it) and the enums
    assert life.check_sql() == (
        "status IN ('open', 'progress', 'review', 'cancelled', 'expired', 'done')"
    )
    assert _enum(life.status_type()) == list(life.statuses)
    # read-time: a review past its deadline reads as done before any sweep
    row = dataclasses.make_dataclass("Row", ["status", "deadline"])
    assert life.effective_status(row("review", NOW - 1), NOW) == "done"
    assert life.effective_status(row("review", NOW + 1), NOW) == "review"
    assert life.effective_status(row("review", None), NOW) == "review"
    assert life.effective_status(row("open", NOW), NOW) == "expired"
    assert _sql(life.status_filter("review", NOW)) == (
        "tasks.status = 'review' AND (tasks.deadline IS NULL OR tasks.deadline > 1900000000)"
    )
    assert _sql(life.status_filter("done", NOW)) == (
        "tasks.status = 'done' OR tasks.status = 'review' AND tasks.deadline IS NOT NULL "
        "AND tasks.deadline <= 1900000000"
    )
    due = _sql(life.due_condition(NOW))
    assert "tasks.status = 'open'" in due and "tasks.status = 'review'" in due
    auto = life.automatic["review"]
    assert life.clock_edges_of("done") == ((), (auto,))
    assert life.clock_edges_of("review") == ((auto,), ())
    assert life.clock_edges_of("progress") == ((), ())
    # the action's UPDATE condition
    assert _sql(life.condition("approve", flows.Ctx(now=NOW, actor="x"))) == (
        "tasks.status = 'review'"
    )


def test_an_app_built_on_a_new_table_publishes_and_filters_it(tmp_path: Path) -> None:
    # A fresh interpreter puts the modified table in place before anything derives from
    # it, then builds the app: its OpenAPI document and its `status=` filter follow.
    script = f"""
import json, sys
from aipod_api.tasks import flows
import test_flows
life = test_flows.with_review()
flows.LIFECYCLE, flows.STATUSES, flows.HELD = life, life.statuses, life.held
from aipod_api.app import create_app
from aipod_api.settings import Settings
app = create_app(Settings(database_url="sqlite:///{tmp_path / "x.db"}", demo=False,
                          testing=True))
app.extensions["aipod"].sweeper.stop()
c = app.test_client()
r = c.post("/v1/auth/register", json={{"username": "rev", "email": "rev@x.io"}})
h = {{"Authorization": "Bearer " + r.get_json()["data"]["api_key"]}}
spec = c.get("/v1/openapi.json").get_json()
query = [p for p in spec["paths"]["/v1/tasks"]["get"]["parameters"] if p["name"] == "status"]
out = {{
    "public": spec["components"]["schemas"]["TaskPublic"]["properties"]["status"]["enum"],
    "query": query[0]["schema"]["anyOf"][0]["enum"],
    "review": c.get("/v1/tasks?status=review", headers=h).status_code,
    "bogus": c.get("/v1/tasks?status=bogus", headers=h).status_code,
}}
print(json.dumps(out))
"""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "tasks"), str(ROOT / "tests")])
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    statuses = list(with_review().statuses)
    assert out == {"public": statuses, "query": statuses, "review": 200, "bogus": 400}


# --- SQL and Python agree, row by row ------------------------------------------------------


def _rows_of_every_kind(app: Any, statuses: tuple[str, ...]) -> None:
    """A task per (status, deadline kind), written around the CHECK (the modified
    table's `review` is not in the migrated schema)."""
    from helpers import Api

    Api(test_client=app.test_client()).register("pub")
    engine = app.extensions["aipod"].engine
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        else:
            conn.exec_driver_sql("ALTER TABLE tasks DROP CONSTRAINT ck_tasks_status")
        for status in statuses:
            for deadline in (None, NOW - 10, NOW, NOW + 10):
                conn.execute(
                    insert(tasks).values(
                        title=f"{status} {deadline}",
                        description="",
                        required_capabilities="[]",
                        budget_cents=0,
                        deadline=deadline,
                        status=status,
                        publisher_id="pub",
                        created_at=NOW - 100,
                        rated=False,
                        review_due=deadline,
                    )
                )
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")


@pytest.mark.parametrize("table", ["real", "with_review"])
def test_read_time_rules_agree_in_sql_and_python(make_app: Callable[..., Any], table: str) -> None:
    life = flows.LIFECYCLE if table == "real" else with_review()
    app = make_app()
    _rows_of_every_kind(app, tuple(dict.fromkeys(with_review().statuses + flows.STATUSES)))
    with transaction(app.extensions["aipod"].engine, write=False) as conn:
        rows = [r for r in conn.execute(select(tasks)) if r.status in life.statuses]
        assert len(rows) == 4 * len(life.statuses)

        def matched(clause: Any) -> set[int]:
            found = conn.execute(select(tasks.c.seq).where(clause)).scalars()
            return {int(s) for s in found if s in {r.seq for r in rows}}

        seen: set[int] = set()
        for status in life.statuses:
            expected = {r.seq for r in rows if life.effective_status(r, NOW) == status}
            assert matched(life.status_filter(status, NOW)) == expected, status
            assert not seen & expected
            seen |= expected
        assert seen == {r.seq for r in rows}  # every task reads as exactly one status
        moved = {r.seq for r in rows if life.effective_status(r, NOW) != r.status}
        assert moved and matched(life.due_condition(NOW)) == moved
        for edge in life.clock_edges:
            assert matched(life.due_on(edge, NOW)) == {
                r.seq for r in rows if r.status == edge.source and r.seq in moved
            }


# --- the database allows exactly the table's statuses ------------------------------------


def test_the_migrated_check_allows_exactly_the_table_statuses(
    make_app: Callable[..., Any],
) -> None:
    from helpers import Api

    app = make_app()
    Api(test_client=app.test_client()).register("pub")
    engine = app.extensions["aipod"].engine
    with transaction(engine, write=True) as conn:
        seq = conn.execute(
            insert(tasks)
            .values(
                title="t",
                description="",
                required_capabilities="[]",
                budget_cents=0,
                status=flows.LIFECYCLE.initial,
                publisher_id="pub",
                created_at=NOW,
                rated=False,
            )
            .returning(tasks.c.seq)
        ).scalar_one()
        for status in flows.STATUSES:
            conn.execute(update(tasks).where(tasks.c.seq == seq).values(status=status))
    # A status the table does not have — e.g. the new one of `with_review` before its
    # migration — is refused by the database itself.
    for status in ("review", "OPEN", ""):
        with pytest.raises(IntegrityError), transaction(engine, write=True) as conn:
            conn.execute(update(tasks).where(tasks.c.seq == seq).values(status=status))
    with transaction(engine, write=False) as conn:
        assert conn.execute(text("SELECT status FROM tasks")).scalar_one() == flows.STATUSES[-1]


# --- inconsistent tables are refused --------------------------------------------------------


def _table(*extra: Transition, drop: str | None = None, **refusals: str) -> Lifecycle:
    edges = [t for t in flows.TRANSITIONS if t.action != drop] + list(extra)
    return Lifecycle(edges, refusals={**flows.REFUSALS, **refusals})


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: _table(Transition(None, "import", "open", who=PUBLISHER)), "exactly one edge"),
        (lambda: _table(Transition("open", "accept", "done", who=flows.CONTRACTOR)), "two"),
        (
            lambda: _table(Transition("done", "cancel", "cancelled", who=PUBLISHER)),
            "must share",
        ),
        (  # a refund of escrow that is no longer held
            lambda: _table(
                Transition("done", "refund", "cancelled", who=PUBLISHER, effect=REFUND), refund="x"
            ),
            "not held",
        ),
        (  # a second hold
            lambda: _table(
                Transition("progress", "top_up", "open", who=PUBLISHER, effect=flows.HOLD),
                top_up="x",
            ),
            "already held",
        ),
        (  # a refund from a status reached with and without escrow
            lambda: _table(
                Transition("open", "park", "parked", who=PUBLISHER),
                Transition("done", "unpark", "parked", who=PUBLISHER),
                park="x",
                unpark="x",
            ),
            "depends on the path",
        ),
        (
            lambda: _table(Transition("progress", "time_out", "expired", who=CLOCK)),
            "clock-only guard",
        ),
        (
            lambda: _table(
                Transition("expired", "archive", "archived", who=CLOCK, guard=AFTER_DEADLINE)
            ),
            "chain",
        ),
        (lambda: _table(Transition("progress", "pause", "paused", who=PUBLISHER)), "refusal"),
        (
            lambda: _table(Transition("limbo", "wake", "open", who=PUBLISHER), wake="x"),
            "unreachable",
        ),
        (
            lambda: _table(Transition("open", "x", "a_status_name_too_long", who=PUBLISHER), x="x"),
            "longer than",
        ),
    ],
)
def test_inconsistent_tables_are_refused(build: Callable[[], Lifecycle], error: str) -> None:
    with pytest.raises(LifecycleError, match=error):
        build()


def test_unknown_actions_and_statuses_are_errors() -> None:
    with pytest.raises(ValueError, match="no such task action"):
        flows.LIFECYCLE.edges("teleport")
    with pytest.raises(ValueError, match="no such task status"):
        flows.LIFECYCLE.status_filter("review", NOW)


# --- the clients' copies ---------------------------------------------------------------


def test_the_clients_list_the_same_statuses() -> None:
    # The CLI and the MCP server are clients of the HTTP API (standard library + SDK);
    # they keep their own copy, checked here.
    from aipod_api import cli
    from aipod_api.mcp import server

    assert typing.get_args(server.TaskStatus) == flows.STATUSES
    parser = cli.build_parser()
    found: list[Any] = []

    def walk(p: Any, path: tuple[str, ...]) -> None:
        for action in p._actions:
            if action.choices and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    walk(sub, (*path, name))
            elif action.dest == "status" and path == ("tasks", "list"):
                found.append(action.choices)

    walk(parser, ())
    assert found == [flows.STATUSES]
