"""Test helpers shared by every test module (import as `from helpers import ...`)."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

DEMO_KEY = "fg_live_demo_xxxxxxxxxxxx"
FAST_LIMITS = {
    "AIPOD_RATE_LIMIT": "1000000/minute",
    "AIPOD_REGISTER_LIMIT": "1000000/day",
    "AIPOD_LOGIN_LIMIT": "1000000/minute",
    "AIPOD_LOGIN_USER_LIMIT": "1000000/minute",
    "AIPOD_MAX_CONCURRENCY": "1000",
}


# Ports for the servers a test starts: below the kernel's ephemeral range (32768-60999 on
# Linux), so no outgoing connection's source port lands on one between the pick and the
# server's bind; each handed out at most once per SPAN picks in a process, and reserved
# machine-wide (an abstract Unix socket named after the port, held for the next
# _RESERVED_KEEP picks) so that concurrent test processes (xdist workers, the two
# passes of scripts/test.sh, other runs) never pick the same port at once.
_PORT_LOW, _PORT_SPAN = 20000, 12000
_RESERVED_KEEP = 64
_reserved: deque[socket.socket] = deque()
_next_port: int | None = None


def _reserve(port: int) -> socket.socket | None:
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(f"\0aipod_tests.port.{port}")
    except OSError:
        claim.close()
        return None
    with socket.socket() as probe:  # nothing listens there now (as the server checks)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            claim.close()
            return None
    return claim


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on and no other test process holds."""
    global _next_port
    if not sys.platform.startswith("linux"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    if _next_port is None:
        _next_port = random.randrange(_PORT_SPAN)
    for _ in range(_PORT_SPAN):
        port = _PORT_LOW + _next_port
        _next_port = (_next_port + 1) % _PORT_SPAN
        claim = _reserve(port)
        if claim is not None:
            _reserved.append(claim)
            while len(_reserved) > _RESERVED_KEEP:
                _reserved.popleft().close()
            return port
    raise RuntimeError(f"no free port in {_PORT_LOW}-{_PORT_LOW + _PORT_SPAN - 1}")


@dataclass
class Resp:
    status: int
    body: Any
    headers: Any = field(default_factory=dict)

    @property
    def code(self) -> int:
        return int(self.body["code"])

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def message(self) -> str:
        return str(self.body["message"])


class Api:
    """A tiny client over either a Flask test client or a real server URL."""

    def __init__(self, *, test_client: Any = None, base_url: str | None = None) -> None:
        self.test_client = test_client
        self.base_url = base_url
        self.session = requests.Session() if base_url else None

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Resp:
        hdrs = dict(headers or {})
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        if self.test_client is not None:
            r = self.test_client.open(
                path, method=method, json=json, data=data, query_string=params, headers=hdrs
            )
            body = r.get_json(silent=True)
            return Resp(r.status_code, body, CaseInsensitiveDict(r.headers))
        assert self.session is not None
        r = self.session.request(
            method,
            f"{self.base_url}{path}",
            json=json,
            data=data,
            params=params,
            headers=hdrs,
            timeout=60,
        )
        try:
            body = r.json()
        except ValueError:
            body = None
        return Resp(r.status_code, body, CaseInsensitiveDict(r.headers))

    def get(self, path: str, **kw: Any) -> Resp:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Resp:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Resp:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Resp:
        return self.request("DELETE", path, **kw)

    def register(self, username: str, **extra: Any) -> str:
        """Register an agent and return its API key."""
        body = {"username": username, "email": f"{username}@example.com", **extra}
        r = self.post("/v1/auth/register", json=body)
        assert r.status == 201, r.body
        return str(r.data["api_key"])


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    api: Api

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop_server(server: LiveServer, *, sig: int | None = None) -> None:
    if server.process.poll() is not None:
        return
    try:
        os.killpg(server.process.pid, sig or signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=15)


def invariants(database_url: str) -> list[str]:
    """CONTRACT §5 checks straight against the database."""
    from aipod_api.core.db import make_null_pool_engine, transaction
    from aipod_api.wallet.service import check_invariants

    engine = make_null_pool_engine(database_url)
    try:
        from aipod_api.core import counters

        with transaction(engine, write=False) as conn:
            return check_invariants(conn) + counters.check(conn)
    finally:
        engine.dispose()


# --- fresh databases ---------------------------------------------------------------------

BACKEND = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower()
PG_ADMIN_URL = os.environ.get("AIPOD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

# Every test gets a database of its own, made for it. Most start from a copy of this test
# process's *template*: a database migrated to the newest schema once (Alembic, as the
# app does at start-up) and never connected to again. Running twelve migrations for each
# of the suite's ~900 databases cost more CPU than most of the tests themselves; a copy
# is a file copy on SQLite and a `CREATE DATABASE ... TEMPLATE` on PostgreSQL. The app
# still runs its start-up migration on the copy, which finds it at the newest revision.
# A test marked `@pytest.mark.empty_database` (tests/conftest.py) gets a database with
# no schema at all instead: the migration tests and the first-run path.


def _migrate(url: str) -> None:
    from aipod_api.core import migrate
    from aipod_api.core.db import make_null_pool_engine

    engine = make_null_pool_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


class _SqliteTemplate:
    """This test process's migrated SQLite template file, made on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: Path | None = None

    def path(self) -> Path:
        with self._lock:
            if self._dir is None:
                made = Path(tempfile.mkdtemp(prefix="aipod-template-"))
                _migrate(f"sqlite:///{made / 'template.db'}")
                # The last connection's close checkpointed the WAL into the file and
                # removed it: the one file is the whole database.
                leftovers = [p.name for p in made.iterdir() if p.name != "template.db"]
                if leftovers:
                    raise RuntimeError(f"the SQLite template is not one file: {leftovers}")
                self._dir = made
            return self._dir / "template.db"

    def close(self) -> None:
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


def _pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"


def _pg_create(template: str | None = None, *, prefix: str = "aipod_t_") -> str:
    """A new database: a copy of `template`, or (None) an empty one made from template0
    with the encoding and ctype the app requires (a copy inherits its template's)."""
    import uuid

    import psycopg

    name = prefix + uuid.uuid4().hex[:12]
    if template is None:
        source = "template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
    else:
        source = f'"{template}"'
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {source}')
    return name


def _pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _PgDatabases:
    """PostgreSQL databases made ahead of the tests and dropped behind them, by two
    background threads per test process.

    The creating thread first makes the template, an empty database migrated to the
    newest schema, then keeps `READY` copies of it waiting for the next tests (a copy takes
    a tenth of a second or more). Each DROP DATABASE waits for a checkpoint, a second or
    more: one after the other, the drops could not keep up with the tests, and every
    checkpoint costs the server CPU. The dropping thread drops what the tests gave back
    in batches of up to `DROP_BATCH`, all at once (one connection each), which share
    their checkpoints. Each test still gets a brand-new, never-used database and every
    one is dropped, but neither wait is spent inside a test. Before the process ends,
    `close()` drops what is left, the template last, and reports a drop that failed."""

    READY = 2
    DROP_BATCH = 6

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ready: list[str] = []
        self._drops: list[str] = []
        self._template: str | None = None
        self._create_error: BaseException | None = None
        self._drop_errors: list[str] = []
        self._closing = False
        self._creating = False  # the creating thread runs
        self._threads: list[threading.Thread] = []

    def take(self) -> str:
        with self._cond:
            if self._closing:
                raise RuntimeError("the test databases are closed")
            if not self._threads:
                self._creating = True
                for target, role in ((self._create_loop, "create"), (self._drop_loop, "drop")):
                    thread = threading.Thread(
                        target=target, name=f"aipod-test-databases-{role}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
            while not self._ready and self._create_error is None:
                self._cond.wait()
            if self._ready:
                name = self._ready.pop(0)
                self._cond.notify_all()
                return name
            error, self._create_error = self._create_error, None
            self._cond.notify_all()
            raise RuntimeError(f"cannot create a test database: {error}") from error

    def give_back(self, name: str) -> None:
        with self._cond:
            self._drops.append(name)
            self._cond.notify_all()

    def _copy(self) -> str:
        if self._template is None:  # only the creating thread sets it
            template = _pg_create(prefix="aipod_tmpl_")
            try:
                _migrate(_pg_url(template))
            except BaseException:
                _pg_drop(template)
                raise
            self._template = template
        return _pg_create(self._template)

    def _create_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._closing and (
                        len(self._ready) >= self.READY or self._create_error is not None
                    ):
                        self._cond.wait()
                    if self._closing:
                        return
                try:
                    made = self._copy()
                except Exception as exc:
                    with self._cond:
                        self._create_error = exc  # raised by the next take()
                        self._cond.notify_all()
                    continue
                with self._cond:
                    (self._drops if self._closing else self._ready).append(made)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._creating = False
                self._cond.notify_all()

    def _drop_all(self, names: list[str]) -> None:
        def drop(name: str) -> None:
            try:
                _pg_drop(name)
            except Exception as exc:
                with self._cond:
                    self._drop_errors.append(f"DROP DATABASE {name}: {exc}")

        threads = [threading.Thread(target=drop, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _drop_loop(self) -> None:
        while True:
            with self._cond:
                while not self._drops and not (self._closing and not self._creating):
                    self._cond.wait()
                batch = self._drops[: self.DROP_BATCH]
                del self._drops[: len(batch)]
            if not batch:  # closing, and nothing more will be made
                break
            self._drop_all(batch)
        if self._template is not None:  # no copy is being made of it any more
            self._drop_all([self._template])
            self._template = None

    def close(self) -> list[str]:
        """Drop every database made and not dropped yet; the drops that failed."""
        with self._cond:
            self._closing = True
            self._drops.extend(self._ready)
            self._ready.clear()
            self._cond.notify_all()
            threads = list(self._threads)
            leftover: list[str] = []
            if not threads:  # given back with no thread running (empty ones only)
                leftover, self._drops = self._drops, []
        for thread in threads:
            thread.join()
        for start in range(0, len(leftover), self.DROP_BATCH):
            self._drop_all(leftover[start : start + self.DROP_BATCH])
        return self._drop_errors


_sqlite_template = _SqliteTemplate()
_pg_databases = _PgDatabases()
atexit.register(_sqlite_template.close)
atexit.register(_pg_databases.close)  # outside pytest too


def close_databases() -> list[str]:
    """At the end of a test process: drop the PostgreSQL databases left (and the
    templates); the drops that failed."""
    _sqlite_template.close()
    return _pg_databases.close()


def create_database(tmp_dir: Path, *, empty: bool = False) -> str:
    """A brand-new database URL for the selected backend: a copy of the migrated template
    (the newest schema, no rows), or with `empty` one with no schema at all. On SQLite,
    the file `aipod.db` in `tmp_dir`, which must not exist yet."""
    if BACKEND == "sqlite":
        path = tmp_dir / "aipod.db"
        if path.exists():
            raise FileExistsError(f"{path} exists: one database per directory")
        if not empty:
            shutil.copyfile(_sqlite_template.path(), path)
        return f"sqlite:///{path}"
    if empty:  # made here, not ahead (rare); dropped in the background like the others
        return _pg_url(_pg_create())
    return _pg_url(_pg_databases.take())


def drop_database(url: str) -> None:
    """Drop a database from `create_database` (on PostgreSQL, in the background)."""
    if not url.startswith("postgresql"):
        return
    _pg_databases.give_back(url.rsplit("/", 1)[1])
