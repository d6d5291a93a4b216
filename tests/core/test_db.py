"""SQLite durability (issue 11 item 15): commits are fsynced before they are answered."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from aipod_api.core.db import make_engine
from aipod_api.settings import Settings

sqlite_only = pytest.mark.skipif(
    os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() != "sqlite",
    reason="SQLite's synchronous setting",
)
FULL, NORMAL = 2, 1  # PRAGMA synchronous values


def _synchronous(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


@sqlite_only
def test_the_app_commits_with_synchronous_full_by_default(make_app: Callable[..., Any]) -> None:
    assert Settings().sqlite_synchronous == "FULL"
    engine = make_app().extensions["aipod"].engine
    assert _synchronous(engine) == FULL
    # Every pooled connection, including a second one opened while the first is out.
    with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == FULL


@sqlite_only
def test_normal_is_a_setting(make_app: Callable[..., Any]) -> None:
    engine = make_app(sqlite_synchronous="NORMAL").extensions["aipod"].engine
    assert _synchronous(engine) == NORMAL


def test_other_values_are_refused(tmp_path: Any) -> None:
    with pytest.raises(ValidationError):
        Settings(sqlite_synchronous="OFF")
    with pytest.raises(ValueError, match="synchronous"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="OFF")


@sqlite_only
def test_consecutive_writes_reuse_the_connection_whose_cache_is_current(
    tmp_path: Any,
) -> None:
    """Writes take turns on the write gate; the pool hands each the connection the last
    one used (LIFO), not the one idle longest, whose page cache later commits made stale."""
    from aipod_api.core.db import transaction

    engine = make_engine(f"sqlite:///{tmp_path / 'lifo.db'}", pool_size=4)
    with transaction(engine, write=True) as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
    # Fill the pool with several idle connections.
    held = [engine.connect() for _ in range(3)]
    for c in held:
        c.close()
    seen = []
    for i in range(5):
        with transaction(engine, write=True) as conn:
            conn.exec_driver_sql(f"INSERT INTO t VALUES ({i})")
            seen.append(id(conn.connection.dbapi_connection))
    assert len(set(seen)) == 1, seen
    engine.dispose()


@sqlite_only
def test_a_writes_commit_waits_without_holding_the_execution_lock(tmp_path: Any) -> None:
    """The fsync of a COMMIT lets other requests run: the driver's commit is called with
    the execution lock released, and the lock is held again when it returns."""
    from aipod_api.core.execlock import ExecutionLock

    engine = make_engine(f"sqlite:///{tmp_path / 'commit.db'}")
    lock = ExecutionLock()
    held_during: list[bool] = []

    class Driver:
        def commit(self) -> None:
            held_during.append(lock._lock.locked())

    lock.acquire()
    try:
        engine.dialect.do_commit(Driver())
        assert lock._lock.locked()
    finally:
        lock.release()
    assert held_during == [False]
    # Without the lock held (a background thread), the commit is just the commit.
    engine.dialect.do_commit(Driver())
    assert held_during == [False, False]
    engine.dispose()
