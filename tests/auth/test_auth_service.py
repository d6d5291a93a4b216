"""The auth rules without Flask: `auth.service.login`, `register` and `revoke_key` called
with a `Tx`, a clock, a limiter and a hashing slot get the HTTP routes' behaviour —
throttled the same, hashing with no transaction open, evictions after the commit only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from aipod_api.auth import service
from aipod_api.bootstrap import prepare_database
from aipod_api.core.clock import Clock
from aipod_api.core.db import Tx, after_commit, make_engine, transaction
from aipod_api.core.errors import TooManyRequests
from aipod_api.core.ratelimit import MemoryWindow
from aipod_api.core.tables import api_keys

NOW = 1_900_000_000


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    prepare_database(eng, with_demo=False, signup_credit_cents=0)
    try:
        yield eng
    finally:
        eng.dispose()


def _limiter(per_client: str = "3/minute", per_username: str = "5/hour") -> service.LoginLimiter:
    return service.LoginLimiter(
        per_client=MemoryWindow(per_client), per_username=MemoryWindow(per_username)
    )


class Slot:
    """A hashing slot that records whether the caller's Tx was open while it was held."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.entered = 0
        self.tx_open_inside: list[bool] = []

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.entered += 1
        self.tx_open_inside.append(self.tx.is_open)
        yield


def _register(engine: Engine, username: str, password: str | None = "right-password") -> None:
    with Tx(engine, write=True) as tx:
        slot = Slot(tx)
        data = service.register(
            tx,
            username=username,
            email=f"{username}@example.com",
            password=password,
            capabilities=[],
            nickname=None,
            signup_credit_cents=0,
            clock=Clock(lambda: NOW),
            slot=slot(),
        )
        assert data["node_id"] == username
        # the hash ran with the transaction not yet opened
        assert slot.tx_open_inside == ([False] if password else [])


def _login(
    engine: Engine,
    limiter: service.LoginLimiter,
    password: str,
    *,
    username: str = "owner",
    client: str = "203.0.113.7",
    max_keys: int = 10,
    evicted: list[str] | None = None,
    slot: Any = None,
) -> dict[str, Any]:
    with Tx(engine, write=True) as tx:
        recorder = Slot(tx)
        data = service.login(
            tx,
            username=username,
            password=password,
            client=client,
            limiter=limiter,
            slot=slot if slot is not None else recorder(),
            clock=Clock(lambda: NOW),
            max_keys=max_keys,
            evict=(evicted if evicted is not None else []).append,
        )
        assert recorder.tx_open_inside in ([], [False])
        return dict(data)


def _throttled(exc: pytest.ExceptionInfo[TooManyRequests]) -> None:
    assert exc.value.key == "login_throttled" and exc.value.status == 429
    retry_after = int(exc.value.headers["Retry-After"])
    assert retry_after >= 1 and exc.value.code_name == "login_throttled"
    # rendered in the caller's language when the answer is written, as over HTTP
    assert exc.value.render(True)[0] == f"Too many failed logins; retry in {retry_after} s"
    assert exc.value.render(False)[0].startswith("登录失败次数过多")


def test_login_is_throttled_per_client_under_a_username_ceiling(engine: Engine) -> None:
    _register(engine, "owner")
    limiter = _limiter(per_client="3/minute", per_username="5/hour")
    for i in range(3):
        with pytest.raises(service.BadCredentials):
            _login(engine, limiter, f"wrong-{i}")
    with pytest.raises(TooManyRequests) as exc:
        _login(engine, limiter, "wrong-3")
    _throttled(exc)
    # the right password from the throttled address is refused too ...
    with pytest.raises(TooManyRequests):
        _login(engine, limiter, "right-password")
    # ... but not from another address; any case of the username is the same user
    data = _login(engine, limiter, "right-password", username="OWNER", client="198.51.100.2")
    assert data["node_id"] == "owner" and data["api_key"].startswith(service.KEY_PREFIX)
    assert data["revoked_key_ids"] == []
    # the username's ceiling (5) counts every checked attempt from every address:
    # 3 wrong + 1 right so far (refused attempts are not counted)
    with pytest.raises(service.BadCredentials):
        _login(engine, limiter, "wrong-4", client="192.0.2.1")
    with pytest.raises(TooManyRequests) as exc:
        _login(engine, limiter, "right-password", client="192.0.2.2")
    _throttled(exc)
    # another username has its own budgets
    _register(engine, "bystander")
    assert _login(engine, limiter, "right-password", username="bystander")["node_id"] == (
        "bystander"
    )


