"""Sybil attacks on the trust score, measured through the HTTP API (docs/trust.md).

    python bench/sybil.py [--rounds 200] [--budget 1000] [--ring 10] [--database-url URL]
    python bench/sybil.py --url http://127.0.0.1:5001 [...]   # a live server (no clock)

Every step is an ordinary API request (register, publish, accept, complete, rate), so the
script measures any version of the server. In process (the default) it runs the app on a
fresh database without demo data, with its clock under the script's control (time passes
only when a scenario says so), with two operators (`AIPOD_OPERATORS`: the pre-trusted
seeds of earned standing) and with rate limits lifted so that the attack's own speed is
measured; the attacker's time under the default limit (120 requests a minute per agent)
is printed beside it. With `--url` only the attacks that need no waiting run.

In process every scenario runs twice, each time on its own fresh database:

- **before** — the previous rule, standing by account age alone: every account counts
  fully once it is 30 days old (emulated by making each account a seed when it turns 30
  days old, which is exactly what that rule gave it);
- **after** — the current rule: standing is earned (docs/trust.md).

Scenarios:

- **honest** — the reference the attacks are compared with: 19 distinct established
  publishers (each earned its standing by two 50-credit tasks for clients that were
  themselves paid by the operators, and is 30 days old) each publish one 200-credit task
  to an honest agent, which delivers on time and gets a rating of 4.0 … 5.0 (evenly
  spread, mean 4.5).
- **pair** — two fresh accounts of one owner trade one task back and forth per round at
  `--budget` (each round pays the budget back through the reverse task: zero net cost),
  each rating the other 5.0, for up to `--rounds` rounds.
- **ring** — `--ring` fresh accounts each publish a task to one target, which delivers, and
  rate it 5.0; then the target pays each of them the budget back (zero net cost); repeated
  until another round adds less than the 4th decimal (or `--rounds`).
- **aged ring** — the same ring after its accounts waited 30 days (in process only): what
  time alone buys.
- **self-paid ring** — the aged ring, after its accounts first paid each other in a cycle
  of 900-credit tasks and in pairs back and forth for 5 rounds, to manufacture
  "earnings".
- **ring with a foothold** — the aged ring, after one of its accounts did two genuine
  50-credit tasks for two established clients and then passed money to the others
  (2 payments each): what real earnings, copied along payments, buy (the documented
  limit).

For each attack: the score reached, the round, requests and wall time at which it first
passed 0.7, 0.9 and the honest reference, and the credits it cost the attacker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import Api  # noqa: E402

DAY = 86_400
FAST = {
    "rate_limit": "1000000/minute",
    "register_limit": "1000000/day",
    "max_concurrency": 1000,
}
DEFAULT_AGENT_RATE = 120  # requests a minute per agent (AIPOD_RATE_LIMIT's default)


@dataclass
class World:
    api: Api
    clock: list[int] | None  # None against a live server
    app: Any = None  # in process: the app (its engine)
    before: bool = False  # emulate the previous rule: full standing at 30 days of age
    requests: int = 0
    started: float = field(default_factory=time.perf_counter)
    per_agent: dict[str, int] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # key -> agent id
    born: dict[str, int] = field(default_factory=dict)  # agent id -> registration time

    def call(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        self.requests += 1
        if key is not None:
            self.per_agent[key] = self.per_agent.get(key, 0) + 1
        r = self.api.request(method, path, key=key, **kw)
        if r.status >= 400:
            raise RuntimeError(f"{method} {path}: {r.status} {r.body}")
        return r.data

    def advance(self, seconds: int) -> None:
        assert self.clock is not None
        self.clock[0] += seconds
        if self.before:  # the previous rule: an account 30 days old rates fully
            old = {a for a, t in self.born.items() if self.clock[0] - t >= 30 * DAY}
            self.seed(old)

    def seed(self, agent_ids: set[str]) -> None:
        from aipod_api.core.db import transaction
        from aipod_api.trust import standing

        with transaction(self.app.extensions["aipod"].engine, write=True) as conn:
            standing.mark_seeds(conn, agent_ids)

    def register(self, name: str) -> str:
        data = self.call(
            "POST",
            "/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "capabilities": []},
        )
        key = str(data["api_key"])
        self.ids[key] = str(data["node_id"])
        if self.clock is not None:
            self.born[str(data["node_id"])] = self.clock[0]
        return key

    def job(self, publisher: str, worker: str, budget: float, quality: float) -> float:
        """Publish, accept, complete, rate: returns the worker's new score."""
        task = self.call("POST", "/v1/tasks", publisher, json={"title": "job", "budget": budget})
        tid = task["task_id"]
        self.call("PUT", f"/v1/tasks/{tid}/accept", worker)
        self.call("PUT", f"/v1/tasks/{tid}/complete", worker, json={"deliverables": {"r": 1}})
        body = {"agent_id": self.ids[worker], "task_id": tid, "quality_score": quality}
        body["on_time"] = True
        return float(self.call("POST", "/v1/trust/rate", publisher, json=body)["trust_score"])

    def pay(self, payer: str, payee: str, budget: float) -> None:
        """Move `budget` from payer to payee through a task (no rating)."""
        task = self.call("POST", "/v1/tasks", payer, json={"title": "refund", "budget": budget})
        tid = task["task_id"]
        self.call("PUT", f"/v1/tasks/{tid}/accept", payee)
        self.call("PUT", f"/v1/tasks/{tid}/complete", payee, json={"deliverables": {"r": 1}})

    def balance(self, key: str) -> float:
        return float(self.call("GET", "/v1/wallet", key)["balance"])

    def score(self, key: str) -> float:
        return float(self.call("GET", f"/v1/trust/{self.ids[key]}", key)["trust_score"])


