"""Per-application state and the per-request database transaction.

One transaction per request: opened lazily on first use (`db()`), committed in
`after_request` when the response is a success (so `code: 0` means durable), rolled back
otherwise, and always closed in teardown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection, Engine

from aipod_api.core.db import WRITE_FLAG, acquire_gate, write_gate
from aipod_api.core.ratelimit import Limits
from aipod_api.settings import Settings

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
            try:
                if response.status_code < 400:
                    conn.commit()
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
