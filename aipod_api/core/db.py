"""Engines, and `Tx`: the one transaction lifecycle of every unit of work.

`Tx` is used by every path: an HTTP request (aipod_api/http/context.py opens one per
request, reading or writing as its route declares), the sweep and other background work
(`transaction()`, `retrying()`), tooling. It is opened lazily, committed or rolled back
once, runs its after-commit callbacks only after a commit, and always closes and releases
what it took (SQLite's in-process write gate, a kept read connection).

Retries (`retrying`): a unit of work whose transaction fails with a deadlock or a
serialization failure (PostgreSQL SQLSTATE 40P01 / 40001) is rolled back and run again, up
to `TX_ATTEMPTS` times in all, after a short jittered pause taken outside any
transaction; then `Busy` (503 with `Retry-After`).

SQLite: WAL, busy timeout, foreign keys on, `synchronous=FULL` unless configured
otherwise; pysqlite's own transaction handling is switched off (`isolation_level=None`)
and we emit `BEGIN IMMEDIATE` for write transactions and `BEGIN` for reads ourselves, so
a write transaction holds the write lock from its first statement and never fails with
"database is locked" on upgrade.

PostgreSQL: READ COMMITTED (the default); correctness comes from conditional updates and
row locks in the services, never from a single writer.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from aipod_api.core.errors import ApiError
from aipod_api.core.execlock import blocking
from aipod_api.core.i18n import register_messages

log = logging.getLogger("aipod_api")
T = TypeVar("T")

WRITE_FLAG = "aipod_write"
TX_INFO = "aipod_tx"  # Connection.info key: the `Tx` the connection is serving


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_url_backend(url: str) -> str:
    """`sqlite` or `postgresql` (or whatever else the URL names)."""
    return str(make_url(normalise_url(url)).get_backend_name())


SYNCHRONOUS = ("FULL", "NORMAL")


def make_engine(url: str, *, pool_size: int = 16, synchronous: str = "FULL") -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("in-memory SQLite is not supported; use a file path")
        engine = create_engine(
            url,
            connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 60},
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=60,
            # Write transactions take turns on the write gate: LIFO hands each the
            # connection the last one used, whose page cache is still current. FIFO (the
            # default) rotated through the pool, and a connection that last ran before
            # other commits finds its cache stale at BEGIN and re-reads every page it
            # needs: BEGIN IMMEDIATE cost 683 µs of wall time (119 µs CPU) per write,
            # 78 µs (49 µs) with LIFO (bench/inproc.py, POST /v1/tasks).
            pool_use_lifo=True,
        )
        _install_sqlite_hooks(engine, synchronous=synchronous)
        _commit_outside_execution_lock(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=60,
        )
    raise ValueError(f"unsupported database URL: {parsed.get_backend_name()}")


def _commit_outside_execution_lock(engine: Engine) -> None:
    """A write's COMMIT (with `synchronous=FULL`: the WAL's fsync, 2-12 ms on a virtual
    disk) waits without holding the execution lock, so other requests run meanwhile:
    reads on their own connections, the next write's parsing and authentication up to
    the write gate. Safe for the durability contract: SQLite syncs the WAL before it
    publishes the commit in the WAL index, so no reader sees a commit before it is
    durable; the committing thread keeps the write gate until its connection is closed.
    Only the driver's commit is outside the lock: the `commit` event listeners (the
    outbox's rows) run before it, holding the lock as every other statement does."""
    dialect = engine.dialect
    commit = dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        with blocking():
            commit(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]


