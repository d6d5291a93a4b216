"""Engine creation and the one-transaction-per-request scope.

SQLite: WAL, busy timeout, foreign keys on, `synchronous=FULL` unless configured
otherwise; pysqlite's own transaction handling is switched off (`isolation_level=None`)
and we emit `BEGIN IMMEDIATE` for write transactions and `BEGIN` for reads ourselves, so
a write transaction holds the write lock from its first statement and never fails with
"database is locked" on upgrade.

PostgreSQL: READ COMMITTED (the default); correctness comes from conditional updates and
row locks in the services, never from a single writer.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from aipod_api.core.execlock import blocking

WRITE_FLAG = "aipod_write"


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
        )
        _install_sqlite_hooks(engine, synchronous=synchronous)
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


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction: committed when the block exits normally, rolled back otherwise."""
    gate = write_gate(engine) if write else None
    acquire_gate(gate)
    try:
        with engine.connect() as conn:
            conn.info[WRITE_FLAG] = write
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(WRITE_FLAG, None)
    finally:
        if gate is not None:
            gate.release()


AUTOCHECKPOINT_PAGES = 10_000  # 40 MB of WAL with 4 KiB pages (SQLite's default: 1,000)


def checkpoint(engine: Engine) -> None:
    """Copy committed WAL frames into the database file without blocking anyone
    (PASSIVE), so committing requests do not pay for it."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
