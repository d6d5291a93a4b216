"""Stateful property test: random publish / accept / complete / cancel / expire / rate steps
by several agents against the in-process app, checking every CONTRACT §5 invariant (and a
model of each agent's money and each task's state) after every step.

Time is injected (`AppState.clock`), so deadlines pass when a rule moves the
clock; expiry is observed at read time and settled by wallet reads and explicit sweeps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from helpers import FAST_LIMITS, create_database, drop_database
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from tasks.market import Market, iso

AGENTS = ("ag_a", "ag_b", "ag_c", "ag_d")
CAPS = {"ag_a": ["x"], "ag_b": ["x", "y"], "ag_c": [], "ag_d": ["y"]}
# None: the natural actor of the step (publisher / assignee / a capable agent), so that
# successful transitions are common; otherwise any agent (mostly refusals).
ACTOR = st.one_of(st.none(), st.none(), st.sampled_from(AGENTS))
BUDGETS = st.sampled_from(
    [Decimal("0"), Decimal("0.01"), Decimal("150"), Decimal("333.33"), Decimal("700")]
)


@dataclass
class ModelTask:
    task_id: str
    publisher: str
    budget: int  # cents
    caps: list[str]
    deadline: int | None
    status: str = "open"
    assignee: str | None = None
    rated: bool = False


def cents(amount: Decimal) -> int:
    return int(amount * 100)


def credits(amount_cents: int) -> float:
    return amount_cents / 100


class Marketplace(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        from aipod_api.app import create_app
        from aipod_api.settings import Settings

        # A new database per example, on the backend the suite runs on.
        self.tmp = tempfile.mkdtemp(prefix="aipod-stateful-")
        self.database_url = create_database(Path(self.tmp))
        app = create_app(
            Settings(
                database_url=self.database_url,
                demo=False,
                testing=True,
                rate_limit=FAST_LIMITS["AIPOD_RATE_LIMIT"],
                register_limit=FAST_LIMITS["AIPOD_REGISTER_LIMIT"],
                login_limit=FAST_LIMITS["AIPOD_LOGIN_LIMIT"],
                max_concurrency=1000,
            )
        )
        self.market = Market(app)
        self.keys: dict[str, str] = {}
        self.balance: dict[str, int] = {}
        self.earned: dict[str, int] = {}
        self.spent: dict[str, int] = {}
        self.completed: dict[str, int] = {}
        self.ratings: dict[str, int] = {}
        self.tasks: list[ModelTask] = []

    def teardown(self) -> None:
        self.market.state.engine.dispose()
        drop_database(self.database_url)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize()
    def agents(self) -> None:
        for name in AGENTS:
            self.keys[name] = self.market.register(name, CAPS[name])
            self.balance[name] = 1000_00
            self.earned[name] = self.spent[name] = self.completed[name] = 0
            self.ratings[name] = 0

    # --- model helpers ---------------------------------------------------------------

    def _settle_model(self) -> None:
        """Open tasks past their deadline are expired and refunded (as every read shows)."""
        for t in self.tasks:
            if t.status == "open" and t.deadline is not None and t.deadline <= self.market.now:
                t.status = "expired"
                self.balance[t.publisher] += t.budget

    def _task(self, index: int) -> ModelTask:
        return self.tasks[index % len(self.tasks)]

    # --- rules -----------------------------------------------------------------------

    @rule(
        who=st.sampled_from(AGENTS),
        budget=BUDGETS,
        caps=st.sampled_from([[], ["x"], ["y"], ["x", "y"]]),
        ttl=st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    )
    def publish(self, who: str, budget: Decimal, caps: list[str], ttl: int | None) -> None:
        self._settle_model()
        deadline = None if ttl is None else self.market.now + ttl
        extra: dict[str, Any] = {"required_capabilities": caps}
        if deadline is not None:
            extra["deadline"] = iso(deadline)
        r = self.market.publish(self.keys[who], float(budget), **extra)
        event(f"publish {r.status}")
        if self.balance[who] >= cents(budget):
            assert r.status == 201, r.body
            self.balance[who] -= cents(budget)
            self.tasks.append(ModelTask(r.data["task_id"], who, cents(budget), caps, deadline))
        else:
            assert r.status == 409, r.body
            assert r.data == {
                "balance": credits(self.balance[who]),
                "required": credits(cents(budget)),
            }

    @precondition(lambda self: bool(self.tasks))
    @rule(who=ACTOR, index=st.integers(min_value=0))
    def accept(self, who: str | None, index: int) -> None:
        self._settle_model()
        t = self._task(index)
        if who is None:
            capable = [a for a in AGENTS if a != t.publisher and set(t.caps) <= set(CAPS[a])]
            who = capable[index % len(capable)] if capable else AGENTS[index % len(AGENTS)]
        r = self.market.accept(self.keys[who], t.task_id)
        event(f"accept {r.status}")
        if t.publisher == who or not set(t.caps) <= set(CAPS[who]):
            assert r.status == 403, r.body
        elif t.status != "open":
            assert r.status == 409 and r.data == {"status": t.status}, r.body
        else:
            assert r.status == 200, r.body
            t.status, t.assignee = "progress", who

    @precondition(lambda self: bool(self.tasks))
    @rule(who=ACTOR, index=st.integers(min_value=0))
    def complete(self, who: str | None, index: int) -> None:
        self._settle_model()
        t = self._task(index)
        who = who or t.assignee or t.publisher
        r = self.market.complete(self.keys[who], t.task_id)
        event(f"complete {r.status}")
        if t.assignee != who:
            assert r.status == 403, r.body
        elif t.status != "progress":
            assert r.status == 409, r.body
        else:
            assert r.status == 200, r.body
            t.status = "done"
            self.balance[who] += t.budget
            self.earned[who] += t.budget
            self.spent[t.publisher] += t.budget
            self.completed[who] += 1

    @precondition(lambda self: bool(self.tasks))
    @rule(who=ACTOR, index=st.integers(min_value=0))
    def cancel(self, who: str | None, index: int) -> None:
        self._settle_model()
        t = self._task(index)
        who = who or t.publisher
        r = self.market.cancel(self.keys[who], t.task_id)
        event(f"cancel {r.status}")
        overdue = t.deadline is not None and t.deadline <= self.market.now
        if t.publisher != who:
            assert r.status == 403, r.body
        elif t.status == "open" or (t.status == "progress" and overdue):
            assert r.status == 200, r.body
            t.status = "cancelled"
            self.balance[who] += t.budget
        else:
            assert r.status == 409, r.body

    @rule(seconds=st.integers(min_value=1, max_value=4))
    def expire(self, seconds: int) -> None:
        """Move time on: deadlines pass; half the time a sweep settles them at once."""
        self.market.advance(seconds)
        if seconds % 2:
            self.market.sweep()
            assert self.market.sweep() == 0  # a second sweep finds nothing left
        self._settle_model()

    @precondition(lambda self: bool(self.tasks))
    @rule(
        who=ACTOR,
        index=st.integers(min_value=0),
        quality=st.sampled_from([1, 2.5, 4.8, 5]),
        on_time=st.booleans(),
        wrong_agent=st.sampled_from([False, False, False, True]),
    )
    def rate(
        self, who: str | None, index: int, quality: float, on_time: bool, wrong_agent: bool
    ) -> None:
        self._settle_model()
        t = self._task(index)
        who = who or t.publisher
        target = t.assignee or "ag_a"
        if wrong_agent:
            target = next(a for a in AGENTS if a != target)
        r = self.market.rate(
            self.keys[who],
            agent_id=target,
            task_id=t.task_id,
            quality_score=quality,
            on_time=on_time,
        )
        event(f"rate {r.status}")
        if t.publisher != who:
            assert r.status == 403, r.body
        elif t.status != "done":
            assert r.status == 409, r.body
        elif target != t.assignee:
            assert r.status == 400, r.body
        elif t.rated:
            assert r.status == 409, r.body
        else:
            assert r.status == 201, r.body
            assert 0 <= r.data["trust_score"] <= 1
            t.rated = True
            self.ratings[target] += 1

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def ledger_invariants_hold(self) -> None:
        assert self.market.invariants() == []

    def _held(self, name: str) -> int:
        return sum(
            t.budget for t in self.tasks if t.publisher == name and t.status in ("open", "progress")
        )

    @invariant()
    def agents_match_the_model(self) -> None:
        """Every agent's accounts (straight from the database, allowing for expired tasks
        that no sweep or wallet read has settled yet) and, through `GET /v1/wallet` (which
        settles first), one agent's wallet per step, in turn."""
        if not self.keys:
            return
        self._settle_model()
        from aipod_api.core.db import transaction
        from aipod_api.core.tables import accounts, agents, tasks

        with transaction(self.market.state.engine, write=False) as conn:
            money = {r.agent_id: r for r in conn.execute(accounts.select()).all() if r.agent_id}
            counters = {r.agent_id: r for r in conn.execute(agents.select()).all()}
            db_status = {r.seq: r.status for r in conn.execute(tasks.select()).all()}
        for name in AGENTS:
            unswept = sum(
                t.budget
                for t in self.tasks
                if t.publisher == name
                and t.status == "expired"
                and db_status[int(t.task_id.split("_")[1])] == "open"
            )
            row = money[name]
            assert row.balance_cents == self.balance[name] - unswept >= 0
            assert row.held_cents == self._held(name) + unswept
            assert (row.earned_cents, row.spent_cents) == (self.earned[name], self.spent[name])
            agent = counters[name]
            assert (agent.tasks_completed, agent.ratings_count) == (
                self.completed[name],
                self.ratings[name],
            )
        self.turn = getattr(self, "turn", -1) + 1
        name = AGENTS[self.turn % len(AGENTS)]
        assert self.market.wallet(self.keys[name]) == {
            "agent_id": name,
            "balance": credits(self.balance[name]),
            "escrow": credits(self._held(name)),
            "total_earned": credits(self.earned[name]),
            "total_spent": credits(self.spent[name]),
            "currency": "credit",
        }

    @invariant()
    def tasks_match_the_model(self) -> None:
        if not self.keys:
            return
        key = self.keys[AGENTS[0]]
        r = self.market.api.get("/v1/tasks", key=key, params={"page_size": 100})
        seen = {t["task_id"]: t for t in r.data["items"]}
        assert r.data["total"] == len(self.tasks)
        for t in self.tasks:
            got = seen[t.task_id]
            assert (got["status"], got["assignee_id"], got["rated"]) == (
                t.status,
                t.assignee,
                t.rated,
            ), t


# AIPOD_STATEFUL_EXAMPLES raises the budget for a deep local run (CI keeps it quick).
Marketplace.TestCase.settings = settings(
    max_examples=int(os.environ.get("AIPOD_STATEFUL_EXAMPLES", "25")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMarketplace = Marketplace.TestCase
