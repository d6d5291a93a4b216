"""`--reset-demo`: put the embedded SQLite database back to its first-run demo state.

Design: build a brand-new database beside the old one (migrations + demo data, exactly
what a first start creates), then swap it in with one atomic `os.replace`. Nothing of the
old data survives — agents registered since, tasks, memories, keys, balances — and the
new file is byte-for-byte what a fresh start makes, so the reset cannot drift from the
seeders as tables are added. (Deleting rows table by table would have to know every
table, trigger-maintained counter, FTS index and id sequence; a new table would silently
survive a reset.) If anything fails before the swap, the old database is untouched.

Refused, with a message, when:
- the database is not SQLite (PostgreSQL data is never dropped by a flag);
- the file exists but is not an aipod_api database (no `agents`/`alembic_version`);
- another process has it open (a running server): switching the old file out of WAL
  mode needs every other connection closed. The old file is then held with an exclusive
  lock until the swap, so no process can write to it in between.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from aipod_api.core.db import make_null_pool_engine, normalise_url

SIDE_FILES = ("-wal", "-shm", "-journal")


class ResetRefused(RuntimeError):
    """The reset was not done; the message says why and what to do instead."""


def sqlite_path(database_url: str) -> Path | None:
    """The absolute path of a SQLite database URL (relative to the working directory),
    or None for any other database."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


def _remove_with_side_files(path: Path) -> None:
    for name in (path.name, *(path.name + s for s in SIDE_FILES)):
        (path.parent / name).unlink(missing_ok=True)


def _build_fresh(target: Path, *, signup_credit_cents: int) -> None:
    """A new self-contained database file (no WAL beside it) with the first-run state."""
    from aipod_api.bootstrap import prepare_database

    _remove_with_side_files(target)
    engine = make_null_pool_engine(f"sqlite:///{target}")
    try:
        created = prepare_database(engine, with_demo=True, signup_credit_cents=signup_credit_cents)
    finally:
        engine.dispose()
    if not created:  # pragma: no cover - a new file has no agents
        raise ResetRefused(f"the demo data was not created in {target}")
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        # Fold the WAL into the file, so the file alone is the database.
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    finally:
        conn.close()
    if str(mode).lower() != "delete":  # pragma: no cover - nobody else knows the file
        raise ResetRefused(f"could not finish the new database {target}")


def _open_exclusively(path: Path) -> sqlite3.Connection:
    """The old database, checked to be ours and locked against every other process."""
    conn = sqlite3.connect(path, timeout=2, isolation_level=None)
    try:
        try:
            names = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name IN ('agents', 'alembic_version')"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise ResetRefused(
                f"{path} is not a readable aipod_api database ({exc}); not touching it"
            ) from None
        if names != {"agents", "alembic_version"}:
            raise ResetRefused(
                f"{path} is not an aipod_api database (no agents table); not touching it"
            )
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if str(mode).lower() != "delete":
                raise sqlite3.OperationalError("database is locked")
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise ResetRefused(
                f"{path} is in use by another process (is the server still running?): "
                f"stop it first ({exc})"
            ) from None
        return conn
    except BaseException:
        conn.close()
        raise


def reset_demo(database_url: str, *, signup_credit_cents: int) -> Path:
    """Replace the SQLite database with a fresh one holding the demo data; its path."""
    path = sqlite_path(database_url)
    if path is None:
        backend = make_url(normalise_url(database_url)).get_backend_name()
        raise ResetRefused(
            f"--reset-demo works only on the embedded SQLite database; this server uses "
            f"{backend}. Its data is never dropped by a flag: to start over there, drop and "
            "re-create the database yourself (see docs/deploy.md), then start the server."
        )
    if not path.parent.is_dir():
        raise ResetRefused(f"the directory of {path} does not exist")
    fresh = path.with_name(path.name + ".reset-tmp")
    old = _open_exclusively(path) if path.exists() else None
    try:
        _build_fresh(fresh, signup_credit_cents=signup_credit_cents)
        os.replace(fresh, path)
    except BaseException:
        _remove_with_side_files(fresh)
        raise
    finally:
        if old is not None:
            with contextlib.suppress(sqlite3.Error):
                old.execute("ROLLBACK")
            old.close()
    # Anything left beside the new file belonged to the old one (the new file has no
    # WAL or journal yet) and must not be replayed into it.
    for suffix in SIDE_FILES:
        (path.parent / (path.name + suffix)).unlink(missing_ok=True)
    return path
