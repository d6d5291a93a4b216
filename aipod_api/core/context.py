"""Per-application state and the per-request database transaction.

One transaction per request: opened lazily on first use (`db()`), committed in
`after_request` when the response is a success (so `code: 0` means durable), rolled back
otherwise — unless the view raised an `ApiError` whose class declares `commits` (its
effects are the premise of the refusal, e.g. `tasks.flows.TaskDue`: the task was expired
and refunded, then the action refused) — and always closed in teardown.

Retries (`run_view`): a writing request whose transaction fails with a deadlock or a
serialization failure (PostgreSQL SQLSTATE 40P01 / 40001) is rolled back and its view run
again, up to `TX_ATTEMPTS` times in all, after a short jittered pause taken outside any
transaction; then 503 in the envelope with `Retry-After`. The body was parsed before the
first attempt and the view is a pure function of the request and the database, so a
re-run is the same request against newer data.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from aipod_api.core.db import WRITE_FLAG, acquire_gate, write_gate
from aipod_api.core.envelope import envelope
from aipod_api.core.errors import ApiError
from aipod_api.core.execlock import blocking
from aipod_api.core.i18n import register_messages
from aipod_api.core.ratelimit import Limits
from aipod_api.http.i18n import t
from aipod_api.settings import Settings

log = logging.getLogger("aipod_api")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Deadlock detected, serialization failure: the transaction lost a race and may simply
# be run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
TX_ATTEMPTS = 4  # one run plus three retries
RETRY_PAUSE_S = 0.01  # base of the jittered pause before retry n: n * base * U(0.5, 1.5)
T = TypeVar("T")

register_messages(
    {
        "busy_retry": (
            "数据库繁忙(并发冲突),请稍后重试",
            "The database is busy (concurrent conflict); retry shortly",
        )
    }
)


class Busy(ApiError):
    """503: the transaction kept losing deadlock/serialization races."""

    status = 503
    key = "busy_retry"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


def is_retryable(exc: BaseException) -> bool:
    """A DB error that a fresh run of the same transaction may not meet again."""
    if not isinstance(exc, DBAPIError):
        return False
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def retry_pause(attempt: int) -> None:
    """Sleep before retry number `attempt` (1-based), letting other requests run."""
    with blocking():
        time.sleep(attempt * RETRY_PAUSE_S * (0.5 + random.random()))


def retrying(fn: Callable[[], T], *, attempts: int = TX_ATTEMPTS) -> T:
    """Run `fn` (which opens and commits its own transaction) again when it fails with a
    retryable error; `Busy` once every attempt failed."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            log.info("transaction conflict (%s), attempt %d of %d", exc.orig, attempt, attempts)
        if attempt < attempts:
            retry_pause(attempt)
    raise Busy()


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    limits: Limits
    redis: Any = None
    readers: ReadConnections | None = None
    started_at: float = field(default_factory=time.monotonic)
    signup_credit_cents: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    def now(self) -> int:
        """UNIX seconds; tests may inject a clock as `extras["clock"]` (a callable)."""
        fn = self.extras.get("clock")
        return int(fn()) if fn is not None else int(time.time())


def state() -> AppState:
    return current_app.extensions["aipod"]  # type: ignore[no-any-return]


def clock() -> int:
    """The current time for services' `now=` (the injectable clock of `AppState.now`)."""
    return state().now()


def db() -> Connection:
    ctx = g._get_current_object()  # one context lookup instead of one per attribute
    conn: Connection | None = ctx.__dict__.get("_db_conn")
    if conn is None:
        engine = state().engine
        write = request.method not in READ_METHODS
        if not write:
            reader = state().readers
            if reader is not None:
                conn = reader.checkout()
                ctx._db_conn = conn
                ctx._db_reader = reader
                return conn
        gate = write_gate(engine) if write else None
        acquire_gate(gate)
        try:
            conn = engine.connect()
            conn.info[WRITE_FLAG] = write
            conn.begin()
        except BaseException:
            if conn is not None:
                conn.close()
            if gate is not None:
                gate.release()
            raise
        ctx._db_gate = gate
        ctx._db_conn = conn
    return conn


