"""`python -m aipod_api.server` as a person starts it: the banner, quiet logs, `--help`,
and the refusals of `--reset-demo` (its happy path: tests/test_readme_examples.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import BACKEND, DEMO_KEY, LiveServer, stop_server

from aipod_api import server

NOISE = (
    "Context impl",
    "Will assume transactional DDL",
    "Websockets are not supported",
    "Spawning worker",
    "[INFO]",
)


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AIPOD_LOG_LEVEL": "INFO", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aipod_api.server", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _expected_storage(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return f"SQLite {Path(database_url.removeprefix('sqlite:///')).resolve()}"
    rest = database_url.split("://", 1)[1]
    return f"PostgreSQL {rest}"


def test_banner_says_what_the_server_did(
    start_server: Callable[..., LiveServer], database_url: str
) -> None:
    live = start_server(demo=True, env={"AIPOD_LOG_LEVEL": "INFO"})
    assert live.api.get("/v1/agents", key=DEMO_KEY).status == 200  # the worker is serving
    stop_server(live)
    log = live.log()
    lines = log.splitlines()
    # (granian's own warnings, if any, may come first)
    assert f"aipod_api 1.0.0 listening on {live.base_url}" in lines, log
    assert f"  docs:     {live.base_url}/docs" in lines
    assert f"  storage:  {_expected_storage(database_url)}" in lines
    assert f"  demo:     on, key {DEMO_KEY}; demo data created now" in lines
    threads = "1 thread for reads + 2" if BACKEND == "sqlite" else "16 threads for reads + 16"
    limits = "in this process (no Redis)" if BACKEND == "sqlite" else "Redis 127.0.0.1:6379/"
    serving = next(line for line in lines if line.startswith("  serving:"))
    assert serving.startswith(
        f"  serving:  1 worker x {threads} for requests with a body; limits counted {limits}"
    ), serving
    reset = (
        "  reset:    stop, then `python -m aipod_api.server --reset-demo` restores the demo data"
    )
    assert (reset in lines) == (BACKEND == "sqlite")
    assert "  stop:     Ctrl-C" in lines
    assert lines[-1] == "aipod_api stopped", log
    for noise in NOISE:
        assert noise not in log, (noise, log)

    # The second start finds the demo data there; with the demo off the banner says so.
    again = start_server(demo=True, env={"AIPOD_LOG_LEVEL": "INFO"})
    stop_server(again)
    assert f"  demo:     on, key {DEMO_KEY}; demo data kept from an earlier start" in again.log()
    off = start_server(demo=False, env={"AIPOD_LOG_LEVEL": "INFO"})
    stop_server(off)
    assert "  demo:     off (register to get a key: POST /v1/auth/register)" in off.log()
    assert "--reset-demo" not in off.log()


def test_banner_on_postgresql_never_shows_the_password(
    start_server: Callable[..., LiveServer], database_url: str
) -> None:
    if BACKEND != "postgresql":
        pytest.skip("PostgreSQL backend only (AIPOD_TEST_BACKEND=postgresql)")
    # Trust authentication ignores the password; the banner must not print it anyway.
    user_host, name = database_url.split("://", 1)[1].rsplit("/", 1)
    user, host = user_host.split("@", 1)
    secret = "Sup3rSecretPw"
    url = f"postgresql+psycopg://{user}:{secret}@{host}/{name}"
    live = start_server(demo=True, db_url=url, env={"AIPOD_LOG_LEVEL": "INFO"})
    stop_server(live)
    assert f"  storage:  PostgreSQL {user}@{host}/{name}" in live.log().splitlines()
    assert secret not in live.log()


def test_storage_line_hides_passwords() -> None:
    assert server._storage("postgresql://bob:pw1@db.example:6543/prod") == (
        "PostgreSQL bob@db.example:6543/prod"
    )
    shown = server._storage("postgres://db.example/prod?password=pw2&sslmode=require")
    assert shown == "PostgreSQL db.example/prod"
    assert server._redis("redis://:pw3@cache:6380/2") == "Redis cache:6380/2"


def test_help_names_the_command_used() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aipod_api.server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m aipod_api.server ")
    assert "--reset-demo" in done.stdout
    script = Path(sys.executable).with_name("aipod-api")
    if not script.exists():
        pytest.skip("the aipod-api console script is not installed in this environment")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: aipod-api ")


def test_reset_demo_refuses_postgresql(database_url: str, tmp_path: Path) -> None:
    if BACKEND != "postgresql":
        pytest.skip("PostgreSQL backend only (AIPOD_TEST_BACKEND=postgresql)")
    done = _cli("--database-url", database_url, "--migrate-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _cli("--database-url", database_url, "--reset-demo", "--migrate-only", cwd=tmp_path)
    assert done.returncode == 2
    assert "works only on the embedded SQLite database" in done.stderr
    assert "postgresql" in done.stderr


def test_reset_demo_refuses_a_file_that_is_not_ours(tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    plain = tmp_path / "plain.db"
    plain.write_text("not a database at all")
    for path in (other, plain):
        before = path.read_bytes()
        done = _cli(
            "--database-url", f"sqlite:///{path}", "--reset-demo", "--migrate-only", cwd=tmp_path
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "is not" in done.stderr and "aipod_api database" in done.stderr
        assert path.read_bytes() == before


def test_reset_demo_refuses_with_the_demo_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    done = _cli("--database-url", url, "--reset-demo", "--no-demo", "--migrate-only", cwd=tmp_path)
    assert done.returncode == 2
    assert "demo off" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_reset_demo_refuses_while_a_server_has_the_file_open(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    db = tmp_path / "busy.db"
    url = f"sqlite:///{db}"
    live = start_server(demo=True, db_url=url)
    key = live.api.register("survivor")
    done = _cli("--database-url", url, "--reset-demo", "--migrate-only", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "in use by another process" in done.stderr
    # Nothing was touched: the running server still serves the agent registered before.
    assert live.api.get("/v1/agents/me", key=key).data["agent_id"] == "survivor"
    assert not (tmp_path / "busy.db.reset-tmp").exists()
