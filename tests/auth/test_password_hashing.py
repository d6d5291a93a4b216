"""Password hashing runs outside every transaction and lock, in bounded slots (issue 11 item 3).

- In-process: argon2 is instrumented, and every call checks from the outside that no
  transaction is open on the database, that this request holds no transaction, no writer
  gate and that nobody holds the execution lock.
- A full set of hashing slots refuses the next login or registration at once (503 with
  Retry-After), and a refusal costs no login attempt.
- Against the real server: while every hashing slot is held by a (test-lengthened) hash
  and eight loops of failed logins run, other requests — reads and writes — are answered.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import pytest
import requests
from flask import g
from helpers import Api, LiveServer

from aipod_api.auth import service
from aipod_api.core.db import transaction, write_gate
from aipod_api.core.execlock import SerializedApp


def _database_busy(database_url: str) -> Callable[[], bool]:
    """A probe on a separate connection: is any transaction open on the database?"""
    if database_url.startswith("sqlite"):
        path = database_url.split("sqlite:///", 1)[1]

        def sqlite_busy() -> bool:
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")  # fails while another writer holds the lock
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                return True
            finally:
                probe.close()

        return sqlite_busy

    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")

    def pg_busy() -> bool:
        with psycopg.connect(url, autocommit=True) as probe:
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            ).fetchone()
            return bool(row and row[0])

    return pg_busy


class RecordingHasher:
    """Wraps argon2's PasswordHasher; records what was held at each hash or verify."""

    def __init__(self, real: Any, probe: Callable[[], dict[str, bool]]) -> None:
        self.real = real
        self.probe = probe
        self.calls: list[tuple[str, dict[str, bool]]] = []

    def hash(self, password: str) -> str:
        self.calls.append(("hash", self.probe()))
        return str(self.real.hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        self.calls.append(("verify", self.probe()))
        return bool(self.real.verify(password_hash, password))


def test_hashing_happens_with_nothing_held(
    make_app: Callable[..., Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No background transaction meanwhile: neither the sweep nor the webhook worker's poll
    # (which the probe would see on PostgreSQL, as it did under load).
    app = make_app(sweep_interval_s=3600, webhook_delivery=False)
    st = app.extensions["aipod"]
    exec_lock = app.wsgi_app.lock if isinstance(app.wsgi_app, SerializedApp) else None
    gate = write_gate(st.engine)
    db_busy = _database_busy(database_url)

    def probe() -> dict[str, bool]:
        return {
            "execution lock held": exec_lock is not None and exec_lock._lock.locked(),
            "request transaction open": g.get("_db_conn") is not None,
            "writer gate held": gate is not None and gate.locked(),
            "database transaction open": db_busy(),
        }

    # The probe can see what it looks for (else this test could not fail).
    with transaction(st.engine, write=True) as conn:
        conn.exec_driver_sql("SELECT 1")
        assert db_busy()
        assert gate is None or gate.locked()

    recorder = RecordingHasher(service._hasher, probe)
    monkeypatch.setattr(service, "_hasher", recorder)
    service._dummy_hash.cache_clear()  # made by the first verify: recorded below too
    api = Api(test_client=app.test_client())
    api.register("hasher", password="right-password")
    api.register("nopassword")
    answers = [
        api.post("/v1/auth/login", json={"username": "hasher", "password": "right-password"}),
        api.post("/v1/auth/login", json={"username": "hasher", "password": "wrong-password"}),
        api.post("/v1/auth/login", json={"username": "nobody", "password": "whatever1"}),
        api.post("/v1/auth/login", json={"username": "nopassword", "password": "whatever1"}),
    ]
    assert [a.status for a in answers] == [200, 401, 401, 401]
    kinds = [kind for kind, _ in recorder.calls]
    # the registration's hash, the unknown-user dummy's (first verify), four verifies
    assert kinds == ["hash", "hash", "verify", "verify", "verify", "verify"], kinds
    for kind, held in recorder.calls:
        assert not any(held.values()), (kind, held)


def test_full_hashing_slots_refuse_at_once(make_app: Callable[..., Any]) -> None:
    app = make_app(login_limit="2/minute", hash_concurrency=2, threads=8)
    api = Api(test_client=app.test_client())
    api.register("slotted", password="right-password")
    slots = app.extensions["aipod"].hash_slots
    assert slots.limit == 2
    held = [slots.slot() for _ in range(slots.limit)]
    for cm in held:
        cm.__enter__()
    try:
        for english in (False, True):
            r = api.post(
                "/v1/auth/login",
                json={"username": "slotted", "password": "wrong-password"},
                headers={"Accept-Language": "en"} if english else {},
            )
            assert r.status == 503 and r.code == 503 and r.data is None
            assert r.headers["Retry-After"] == "1"
            assert r.message == (
                "The server is busy checking other passwords (at most 2 at once); retry in 1 s"
                if english
                else "服务器正忙于其他密码校验(同时最多 2 个),请 1 秒后重试"
            )
        body = {"username": "later", "email": "later@example.com", "password": "later-password"}
        assert api.post("/v1/auth/register", json=body).status == 503
        # A registration without a password needs no hashing slot.
        api.register("no_hash_needed")
    finally:
        for cm in held:
            cm.__exit__(None, None, None)
    # The refused attempts cost nothing: the whole budget of 2 is still there.
    for _ in range(2):
        r = api.post("/v1/auth/login", json={"username": "slotted", "password": "wrong-password"})
        assert r.status == 401
    r = api.post("/v1/auth/login", json={"username": "slotted", "password": "right-password"})
    assert r.status == 429
    assert api.post("/v1/auth/register", json=body).status == 201


def test_hash_slots_leave_a_thread_free() -> None:
    from aipod_api.settings import Settings

    sqlite = Settings(database_url="sqlite:///x.db")
    assert sqlite.thread_count == 2 and sqlite.hash_slots == 1
    pg = Settings(database_url="postgresql://u@h/db")
    assert pg.thread_count == 16 and pg.hash_slots == 2
    assert Settings(database_url="sqlite:///x.db", threads=1).hash_slots == 1
    assert Settings(database_url="sqlite:///x.db", threads=8, hash_concurrency=20).hash_slots == 7


def _login(base: str, username: str, password: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{base}/v1/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=60,
    )


def test_a_hashing_flood_leaves_everyone_else_answered(
    start_server: Callable[..., LiveServer],
) -> None:
    # Default threads and hashing slots (SQLite: 2 threads, 1 slot; PostgreSQL: 16, 2).
    server = start_server(env={"AIPOD_TRUSTED_PROXIES": "1"})
    base, api = server.base_url, server.api
    api.register("victim", password="right-password")
    key = api.register("bystander")
    stop = threading.Event()
    loop_statuses: list[int] = []

    def slow_guess() -> int:
        # Holds a hashing slot for 8 s (the test hook lengthens the hash itself).
        return _login(base, "victim", "wrong-password", **{"X-Debug-Hash-Sleep": "8"}).status_code

    def guess_loop(i: int) -> None:
        session = requests.Session()
        while not stop.is_set():
            r = session.post(
                f"{base}/v1/auth/login",
                json={"username": "victim", "password": f"guess-{i}"},
                headers={"X-Forwarded-For": f"10.9.0.{i}"},
                timeout=60,
            )
            assert r.json()["code"] == r.status_code
            if r.status_code == 503:
                assert r.headers["Retry-After"] == "1"
            loop_statuses.append(r.status_code)

    with ThreadPoolExecutor(max_workers=16) as pool:
        # More slow hashes than there are slots: the first ones take every slot, the rest
        # are refused at once; one refusal proves the slots are all held by slow hashes.
        slow: list[Future[int]] = [pool.submit(slow_guess) for _ in range(4)]
        first = next(as_completed(slow, timeout=60))
        assert first.result() == 503
        loops = [pool.submit(guess_loop, i) for i in range(8)]
        try:
            headers = {"Authorization": f"Bearer {key}"}
            me = requests.get(f"{base}/v1/agents/me", headers=headers, timeout=60)
            assert me.status_code == 200
            put = requests.put(
                f"{base}/v1/agents/bystander",
                headers=headers,
                json={"nickname": "旁观者"},
                timeout=60,
            )
            assert put.status_code == 200
            reg = requests.post(
                f"{base}/v1/auth/register",
                json={"username": "newcomer", "email": "newcomer@example.com"},
                timeout=60,
            )
            assert reg.status_code == 201
            # ... all answered while the slow hashes still hold their slots.
            assert any(not f.done() for f in slow)
        finally:
            stop.set()
            for f in loops:
                f.result()
        results = [f.result() for f in slow]
    assert set(results) == {401, 503}, results
    assert loop_statuses and set(loop_statuses) <= {401, 503}, set(loop_statuses)
    assert 503 in loop_statuses
    assert "Traceback" not in server.log()
