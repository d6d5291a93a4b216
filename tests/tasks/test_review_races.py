"""Pay on approval under concurrency: real threads against a real server process.

- approve vs auto-approval (the server's sweeper, the assignee's and the publisher's
  wallet reads, which settle due tasks) vs dispute, fired across the second the review
  window ends: exactly one of them takes the task, and the money moves once;
- concede vs resolve vs withdraw on a disputed task: exactly one wins;
- approve retried: concurrent duplicates (one 200), and with one Idempotency-Key (one
  effect, the same answer replayed).

After each scenario the CONTRACT §5 invariants are checked straight against the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from helpers import Api, LiveServer, Resp, invariants

Start = Callable[..., LiveServer]
ENV = {"AIPOD_SWEEP_INTERVAL_S": "0.2", "AIPOD_OPERATORS": "judge"}


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _fire(base_url: str, calls: list[tuple[float, Callable[[Api], Resp]]]) -> list[Resp]:
    """Each call waits at a barrier, then until its own moment (epoch seconds), then runs
    on its own HTTP session."""
    barrier = threading.Barrier(len(calls))

    def run(item: tuple[float, Callable[[Api], Resp]]) -> Resp:
        at, call = item
        api = Api(base_url=base_url)
        barrier.wait(timeout=60)
        while time.time() < at:
            time.sleep(0.002)
        return call(api)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _submit(api: Api, pub: str, worker: str, budget: Any, review: int) -> tuple[str, float]:
    r = api.post(
        "/v1/tasks",
        key=pub,
        json={"title": "review race", "budget": budget, "review_seconds": review},
    )
    assert r.status == 201, r.body
    task_id = r.data["task_id"]
    assert api.put(f"/v1/tasks/{task_id}/accept", key=worker).status == 200
    r = api.put(f"/v1/tasks/{task_id}/complete", key=worker, json={"deliverables": {"ok": 1}})
    assert r.status == 200 and r.data["status"] == "submitted", r.body
    return task_id, _epoch(r.data["review_due"])


def test_approve_vs_auto_approve_vs_dispute_one_wins_money_moves_once(
    start_server: Start, database_url: str
) -> None:
    server = start_server(env=ENV)
    api = server.api
    pub, worker = api.register("rv_pub"), api.register("rv_worker")
    paid = 0
    winners: list[str] = []
    # The contenders are spread across the end of the window by a different offset each
    # round, so that each side gets its chances.
    for offset in (-1.2, -0.45, -0.2, 0.0, 0.3):
        task_id, due = _submit(api, pub, worker, 10, review=2)
        calls: list[tuple[float, Callable[[Api], Resp]]] = []
        for i in range(4):
            at = due + offset + 0.05 * i
            calls.append((at, lambda a, t=task_id: a.put(f"/v1/tasks/{t}/approve", key=pub)))
            calls.append(
                (
                    at + 0.02,
                    lambda a, t=task_id: a.put(
                        f"/v1/tasks/{t}/dispute", key=pub, json={"reason": "race"}
                    ),
                )
            )
            calls.append((at, lambda a: a.get("/v1/wallet", key=worker)))
            calls.append((at, lambda a: a.get("/v1/wallet", key=pub)))
            calls.append((at, lambda a, t=task_id: a.get(f"/v1/tasks/{t}", key=worker)))
        results = _fire(server.base_url, calls)
        assert {r.status for r in results} <= {200, 409}, [r.body for r in results]
        # the transitions' answers (a read of the task has its history; a wallet, no status)
        moves = [r for r in results if r.status == 200 and "history" not in r.data]
        approved = [r for r in moves if r.data.get("status") == "done"]
        disputes = [r for r in moves if r.data.get("status") == "disputed"]
        refused = [r for r in results if r.status == 409]
        assert all(r.body["error"] == "task_not_submitted" for r in refused), [
            r.body for r in refused
        ]
        assert len(approved) + len(disputes) <= 1
        time.sleep(max(0.0, due + 0.6 - time.time()))  # the window is over for everybody
        task = api.get(f"/v1/tasks/{task_id}", key=pub).data
        after_submit = [h["action"] for h in task["history"]][3:]
        assert len(after_submit) == 1, task["history"]
        winner = after_submit[0]
        winners.append(winner)
        if disputes:
            assert winner == "dispute" and task["status"] == "disputed"
        elif approved:
            assert winner == "approve" and task["status"] == "done"
        else:
            assert winner == "auto_approve" and task["status"] == "done"
        if task["status"] == "done":
            paid += 10
        assert api.get("/v1/wallet", key=worker).data["balance"] == 1000 + paid
        lines = api.get("/v1/transactions", key=worker, params={"task_id": task_id}).data
        assert lines["total"] == (1 if task["status"] == "done" else 0)
        assert invariants(database_url) == []
    assert len(set(winners)) >= 2, winners  # the boundary really was contested


def test_concede_vs_resolve_vs_withdraw_exactly_one_wins(
    start_server: Start, database_url: str
) -> None:
    server = start_server(env=ENV)
    api = server.api
    pub, worker, judge = api.register("cr_pub"), api.register("cr_worker"), api.register("judge")
    outcomes: list[str] = []
    balance = {"pub": 1000.0, "worker": 1000.0}
    for _ in range(4):
        task_id, _ = _submit(api, pub, worker, 50, review=600)
        balance["pub"] -= 50
        assert api.put(f"/v1/tasks/{task_id}/dispute", key=pub, json={"reason": "x"}).status == 200
        now = time.time()
        calls: list[tuple[float, Callable[[Api], Resp]]] = []
        for _ in range(3):
            calls.append((now, lambda a, t=task_id: a.put(f"/v1/tasks/{t}/concede", key=worker)))
            calls.append(
                (
                    now,
                    lambda a, t=task_id: a.put(
                        f"/v1/tasks/{t}/resolve",
                        key=judge,
                        json={"outcome": "split", "assignee_share": 0.3},
                    ),
                )
            )
            calls.append(
                (now, lambda a, t=task_id: a.put(f"/v1/tasks/{t}/withdraw-dispute", key=pub))
            )
        results = _fire(server.base_url, calls)
        ok = [r for r in results if r.status == 200]
        assert len(ok) == 1, [r.body for r in results]
        assert all(
            r.status == 409 and r.body["error"] == "task_not_disputed"
            for r in results
            if r not in ok
        ), [r.body for r in results]
        task = api.get(f"/v1/tasks/{task_id}", key=pub).data
        action = task["history"][-1]["action"]
        outcomes.append(action)
        share = {"concede": 0.0, "resolve": 15.0, "withdraw_dispute": 50.0}[action]
        balance["worker"] += share
        balance["pub"] += 50 - share
        assert task["payout"] == (None if action == "concede" else share)
        assert api.get("/v1/wallet", key=worker).data["balance"] == balance["worker"]
        assert api.get("/v1/wallet", key=pub).data["balance"] == balance["pub"]
        assert invariants(database_url) == []


def test_approve_retried(start_server: Start, database_url: str) -> None:
    server = start_server(env=ENV)
    api = server.api
    pub, worker = api.register("ar_pub"), api.register("ar_worker")
    # duplicates without a key: one wins, the rest are told the task is no longer in review
    task_id, _ = _submit(api, pub, worker, 30, review=600)
    now = time.time()
    results = _fire(
        server.base_url,
        [(now, lambda a: a.put(f"/v1/tasks/{task_id}/approve", key=pub))] * 8,
    )
    assert sorted(r.status for r in results) == [200] + [409] * 7
    assert {r.body["error"] for r in results if r.status == 409} == {"task_not_submitted"}
    # one Idempotency-Key: one effect; every completed answer is that one
    task_id, _ = _submit(api, pub, worker, 30, review=600)
    headers = {"Idempotency-Key": f"approve-{task_id}"}
    results = _fire(
        server.base_url,
        [
            (now, lambda a: a.put(f"/v1/tasks/{task_id}/approve", key=pub, headers=headers))
            for _ in range(8)
        ],
    )
    done = [r for r in results if r.status == 200]
    assert done and all(r.status == 409 for r in results if r.status != 200)
    assert all(r.body["error"] == "idempotency_key_in_use" for r in results if r.status == 409), [
        r.body for r in results
    ]
    assert len({r.body["timestamp"] for r in done}) == 1  # the same stored answer
    again = api.put(f"/v1/tasks/{task_id}/approve", key=pub, headers=headers)
    assert again.status == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == done[0].body
    assert api.get("/v1/wallet", key=worker).data["balance"] == 1060
    payments = api.get("/v1/transactions", key=worker, params={"type": "task_payment"}).data
    assert payments["total"] == 2
    assert invariants(database_url) == []