def test_a_full_hashing_slot_refuses_at_once_and_costs_no_attempt(engine: Engine) -> None:
    _register(engine, "owner")
    limiter = _limiter(per_client="2/minute")
    slots = service.HashSlots(1)
    with slots.slot():  # every slot taken
        for _ in range(3):
            with pytest.raises(service.HashingBusy) as busy:
                _login(engine, limiter, "wrong", slot=slots.slot())
            assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "1"
    assert limiter.per_client.test("owner|203.0.113.7").remaining == 2
    for _ in range(2):
        with pytest.raises(service.BadCredentials):
            _login(engine, limiter, "wrong", slot=slots.slot())
    with pytest.raises(TooManyRequests):
        _login(engine, limiter, "right-password", slot=slots.slot())


def test_an_exhausted_budget_takes_no_hashing_slot(engine: Engine) -> None:
    _register(engine, "owner")
    limiter = _limiter(per_client="1/minute")
    with pytest.raises(service.BadCredentials):
        _login(engine, limiter, "wrong")
    with Tx(engine, write=True) as tx:
        slot = Slot(tx)
        with pytest.raises(TooManyRequests):
            service.login(
                tx,
                username="owner",
                password="right-password",
                client="203.0.113.7",
                limiter=limiter,
                slot=slot(),
                clock=Clock(lambda: NOW),
                max_keys=10,
                evict=[].append,
            )
        assert slot.entered == 0 and not tx.is_open


def test_demo_owner_with_demo_off_may_not_log_in(engine: Engine) -> None:
    _register(engine, "demo")
    with Tx(engine, write=True) as tx, pytest.raises(service.DemoDisabled):
        service.login(
            tx,
            username="Demo",
            password="right-password",
            client="203.0.113.7",
            limiter=_limiter(),
            slot=contextlib.nullcontext(),
            clock=Clock(lambda: NOW),
            max_keys=10,
            evict=[].append,
            disabled_owner="demo",
        )


def _key_hash(engine: Engine, key_id: str) -> str:
    seq = int(key_id.removeprefix("key_"))
    with transaction(engine, write=False) as conn:
        return str(conn.execute(select(api_keys.c.key_hash).where(api_keys.c.seq == seq)).scalar())


def test_recycled_login_keys_are_evicted_after_the_commit_only(engine: Engine) -> None:
    _register(engine, "owner")  # the signup key: 1 live key
    limiter = _limiter(per_client="100/minute", per_username="100/hour")
    evicted: list[str] = []
    first = _login(engine, limiter, "right-password", max_keys=2, evicted=evicted)
    assert evicted == []
    # At the cap a login recycles the oldest login-issued key; rolled back: no eviction.
    with Tx(engine, write=True) as tx:
        data = service.login(
            tx,
            username="owner",
            password="right-password",
            client="203.0.113.7",
            limiter=limiter,
            slot=contextlib.nullcontext(),
            clock=Clock(lambda: NOW),
            max_keys=2,
            evict=evicted.append,
        )
        assert data["revoked_key_ids"] == [first["key_id"]]
        assert evicted == []  # not before the commit
        tx.rollback()
    assert evicted == []
    second = _login(engine, limiter, "right-password", max_keys=2, evicted=evicted)
    assert second["revoked_key_ids"] == [first["key_id"]]
    assert evicted == [_key_hash(engine, first["key_id"])]


def test_revoke_key_evicts_after_the_commit(engine: Engine) -> None:
    _register(engine, "owner")
    evicted: list[str] = []
    with transaction(engine, write=True) as conn:
        key = service.create_key(conn, agent_id="owner", label="x", now=NOW, max_keys=10)
    with pytest.raises(RuntimeError, match="abort"), transaction(engine, write=True) as conn:
        service.revoke_key(
            conn, agent_id="owner", key_id=key["key_id"], now=NOW, evict=evicted.append
        )
        raise RuntimeError("abort")
    assert evicted == []
    with transaction(engine, write=True) as conn:
        data = service.revoke_key(
            conn, agent_id="owner", key_id=key["key_id"], now=NOW, evict=evicted.append
        )
        assert data == {"id": key["key_id"], "deleted": True} and evicted == []
    assert evicted == [_key_hash(engine, key["key_id"])]
    with transaction(engine, write=False) as conn:
        live = conn.execute(
            select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        ).scalar_one()
    assert live == 1


def test_after_commit_needs_a_tx_connection(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(RuntimeError, match="not serving a Tx"):
        after_commit(conn, lambda: None)
    # a Tx's connection is unbound once the Tx has ended (pooled connections are reused)
    with transaction(engine, write=False) as conn:
        after_commit(conn, lambda: None)
    with engine.connect() as conn, pytest.raises(RuntimeError):
        after_commit(conn, lambda: None)