@dataclass
class Progress:
    name: str
    thresholds: dict[str, float]
    reached: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    best: float = 0.0
    rounds: int = 0
    requests: int = 0
    seconds: float = 0.0
    cost: float = 0.0
    slowest_agent_requests: int = 0

    def note(self, world: World, rnd: int, score: float, start_req: int, start_t: float) -> None:
        self.best = max(self.best, score)
        for label, value in self.thresholds.items():
            if label not in self.reached and score > value:
                self.reached[label] = (
                    rnd,
                    world.requests - start_req,
                    time.perf_counter() - start_t,
                )

    def report(self) -> None:
        print(f"\n## {self.name}")
        print(
            f"best score {self.best:.4f} after {self.rounds} rounds, {self.requests} requests, "
            f"{self.seconds:.2f} s; net cost to the attacker {self.cost:.2f} credits"
        )
        minutes = self.slowest_agent_requests / DEFAULT_AGENT_RATE
        print(f"at the default limit of {DEFAULT_AGENT_RATE}/min per agent: >= {minutes:.1f} min")
        for label, value in self.thresholds.items():
            if label in self.reached:
                rnd, req, sec = self.reached[label]
                print(f"  > {label} ({value:.4f}): round {rnd}, {req} requests, {sec:.2f} s")
            else:
                print(f"  > {label} ({value:.4f}): never")


def establish(world: World, prefix: str, keys: list[str]) -> None:
    """Earned standing through ordinary paid work: the two operators each pay four
    clients for a 100-credit task (50 credits vouched per pair: 100, full), then each
    account does a 50-credit task for two of the clients (50 + 50: full)."""
    ops = [world.register(f"{prefix}op_a"), world.register(f"{prefix}op_b")]
    clients = [world.register(f"{prefix}client{i}") for i in range(4)]
    for op in ops:
        for client in clients:
            world.pay(op, client, 100)
    for i, key in enumerate(keys):
        world.pay(clients[i % 4], key, 50)
        world.pay(clients[(i + 1) % 4], key, 50)


def honest(world: World, prefix: str) -> float:
    agent = world.register(f"{prefix}honest")
    publishers = [world.register(f"{prefix}pub{i:02d}") for i in range(19)]
    if world.clock is not None:
        establish(world, prefix, publishers)
        world.advance(30 * DAY + 1)
    score = 0.5
    for i, pub in enumerate(publishers):
        score = world.job(pub, agent, 200, round(4.0 + i / 18, 2))
    return world.score(agent) if world.clock is None else score


def pair(
    world: World, prefix: str, rounds: int, budget: float, thresholds: dict[str, float]
) -> Progress:
    p = Progress(f"pair of sybils, {budget:g}-credit tasks back and forth", thresholds)
    start_req, start_t = world.requests, time.perf_counter()
    a, b = world.register(f"{prefix}pa"), world.register(f"{prefix}pb")
    for rnd in range(1, rounds + 1):
        score_b = world.job(a, b, budget, 5.0)
        score_a = world.job(b, a, budget, 5.0)
        p.note(world, rnd, max(score_a, score_b), start_req, start_t)
        p.rounds = rnd
    p.requests, p.seconds = world.requests - start_req, time.perf_counter() - start_t
    signup = 2 * 1000.0  # both accounts' signup credit (AIPOD_SIGNUP_CREDIT's default)
    p.cost = signup - (world.balance(a) + world.balance(b))
    p.slowest_agent_requests = max(world.per_agent.get(a, 0), world.per_agent.get(b, 0))
    return p


