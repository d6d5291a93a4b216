"""A key's `last_used_at`: the first use written by the request, later refreshes by the
background sweep (http/guard.py `_touch_key`), never by a read request while it runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from helpers import Api

from aipod_api.auth import service as auth_service
from aipod_api.http import guard


def _last_used(api: Api, key: str) -> str | None:
    items = api.get("/v1/auth/keys", key=key).data["items"]
    assert len(items) == 1
    return items[0]["last_used_at"]  # type: ignore[no-any-return]


def _writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which path writes a key's use: the request (touch_key) or the sweep."""
    calls: list[str] = []
    one, many = auth_service.touch_key, auth_service.touch_keys

    def touch_key(conn: Any, **kw: Any) -> None:
        calls.append("request")
        one(conn, **kw)

    def touch_keys(conn: Any, uses: Any) -> None:
        calls.append("sweep")
        many(conn, uses)

    monkeypatch.setattr(auth_service, "touch_key", touch_key)
    monkeypatch.setattr(auth_service, "touch_keys", touch_keys)
    return calls


def _later(app: Any, seconds: int) -> None:
    app.extensions["aipod"].clock.advance(seconds)


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_first_use_is_written_by_the_request(
    make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(test_client=make_app().test_client())
    key = api.register("first_use")
    calls = _writes(monkeypatch)
    assert api.get("/v1/agents/me", key=key).status == 200
    assert calls == ["request"]  # at once: reissue_key must see a used key as used
    assert _last_used(api, key) is not None


def test_later_refresh_is_written_by_the_sweep(
    make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    api = Api(test_client=app.test_client())
    key = api.register("refreshed")
    assert api.get("/v1/agents/me", key=key).status == 200  # first use; starts the sweep
    first = _last_used(api, key)
    sweeper = app.extensions["aipod"].sweeper
    assert sweeper.running
    calls = _writes(monkeypatch)
    _later(app, guard.TOUCH_EVERY_S + 5)
    assert api.get("/v1/wallet", key=key).status == 200
    assert "request" not in calls  # the read did not write
    assert _wait_for(lambda: _last_used(api, key) != first)
    assert calls == ["sweep"]
    # recorded once: the next requests within the minute write nothing more
    for _ in range(3):
        assert api.get("/v1/wallet", key=key).status == 200
    time.sleep(1.5)  # more than a tick
    assert calls == ["sweep"]


def test_refresh_without_the_sweep_is_written_by_the_request(
    make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    api = Api(test_client=app.test_client())
    key = api.register("no_sweep")
    assert api.get("/v1/agents/me", key=key).status == 200
    first = _last_used(api, key)
    app.extensions["aipod"].sweeper.stop()
    calls = _writes(monkeypatch)
    _later(app, guard.TOUCH_EVERY_S + 5)
    assert api.get("/v1/wallet", key=key).status == 200
    assert calls == ["request"]
    assert _last_used(api, key) != first


def test_stopping_the_sweep_writes_what_is_pending(make_app: Callable[..., Any]) -> None:
    app = make_app()
    api = Api(test_client=app.test_client())
    key = api.register("pending")
    assert api.get("/v1/agents/me", key=key).status == 200
    first = _last_used(api, key)
    st = app.extensions["aipod"]
    principal = st.key_cache.lookup(key)
    later = int(time.time()) + 120
    st.key_cache.defer_touch(principal.key_hash, principal.key_seq, later)
    st.sweeper.stop()
    assert _wait_for(lambda: _last_used(api, key) != first)


@pytest.mark.parametrize("ttl_s", [0.0, 30.0])
def test_lookup_with_and_without_the_cache(make_app: Callable[..., Any], ttl_s: float) -> None:
    """The key lookup (prepared; on SQLite on a kept read connection): a live key works
    on every request, a revoked one is refused at once, an unknown one never works."""
    api = Api(test_client=make_app(key_cache_ttl_s=ttl_s).test_client())
    key = api.register("lookup")
    extra = api.post("/v1/auth/keys", key=key, json={"label": "second"}).data
    for _ in range(3):
        assert api.get("/v1/agents/me", key=extra["api_key"]).status == 200
    assert api.delete(f"/v1/auth/keys/{extra['key_id']}", key=key).status == 200
    assert api.get("/v1/agents/me", key=extra["api_key"]).status == 401
    assert api.get("/v1/agents/me", key=key).status == 200
    unknown = "fg_live_" + "A" * 32
    assert api.get("/v1/agents/me", key=unknown).status == 401
