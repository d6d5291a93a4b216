"""Prepare a database for serving: migrations, then first-run demo data."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from aipod_api.core import demo, migrate


def prepare_database(engine: Engine, *, with_demo: bool, signup_credit_cents: int) -> None:
    def seed(conn: Connection) -> None:
        demo.seed(conn, signup_credit_cents=signup_credit_cents)

    migrate.upgrade(engine, then=seed if with_demo else None)