def make_null_pool_engine(url: str) -> Engine:
    """A pool-less engine for one-off tooling (migrations, bulk loads)."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 60},
            poolclass=NullPool,
        )
        _install_sqlite_hooks(engine)
        return engine
    return create_engine(url, poolclass=NullPool)


def _install_sqlite_hooks(engine: Engine, *, synchronous: str = "FULL") -> None:
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk (the WAL fsynced) before it is acknowledged, so
        # `code: 0` survives a power loss. NORMAL (AIPOD_SQLITE_SYNCHRONOUS) fsyncs only
        # at checkpoints: still safe against a process crash, but the last commits can
        # be lost with the machine.
        cur.execute(f"PRAGMA synchronous={synchronous}")
        # Checkpoints run in the background thread (`checkpoint`, every second); the
        # automatic one, which a committing request would pay for, stays as a backstop.
        cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writes hold the write lock from their first statement. Reads run in
        # autocommit: each statement sees its own committed snapshot, which is what
        # PostgreSQL's READ COMMITTED gives reads too, and it saves a BEGIN and a
        # COMMIT round trip per read request.
        if conn.info.get(WRITE_FLAG):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


# SQLite has one writer at a time. Threads of one process queue for it on an in-process
# lock (FIFO-ish, woken at once) before `BEGIN IMMEDIATE`, instead of all spinning in
# SQLite's busy handler, which sleeps in growing steps and inflates tail latency.
# Other processes on the same file still meet the busy timeout, as before.
_WRITE_GATES: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()
WRITE_GATE_TIMEOUT_S = 60.0


class WriteGateTimeout(RuntimeError):
    pass


def write_gate(engine: Engine) -> threading.Lock | None:
    """The engine's in-process writer lock (SQLite only; None elsewhere)."""
    if engine.dialect.name != "sqlite":
        return None
    gate = _WRITE_GATES.get(engine)
    if gate is None:
        with _GATES_LOCK:
            gate = _WRITE_GATES.setdefault(engine, threading.Lock())
    return gate


def acquire_gate(gate: threading.Lock | None) -> None:
    if gate is None:
        return
    if gate.acquire(blocking=False):
        return
    with blocking():  # the writer ahead of us may need to run to finish
        if not gate.acquire(timeout=WRITE_GATE_TIMEOUT_S):
            raise WriteGateTimeout("timed out waiting for the database write lock")