class ReadConnections:
    """Open SQLite connections kept for read requests, in a LIFO stack.

    SQLite reads run in autocommit (see core/db.py): a reader never holds a transaction
    open between statements, so its connection can serve the next read request as is.
    Keeping them open skips the pool's checkout, reset and check-in on every read
    (about a tenth of a primary-key GET). `list.pop`/`append` are atomic under the GIL;
    a connection that saw an error is closed, never reused. PostgreSQL keeps the pool
    (and its pre-ping) for every request.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.idle: list[Connection] = []

    def checkout(self) -> Connection:
        try:
            return self.idle.pop()
        except IndexError:
            conn = self.engine.connect()
            conn.info[WRITE_FLAG] = False
            # SQLAlchemy's transaction stays "begun" for the connection's life: a read
            # emits no BEGIN (core/db.py), so every statement autocommits in SQLite.
            conn.begin()
            return conn

    def checkin(self, conn: Connection, *, ok: bool) -> None:
        if ok and not conn.closed and conn.in_transaction():
            self.idle.append(conn)
        else:
            conn.close()


def _discard_transaction() -> None:
    """Roll back and drop the request's transaction so that `db()` opens a new one."""
    ctx = g._get_current_object()
    ctx.__dict__.pop("after_commit", None)
    conn: Connection | None = ctx.__dict__.pop("_db_conn", None)
    if conn is None:
        return
    reader: ReadConnections | None = ctx.__dict__.pop("_db_reader", None)
    if reader is not None:
        reader.checkin(conn, ok=False)
        return
    try:
        conn.rollback()
    finally:
        conn.info.pop(WRITE_FLAG, None)
        conn.close()
        _release_gate()


def run_view(dispatch: Callable[[], T]) -> T:
    """Run the view; for a writing request, again on a deadlock or serialization failure
    (see the module docstring). Reads take no row locks and are run once (503 should one
    ever meet such an error). An `ApiError` that `commits` marks the transaction to be
    committed with the error answer."""
    try:
        return _run_view(dispatch)
    except ApiError as exc:
        if exc.commits:
            g._db_commit_error = True
        raise


def _run_view(dispatch: Callable[[], T]) -> T:
    if request.method in READ_METHODS:
        try:
            return dispatch()
        except DBAPIError as exc:
            if is_retryable(exc):
                raise Busy() from exc
            raise

    def attempt() -> T:
        try:
            return dispatch()
        except DBAPIError as exc:
            if is_retryable(exc):
                _discard_transaction()
            raise

    return retrying(attempt)


def _release_gate() -> None:
    gate = g.pop("_db_gate", None)
    if gate is not None:
        gate.release()


def caller_id() -> str:
    principal = g.get("principal")
    if principal is None:  # pragma: no cover - guarded by the auth hook
        raise RuntimeError("no authenticated caller")
    return str(principal.agent_id)


def after_commit(callback: Any) -> None:
    """Run `callback()` once this request's transaction has committed."""
    g.setdefault("after_commit", []).append(callback)


def init_request_scope(app: Flask) -> None:
    @app.after_request
    def _finish_transaction(response: Response) -> Response:
        ctx = g._get_current_object()
        conn: Connection | None = ctx.__dict__.pop("_db_conn", None)
        if conn is not None:
            reader: ReadConnections | None = ctx.__dict__.pop("_db_reader", None)
            if reader is not None:
                reader.checkin(conn, ok=response.status_code < 500)
                return response
            # A refusal whose effects are kept (`ApiError.commits`), never a failure.
            keep = ctx.__dict__.pop("_db_commit_error", False) and response.status_code < 500
            try:
                if response.status_code < 400 or keep:
                    try:
                        conn.commit()
                    except DBAPIError as exc:
                        if not is_retryable(exc):
                            raise
                        # Too late to re-run the view: the answer becomes "retry" (the
                        # response keeps its other headers, e.g. X-Request-Id).
                        g.pop("after_commit", None)
                        busy = Busy()
                        answer = envelope(
                            None,
                            message=t(busy.key),
                            code=503,
                            status=503,
                            error=busy.code_name,
                        )
                        response.set_data(answer.get_data())
                        response.status_code = 503
                        response.headers.update(busy.headers)
                        return response
                    for callback in g.pop("after_commit", []):
                        callback()
                else:
                    conn.rollback()
            finally:
                conn.info.pop(WRITE_FLAG, None)
                conn.close()
                _release_gate()
        return response

    @app.teardown_request
    def _close_transaction(_exc: BaseException | None) -> None:
        conn: Connection | None = g.pop("_db_conn", None)
        if conn is not None:
            reader: ReadConnections | None = g.pop("_db_reader", None)
            if reader is not None:
                reader.checkin(conn, ok=_exc is None)
                return
            try:
                conn.rollback()
            finally:
                conn.info.pop(WRITE_FLAG, None)
                conn.close()
                _release_gate()
