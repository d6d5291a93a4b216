"""Apply Alembic migrations (and first-run demo data) at start-up.

Safe to run concurrently from many processes and repeatedly: everything happens in one
transaction holding the write lock (SQLite `BEGIN IMMEDIATE`) or an advisory lock
(PostgreSQL).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from aipod_api.core.db import transaction

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PG_LOCK_KEY = 0x6A1B0D  # advisory lock shared by every process migrating this database


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _quiet_alembic() -> None:
    """Alembic's INFO lines ("Context impl SQLiteImpl.", "Will assume transactional DDL.")
    say nothing to an operator: show them only when our own log level is DEBUG."""
    debug = logging.getLogger("aipod_api").isEnabledFor(logging.DEBUG)
    logging.getLogger("alembic").setLevel(logging.DEBUG if debug else logging.WARNING)


@functools.cache
def newest_revisions() -> frozenset[str]:
    """The heads of the migration scripts, read once per process (and inherited by the
    server's forked workers): reading them executes every script."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def upgrade(engine: Engine, *, then: Callable[[Connection], object] | None = None) -> None:
    """Bring the schema to the newest revision, then run `then(conn)` in the same lock.
    A database already there (every start but the first, and each worker after the
    server's main process) is only read: Alembic's environment does not run."""
    _quiet_alembic()
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        current = MigrationContext.configure(conn).get_current_heads()
        if frozenset(current) != newest_revisions():
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
        if then is not None:
            then(conn)
