"""A PostgreSQL database with LC_CTYPE 'C' makes pg_trgm blind to Chinese: refused."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

PG_ADMIN_URL = os.environ.get("AIPOD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

pytestmark = pytest.mark.skipif(
    os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower() != "postgresql",
    reason="PostgreSQL-only check: run with AIPOD_TEST_BACKEND=postgresql",
)


def test_c_ctype_database_is_refused(tmp_path: object) -> None:
    psycopg = pytest.importorskip("psycopg")
    name = "aipod_ctype_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
        url = f"postgresql+psycopg://{base}/{name}"
        with psycopg.connect(f"postgresql://{base}/{name}") as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.commit()
            # the trap itself: no trigrams from Chinese under ctype C
            assert conn.execute("SELECT show_trgm('比亚迪')").fetchone()[0] == []
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "aipod_api.server",
                "--database-url",
                url,
                "--no-demo",
                "--port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0
        assert "LC_CTYPE" in proc.stderr and "C.UTF-8" in proc.stderr
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
