"""Prepare a database for serving: migrations, checks, then first-run demo data."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from aipod_api import demo
from aipod_api.core import migrate
from aipod_api.core.clock import Clock
from aipod_api.core.db import transaction
from aipod_api.trust import standing as trust_standing


class UnsuitableDatabase(RuntimeError):
    """The database cannot serve this application correctly (see docs/deploy.md)."""


def check_postgres_text_search(conn: Connection) -> None:
    """Refuse a PostgreSQL database whose ctype makes pg_trgm blind to Chinese.

    Under LC_CTYPE 'C', pg_trgm extracts no trigrams from CJK text, so a trigram index
    silently matches nothing; a UTF-8 ctype (e.g. C.UTF-8) is required.
    """
    if conn.dialect.name != "postgresql":
        return
    installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
    if installed is None:
        return
    grams = conn.execute(text("SELECT show_trgm('比亚迪')")).scalar_one()
    if not grams:
        ctype = conn.execute(
            text("SELECT datctype FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
        raise UnsuitableDatabase(
            f"this PostgreSQL database has LC_CTYPE={ctype!r}: pg_trgm extracts no "
            "trigrams from Chinese text there, so memory search would silently find "
            "nothing. Create the database with a UTF-8 ctype, e.g. CREATE DATABASE aipod "
            "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' "
            "(see docs/deploy.md)."
        )


def prepare_database(
    engine: Engine,
    *,
    with_demo: bool,
    signup_credit_cents: int,
    now: int | None = None,
    trust_seeds: frozenset[str] = frozenset(),
) -> bool:
    """Migrate, check, and seed the demo data if asked. True if demo data was created now.
    `now`: the time of the demo data (the app's clock; the system clock by default).
    `trust_seeds`: agent ids (AIPOD_OPERATORS) made pre-trusted seeds of earned standing
    if they exist (docs/trust.md; an operator registering later is made one then)."""
    created: list[bool] = []
    seeded_at = Clock().now() if now is None else now

    def after_migrations(conn: Connection) -> None:
        check_postgres_text_search(conn)
        if with_demo:
            created.append(demo.seed(conn, signup_credit_cents=signup_credit_cents, now=seeded_at))
        trust_standing.mark_seeds(conn, trust_seeds)

    migrate.upgrade(engine, then=after_migrations)
    return any(created)


def demo_present(engine: Engine) -> bool:
    with transaction(engine, write=False) as conn:
        return demo.is_present(conn)
