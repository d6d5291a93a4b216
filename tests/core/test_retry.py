"""Request transactions that lose a deadlock or serialization race are re-run (http/context.py).

The database error is injected into the service call here so that every branch can be
counted exactly; tests/tasks/test_races.py provokes genuine PostgreSQL deadlocks against
the real server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from helpers import Api
from sqlalchemy.exc import OperationalError

from aipod_api.core import db as core_db
from aipod_api.tasks import service as tasks_service


class _PgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"injected ({sqlstate})")
        self.sqlstate = sqlstate


def _failing(real: Callable[..., Any], failures: int, sqlstate: str | None) -> Any:
    calls: list[int] = []

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("UPDATE tasks ...", {}, _PgError(sqlstate))
        return real(*args, **kwargs)

    fake.calls = calls  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def open_task(api: Api) -> tuple[Api, str, str]:
    key = api.register("retry_pub")
    r = api.post("/v1/tasks", key=key, json={"title": "t", "budget": 30})
    assert r.status == 201, r.body
    return api, key, str(r.data["task_id"])


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_transient_conflict_is_retried_and_succeeds(
    open_task: tuple[Api, str, str], monkeypatch: pytest.MonkeyPatch, sqlstate: str
) -> None:
    api, key, task_id = open_task
    monkeypatch.setattr(core_db, "RETRY_PAUSE_S", 0.0)
    fake = _failing(tasks_service.cancel_task, 2, sqlstate)
    monkeypatch.setattr(tasks_service, "cancel_task", fake)

    r = api.put(f"/v1/tasks/{task_id}/cancel", key=key)

    assert r.status == 200, r.body
    assert r.data["status"] == "cancelled"
    assert len(fake.calls) == 3
    wallet = api.get("/v1/wallet", key=key).data
    assert (wallet["balance"], wallet["escrow"]) == (1000, 0)
    refunds = api.get("/v1/transactions", key=key, params={"type": "escrow_refund"}).data
    assert refunds["total"] == 1


def test_persistent_conflicts_answer_503_after_bounded_attempts(
    open_task: tuple[Api, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, key, task_id = open_task
    monkeypatch.setattr(core_db, "RETRY_PAUSE_S", 0.0)
    fake = _failing(tasks_service.cancel_task, 1000, "40P01")
    monkeypatch.setattr(tasks_service, "cancel_task", fake)

    r = api.put(f"/v1/tasks/{task_id}/cancel", key=key, headers={"Accept-Language": "en"})

    assert r.status == 503 and r.code == 503, r.body
    assert r.body["error"] == "busy_retry"
    assert r.data is None and "retry" in r.message
    assert r.headers["Retry-After"] == "1"
    assert len(fake.calls) == core_db.TX_ATTEMPTS
    assert api.get(f"/v1/tasks/{task_id}", key=key).data["status"] == "open"
    assert api.get("/v1/wallet", key=key).data["escrow"] == 30


def test_other_database_errors_are_not_retried(
    open_task: tuple[Api, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, key, task_id = open_task
    fake = _failing(tasks_service.cancel_task, 1000, None)
    monkeypatch.setattr(tasks_service, "cancel_task", fake)

    r = api.put(f"/v1/tasks/{task_id}/cancel", key=key)

    assert r.status == 500 and len(fake.calls) == 1


def test_reads_are_not_retried_but_answer_503(
    open_task: tuple[Api, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, key, task_id = open_task
    fake = _failing(tasks_service.get_task, 1000, "40001")
    monkeypatch.setattr(tasks_service, "get_task", fake)

    r = api.get(f"/v1/tasks/{task_id}", key=key)

    assert r.status == 503 and len(fake.calls) == 1


def test_a_conflict_at_commit_answers_503_and_changes_nothing(
    open_task: tuple[Api, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import Connection

    api, key, task_id = open_task
    real_commit = Connection.commit
    failed: list[int] = []

    me = threading.current_thread()  # the request's (the test client runs it here), not
    # a background thread's (the sweep, webhook deliveries) that may commit meanwhile

    def commit(self: Connection) -> None:
        if not failed and threading.current_thread() is me:
            failed.append(1)
            raise OperationalError("COMMIT", {}, _PgError("40001"))
        real_commit(self)

    monkeypatch.setattr(Connection, "commit", commit)
    r = api.put(f"/v1/tasks/{task_id}/cancel", key=key, headers={"X-Request-Id": "commit-1"})

    assert r.status == 503 and r.code == 503, r.body
    assert r.body["error"] == "busy_retry"
    assert r.headers["Retry-After"] == "1" and r.headers["X-Request-Id"] == "commit-1"
    assert failed == [1]
    assert api.get(f"/v1/tasks/{task_id}", key=key).data["status"] == "open"
    assert api.get("/v1/wallet", key=key).data["escrow"] == 30
