"""Test helpers shared by every test module (import as `from helpers import ...`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def create_database(tmp_dir: Path) -> str:
    """A brand-new empty database URL for the selected backend."""
    if BACKEND == "sqlite":
        return f"sqlite:///{tmp_dir / 'aipod.db'}"
    import uuid

    import psycopg

    name = "aipod_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"


def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
