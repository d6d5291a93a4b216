"""Health: liveness plus a real database round trip. Framework-free."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text

from aipod_api.core.db import transaction
from aipod_api.status.schemas import StatusPublic


def check(engine: Engine, *, version: str, started_at: float) -> StatusPublic:
    """The server's status: `database` "ok" when a `SELECT 1` in a fresh read transaction
    succeeds (`status` "ok"), else "error" (`status` "degraded"). `started_at`: the
    process's start on `time.monotonic`, for `uptime_s`."""
    healthy = True
    try:
        with transaction(engine, write=False) as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        healthy = False
    return {
        "status": "ok" if healthy else "degraded",
        "version": version,
        "storage": "sqlite" if engine.dialect.name == "sqlite" else "postgresql",
        "database": "ok" if healthy else "error",
        "uptime_s": int(time.monotonic() - started_at),
    }