def ring(
    world: World,
    prefix: str,
    rounds: int,
    size: int,
    budget: float,
    thresholds: dict[str, float],
    *,
    wait_days: int = 0,
    prepare: str = "",
) -> Progress:
    label = f"ring of {size} sybils rating one target, {budget:g}-credit tasks"
    if wait_days:
        label += f", accounts {wait_days} days old"
    if prepare == "self-paid":
        label += ", after paying each other (cycle of 900, pairs of 500, 5 rounds)"
    if prepare == "foothold":
        label += ", one of them earned 2 x 50 credits from established clients"
    p = Progress(label, thresholds)
    start_req, start_t = world.requests, time.perf_counter()
    target = world.register(f"{prefix}target")
    sybils = [world.register(f"{prefix}s{i:02d}") for i in range(size)]
    if wait_days:
        world.advance(wait_days * DAY + 1)
    everyone = [target, *sybils]
    if prepare == "self-paid":
        for _round in range(5):
            for i, s in enumerate(sybils):
                world.pay(s, sybils[(i + 1) % size], 900)
            for i in range(0, size - 1, 2):
                world.pay(sybils[i], sybils[i + 1], 500)
                world.pay(sybils[i + 1], sybils[i], 500)
    extra_cost = 0.0
    if prepare == "foothold":
        # two genuine tasks for two established clients (the clients' money is theirs)
        clients = [world.register(f"{prefix}cl{i}") for i in range(2)]
        establish(world, prefix + "f", clients)
        for client in clients:
            world.pay(client, sybils[0], 50)
        extra_cost = -100.0  # what the foothold earned is not the attacker's signup money
        for s in sybils[1:]:
            world.pay(sybils[0], s, 100)
        for i in range(1, size):
            world.pay(sybils[i], sybils[i % (size - 1) + 1], 100)
    last = 0.5
    for rnd in range(1, rounds + 1):
        score = 0.5
        for s in sybils:
            score = world.job(s, target, budget, 5.0)
        for s in sybils:
            world.pay(target, s, budget)
        p.note(world, rnd, score, start_req, start_t)
        p.rounds = rnd
        if score - last < 0.0001:
            break  # saturated: another round adds less than the 4th decimal
        last = score
    p.requests, p.seconds = world.requests - start_req, time.perf_counter() - start_t
    p.cost = 1000.0 * len(everyone) - sum(world.balance(k) for k in everyone) - extra_cost
    p.slowest_agent_requests = world.per_agent.get(target, 0)
    return p


OPERATORS = ("op_a", "op_b")


def in_process_world(database_url: str | None, prefix: str, *, before: bool) -> World:
    from aipod_api.app import create_app
    from aipod_api.settings import Settings

    tmp = tempfile.mkdtemp(prefix="aipod_sybil_")
    url = database_url or f"sqlite:///{tmp}/sybil.db"
    ops = ",".join(f"{p}{name}" for p in (prefix, prefix + "ff") for name in OPERATORS)
    settings = Settings(database_url=url, demo=False, log_level="WARNING", operators=ops, **FAST)
    app = create_app(settings)
    state = app.extensions["aipod"]
    state.sweeper.stop()
    clock = [int(time.time())]
    state.clock.follow(lambda: clock[0])
    return World(Api(test_client=app.test_client()), clock, app=app, before=before)


def scenarios(world: World, prefix: str, args: argparse.Namespace) -> dict[str, Progress]:
    reference = honest(world, prefix) if world.clock is not None else None
    thresholds = {"0.7": 0.7, "0.9": 0.9}
    if reference is not None:
        thresholds["honest reference"] = reference
    results = {
        "pair": pair(world, prefix, args.rounds, args.budget, thresholds),
        "ring": ring(world, prefix, args.rounds, args.ring, args.ring_budget, thresholds),
    }
    if world.clock is not None:
        for name, prepare in (("aged", ""), ("self-paid", "self-paid"), ("foothold", "foothold")):
            results[name] = ring(
                world,
                f"{prefix}{name[0]}",
                args.rounds,
                args.ring,
                args.ring_budget,
                thresholds,
                wait_days=30,
                prepare=prepare,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a live server (attacks that need no waiting only)")
    parser.add_argument("--database-url", help="in process: this (empty) database instead")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--budget", type=float, default=1000.0)
    parser.add_argument("--ring", type=int, default=10)
    parser.add_argument("--ring-budget", type=float, default=100.0)
    args = parser.parse_args()

    prefix = f"x{int(time.time()) % 100000:05d}"
    if args.url:
        world = World(Api(base_url=args.url.rstrip("/")), None)
        for result in scenarios(world, prefix, args).values():
            result.report()
        return
    runs = {}
    for mode in ("before", "after"):
        world = in_process_world(args.database_url, prefix, before=mode == "before")
        runs[mode] = scenarios(world, prefix, args)
        runs[mode]["honest"] = Progress("honest", {})
        runs[mode]["honest"].best = runs[mode]["pair"].thresholds.get("honest reference", 0.0)
        if args.database_url:
            break  # one empty database: only the current rule
    print("| scenario | " + " | ".join(f"{m}: best score, passes honest?" for m in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for name in ("honest", "pair", "ring", "aged", "self-paid", "foothold"):
        cells = []
        for results in runs.values():
            p = results[name]
            passed = (
                ""
                if name == "honest"
                else (
                    " (passes: round " + str(p.reached["honest reference"][0]) + ")"
                    if "honest reference" in p.reached
                    else " (never passes)"
                )
            )
            cells.append(f"{p.best:.4f}{passed}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for mode, results in runs.items():
        print(f"\n# {mode}")
        for name, result in results.items():
            if name != "honest":
                result.report()


if __name__ == "__main__":
    main()