class ReadConnections:
    """Open SQLite connections kept for read transactions, in a LIFO stack.

    SQLite reads run in autocommit (see `_install_sqlite_hooks`): a reader never holds a
    transaction open between statements, so its connection can serve the next read as
    is. Keeping them open skips the pool's checkout, reset and check-in on every read
    (about a tenth of a primary-key GET). `list.pop`/`append` are atomic under the GIL;
    a connection that saw an error is closed, never reused. PostgreSQL keeps the pool
    (and its pre-ping) for every transaction.
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
            # emits no BEGIN, so every statement autocommits in SQLite.
            conn.begin()
            return conn

    def checkin(self, conn: Connection, *, ok: bool) -> None:
        if ok and not conn.closed and conn.in_transaction():
            self.idle.append(conn)
        else:
            conn.close()


class Tx:
    """The database transaction of one unit of work.

    `write`: a writing transaction takes SQLite's write gate and `BEGIN IMMEDIATE`; a
    reading one runs on a kept read connection when `readers` is given (SQLite), else on
    a pooled connection. `connection()` opens it on first use; `commit()` or `rollback()`
    ends it (either is a no-op when it was never opened), and `discard()` rolls it back
    so that the next `connection()` opens a fresh one (a retry). As a context manager:
    committed when the block exits normally, rolled back otherwise.

    `keep_on_error`: set when the unit of work was refused with an error whose effects
    are kept (`ApiError.commits`, e.g. `tasks.flows.TaskDue`); the HTTP edge then
    commits the refusal.
    """

    __slots__ = ("_callbacks", "_conn", "_gate", "engine", "keep_on_error", "readers", "write")

    def __init__(
        self, engine: Engine, *, write: bool, readers: ReadConnections | None = None
    ) -> None:
        self.engine = engine
        self.write = write
        self.readers = None if write else readers
        self.keep_on_error = False
        self._conn: Connection | None = None
        self._gate: threading.Lock | None = None
        self._callbacks: list[Callable[[], Any]] = []

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def connection(self) -> Connection:
        conn = self._conn
        if conn is not None:
            return conn
        readers = self.readers
        if readers is not None:
            conn = self._conn = readers.checkout()
            conn.info[TX_INFO] = self
            return conn
        gate = write_gate(self.engine) if self.write else None
        acquire_gate(gate)
        try:
            conn = self.engine.connect()
            conn.info[WRITE_FLAG] = self.write
            conn.begin()
        except BaseException:
            if conn is not None:
                conn.close()
            if gate is not None:
                gate.release()
            raise
        conn.info[TX_INFO] = self
        self._gate = gate
        self._conn = conn
        return conn

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run `callback()` once this transaction has committed (never after a rollback).
        Services, which hold only the connection, use `after_commit(conn, callback)`."""
        self._callbacks.append(callback)

    def commit(self) -> None:
        """Commit, then run the after-commit callbacks. A failed commit (e.g. a
        serialization failure) rolls back, closes, drops the callbacks and raises."""
        conn = self._conn
        if conn is None:
            callbacks, self._callbacks = self._callbacks, []
            for callback in callbacks:
                callback()
            return
        self._conn = None
        readers = self.readers
        if readers is not None:
            conn.info.pop(TX_INFO, None)
            readers.checkin(conn, ok=True)
        else:
            try:
                conn.commit()
            except BaseException:
                self._callbacks = []
                self._close(conn)
                raise
            self._close(conn)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        """Roll back (a kept read connection is closed, not reused) and drop the
        after-commit callbacks."""
        self._callbacks = []
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        readers = self.readers
        if readers is not None:
            conn.info.pop(TX_INFO, None)
            readers.checkin(conn, ok=False)
            return
        try:
            conn.rollback()
        finally:
            self._close(conn)

    def release(self) -> None:
        """End a reading transaction that may have failed harmlessly (a 4xx answer): its
        kept connection goes back for reuse; any other transaction is rolled back."""
        conn = self._conn
        if conn is not None and self.readers is not None:
            self._conn = None
            self._callbacks = []
            conn.info.pop(TX_INFO, None)
            self.readers.checkin(conn, ok=True)
            return
        self.rollback()

    discard = rollback

    def _close(self, conn: Connection) -> None:
        try:
            conn.info.pop(WRITE_FLAG, None)
            conn.info.pop(TX_INFO, None)
            conn.close()
        finally:
            gate, self._gate = self._gate, None
            if gate is not None:
                gate.release()

    def __enter__(self) -> Tx:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


def after_commit(conn: Connection, callback: Callable[[], Any]) -> None:
    """Run `callback()` once the transaction `conn` belongs to has committed (never after
    a rollback): how a service, which holds only the connection, defers an effect that
    must not be seen before the commit (a key-cache eviction). `conn` must be a `Tx`'s
    (every request's, `transaction()`'s and `retrying()`'s are)."""
    tx = conn.info.get(TX_INFO)
    if not isinstance(tx, Tx):
        raise RuntimeError("after_commit: this connection is not serving a Tx")
    tx.after_commit(callback)


@contextmanager
def transaction(
    engine: Engine, *, write: bool, readers: ReadConnections | None = None
) -> Iterator[Connection]:
    """One `Tx`: committed when the block exits normally, rolled back otherwise."""
    with Tx(engine, write=write, readers=readers) as tx:
        yield tx.connection()


# --- retries ---------------------------------------------------------------------------

# Deadlock detected, serialization failure: the transaction lost a race and may simply
# be run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
TX_ATTEMPTS = 4  # one run plus three retries
RETRY_PAUSE_S = 0.01  # base of the jittered pause before retry n: n * base * U(0.5, 1.5)

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


AUTOCHECKPOINT_PAGES = 10_000  # 40 MB of WAL with 4 KiB pages (SQLite's default: 1,000)


def checkpoint(engine: Engine) -> None:
    """Copy committed WAL frames into the database file without blocking anyone
    (PASSIVE), so committing requests do not pay for it."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
