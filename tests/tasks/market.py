"""In-process marketplace driver with an injectable clock (import as `from tasks.market`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from helpers import Api, Resp


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Market:
    """The app with a clock the test controls (`AppState.clock`); no sweep thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.extensions["aipod"]
        self.state.sweeper.stop()  # deterministic: tests settle expiry explicitly
        self.now = int(time.time())
        self.state.clock.follow(lambda: self.now)
        self.api = Api(test_client=app.test_client())

    def advance(self, seconds: int) -> None:
        self.now += seconds

    def register(self, username: str, caps: list[str] | None = None) -> str:
        return self.api.register(username, capabilities=caps or [])

    def publish(self, key: str, budget: Any = 100, **extra: Any) -> Resp:
        body = {"title": extra.pop("title", "a task"), "budget": budget, **extra}
        return self.api.post("/v1/tasks", key=key, json=body)

    def new_task(self, key: str, budget: Any = 100, **extra: Any) -> str:
        r = self.publish(key, budget, **extra)
        assert r.status == 201, r.body
        return str(r.data["task_id"])

    def accept(self, key: str, task_id: str) -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/accept", key=key)

    def complete(self, key: str, task_id: str, body: Any = None) -> Resp:
        if body is None:
            body = {"deliverables": {"result": "done"}}
        return self.api.put(f"/v1/tasks/{task_id}/complete", key=key, json=body)

    def cancel(self, key: str, task_id: str) -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/cancel", key=key)

    # pay on approval (issue 13 §2)
    def approve(self, key: str, task_id: str) -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/approve", key=key)

    def request_changes(self, key: str, task_id: str, reason: str = "please fix") -> Resp:
        return self.api.put(
            f"/v1/tasks/{task_id}/request-changes", key=key, json={"reason": reason}
        )

    def dispute(self, key: str, task_id: str, reason: str = "not what I asked") -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/dispute", key=key, json={"reason": reason})

    def concede(self, key: str, task_id: str) -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/concede", key=key)

    def withdraw_dispute(self, key: str, task_id: str) -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/withdraw-dispute", key=key)

    def resolve(self, key: str, task_id: str, **body: Any) -> Resp:
        return self.api.put(f"/v1/tasks/{task_id}/resolve", key=key, json=body)

    def rate(self, key: str, **body: Any) -> Resp:
        return self.api.post("/v1/trust/rate", key=key, json=body)

    def get(self, key: str, task_id: str) -> Resp:
        return self.api.get(f"/v1/tasks/{task_id}", key=key)

    def wallet(self, key: str) -> dict[str, Any]:
        r = self.api.get("/v1/wallet", key=key)
        assert r.status == 200, r.body
        return dict(r.data)

    def done_task(self, publisher: str, worker: str, budget: Any = 100) -> str:
        task_id = self.new_task(publisher, budget)
        assert self.accept(worker, task_id).status == 200
        assert self.complete(worker, task_id).status == 200
        return task_id

    def sweep(self) -> int:
        from aipod_api.core.db import transaction
        from aipod_api.tasks import service as tasks_service

        with transaction(self.state.engine, write=True) as conn:
            return tasks_service.expire_due(conn, now=self.now)

    def invariants(self) -> list[str]:
        from aipod_api.core import counters
        from aipod_api.core.db import transaction
        from aipod_api.wallet.service import check_invariants

        with transaction(self.state.engine, write=False) as conn:
            return check_invariants(conn) + counters.check(conn)
