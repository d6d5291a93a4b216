"""Shared fixtures.

- `database_url`: a brand-new database for each test — a temporary SQLite file, or,
  with `AIPOD_TEST_BACKEND=postgresql`, a new PostgreSQL database (dropped afterwards) —
  already at the newest schema: a copy of a template this test process migrated once
  (tests/helpers.py). `@pytest.mark.empty_database` gives a test one with no schema at
  all instead (the migration tests, the first-run path).
- `redis_url`: with `AIPOD_TEST_BACKEND=postgresql`, a Redis logical database flushed
  for the test; `None` on the SQLite backend.
- `make_app` / `client`: the Flask app in-process (fast; most tests).
- `start_server` / `live`: the real server process (`python -m aipod_api.server`) on a
  free port, for end-to-end, concurrency and limit tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import (
    FAST_LIMITS,
    Api,
    LiveServer,
    close_databases,
    create_database,
    drop_database,
    free_port,
    stop_server,
)
from hypothesis import settings as hypothesis_settings

BACKEND = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower()

# No timed assertions in tests/, Hypothesis's included: its default 200 ms deadline per
# example fails a property on a busy machine (the suite runs several test processes on
# shared cores), not for a wrong answer. Each test's own settings still apply on top.
hypothesis_settings.register_profile("aipod", deadline=None)
hypothesis_settings.load_profile("aipod")
PG_ADMIN_URL = os.environ.get("AIPOD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AIPOD_TEST_REDIS_URL", "redis://127.0.0.1:6379")


# --- databases -------------------------------------------------------------------------


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


def _redis_available() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
        return None
    except Exception as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if BACKEND != "sqlite":
        reason = _pg_available()
        if reason:
            pytest.skip(reason)
    empty = request.node.get_closest_marker("empty_database") is not None
    url = create_database(tmp_path, empty=empty)
    try:
        yield url
    finally:
        drop_database(url)


REDIS_DATABASES = 16  # Redis's default `databases`


def redis_db() -> int:
    """This test process's Redis logical database: AIPOD_TEST_REDIS_DB (default 1) plus
    the xdist worker's number (gw0 -> +0, gw1 -> +1, ...). The servers' keys (rate limits,
    the key cache's generation) are not per test database, and every test flushes its
    Redis database, so two processes never share one; tests run serially within one."""
    base = int(os.environ.get("AIPOD_TEST_REDIS_DB", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db = base + int(worker.removeprefix("gw"))
    if not 0 <= db < REDIS_DATABASES:
        raise pytest.UsageError(
            f"Redis database {db} (AIPOD_TEST_REDIS_DB={base} + xdist worker {worker}) does "
            f"not exist: Redis has {REDIS_DATABASES}; lower AIPOD_TEST_REDIS_DB or -n"
        )
    return db


@pytest.fixture
def redis_url() -> Iterator[str | None]:
    if BACKEND == "sqlite":
        yield None
        return
    reason = _redis_available()
    if reason:
        pytest.skip(reason)
    import redis

    url = f"{REDIS_URL}/{redis_db()}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND != "sqlite":
        redis_db()  # a missing database stops the run at once, not test by test


# Modules whose tests share one expensive session fixture (the browser test's Chromium):
# with `--dist loadgroup` (scripts/test.sh) they all run on one xdist worker.
SAME_WORKER = {"web/test_browser.py": "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        group = SAME_WORKER.get(item.path.relative_to(root).as_posix())
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The PostgreSQL databases are dropped in the background (helpers.create_database):
    # wait for the last drops, and fail the run if one did not happen.
    failed = close_databases()
    if failed:
        print("\n".join(["test databases left behind:", *failed]), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- HTTP clients ----------------------------------------------------------------------


# --- in-process app ----------------------------------------------------------------------


@pytest.fixture
def make_app(database_url: str, redis_url: str | None) -> Callable[..., Any]:
    from aipod_api.app import create_app
    from aipod_api.settings import Settings

    created: list[Any] = []

    def factory(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "demo": False,
            "testing": True,
            "rate_limit": FAST_LIMITS["AIPOD_RATE_LIMIT"],
            "register_limit": FAST_LIMITS["AIPOD_REGISTER_LIMIT"],
            "login_limit": FAST_LIMITS["AIPOD_LOGIN_LIMIT"],
            "login_user_limit": FAST_LIMITS["AIPOD_LOGIN_USER_LIMIT"],
            "max_concurrency": 1000,
        }
        values.update(overrides)
        app = create_app(Settings(**values))
        created.append(app)
        return app

    yield factory  # type: ignore[misc]
    for app in created:
        state = app.extensions["aipod"]
        state.sweeper.stop()
        if state.webhook_worker is not None:
            state.webhook_worker.stop()
        state.engine.dispose()


@pytest.fixture
def api(make_app: Callable[..., Any]) -> Api:
    """In-process client on an empty database (no demo data)."""
    return Api(test_client=make_app().test_client())


@pytest.fixture
def demo_api(make_app: Callable[..., Any]) -> Api:
    """In-process client on a database with the demo data."""
    return Api(test_client=make_app(demo=True).test_client())


# --- real server process ---------------------------------------------------------------------


@pytest.fixture
def start_server(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def start(
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        demo: bool = False,
        fast_limits: bool = True,
        port: int | None = None,
        db_url: str | None = None,
    ) -> LiveServer:
        port = port or free_port()
        full_env = dict(os.environ)
        full_env.update(
            {
                "AIPOD_DATABASE_URL": db_url or database_url,
                "AIPOD_PORT": str(port),
                "AIPOD_HOST": "127.0.0.1",
                "AIPOD_DEMO": "1" if demo else "0",
                "AIPOD_TESTING": "1",
                "AIPOD_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if redis_url:
            full_env["AIPOD_REDIS_URL"] = redis_url
        if fast_limits:
            full_env.update(FAST_LIMITS)
        full_env.update(env or {})
        log_path = tmp_path / f"server-{port}.log"
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "aipod_api.server", *(args or [])],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
            try:
                if requests.get(f"{base}/v1/status", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        server = LiveServer(base, proc, log_path, Api(base_url=base))
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_server(server)


@pytest.fixture
def live(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A real server process with demo data on a fresh database."""
    return start_server(demo=True)
