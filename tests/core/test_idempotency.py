"""Idempotency keys (core/idempotency.py), in process: every rule of the README section.

Races against the real server are in test_idempotency_live.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alembic import command
from helpers import Api
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import OperationalError

from aipod_api.auth.service import hash_key
from aipod_api.core import idempotency
from aipod_api.core.db import transaction
from aipod_api.core.execlock import blocking
from aipod_api.core.migrate import alembic_config
from aipod_api.core.tables import api_keys, idempotency_keys, tasks
from aipod_api.tasks import service as tasks_service

IK = idempotency.HEADER
REPLAYED = idempotency.REPLAYED_HEADER
TASK = {"title": "复盘报告", "budget": 100}


class World:
    """The in-process app, a raw test client, a controllable clock and DB helpers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.extensions["aipod"]
        self.now = 1_900_000_000
        self.state.clock.follow(lambda: self.now)
        self.client = app.test_client()
        self.api = Api(test_client=self.client)

    def send(
        self, method: str, path: str, *, key: str | None = None, ik: str | None = None, **kw: Any
    ) -> Any:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if ik is not None:
            headers[IK] = ik
        return self.client.open(path, method=method, headers=headers, **kw)

    def rows(self) -> list[Any]:
        with transaction(self.state.engine, write=False) as conn:
            return list(conn.execute(select(idempotency_keys).order_by(idempotency_keys.c.seq)))

    def count(self, table: Any, *cond: Any) -> int:
        with transaction(self.state.engine, write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*cond)).scalar())

    def wallet(self, key: str) -> dict[str, Any]:
        r = self.api.get("/v1/wallet", key=key)
        assert r.status == 200, r.body
        return dict(r.data)


@pytest.fixture
def world(make_app: Callable[..., Any]) -> World:
    return World(make_app())


def test_a_retry_gets_the_first_answer_byte_for_byte_and_no_second_effect(world: World) -> None:
    key = world.api.register("publisher")
    first = world.send("POST", "/v1/tasks", key=key, ik="publish-1", json=TASK)
    assert first.status_code == 201, first.get_json()
    assert REPLAYED not in first.headers
    # Same request, other whitespace and key order: still the same request.
    again = world.send(
        "POST",
        "/v1/tasks",
        key=key,
        ik="publish-1",
        data=b'{ "budget" : 100,\n "title": "\\u590d\\u76d8\\u62a5\\u544a" }',
        content_type="application/json",
    )
    assert again.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert again.data == first.data  # byte for byte, timestamp included
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]  # its own
    assert world.count(tasks) == 1
    wallet = world.wallet(key)
    assert (wallet["balance"], wallet["escrow"]) == (900, 100)
    [row] = world.rows()
    assert row.state == "done" and row.status == 201 and row.body == first.data
    assert row.key_hash == idempotency.key_digest("publish-1")  # the key is not stored
    assert "publish-1" not in repr(tuple(row))
    # Without a key the same request is a new one (what the header exists for).
    assert world.send("POST", "/v1/tasks", key=key, json=TASK).status_code == 201
    assert world.count(tasks) == 2


def test_key_syntax(world: World) -> None:
    key = world.api.register("syntax")
    ok = world.send("POST", "/v1/tasks", key=key, ik="k" * 255, json=TASK)
    assert ok.status_code == 201
    for bad in ("k" * 256, "tab\there", "ünïcode", "\x7f"):
        r = world.send("POST", "/v1/tasks", key=key, ik=bad, json=TASK)
        body = r.get_json()
        assert r.status_code == 400, bad
        assert body["error"] == "validation_failed"
        assert body["data"]["errors"][0]["field"] == IK
    # An empty header is a malformed key too, not "no key".
    empty = world.client.post(
        "/v1/tasks", json=TASK, headers={"Authorization": f"Bearer {key}", IK: ""}
    )
    assert empty.status_code == 400
    en = world.send("POST", "/v1/tasks", key=key, ik="x" * 300, json=TASK, headers={
        "Accept-Language": "en"})  # fmt: skip
    assert en.get_json()["message"] == f"{IK} must be 1–255 printable ASCII characters"
    assert world.count(idempotency_keys) == 1
    # The draft's RFC 8941 string form names the same key as the raw form.
    raw = world.send("POST", "/v1/tasks", key=key, ik='a"b\\c', json=TASK)
    quoted = world.send("POST", "/v1/tasks", key=key, ik='"a\\"b\\\\c"', json=TASK)
    assert raw.status_code == quoted.status_code == 201
    assert quoted.headers[REPLAYED] == "true" and quoted.data == raw.data
    # On a read the header means nothing (and is not even parsed).
    assert world.send("GET", "/v1/wallet", key=key, ik="\x01").status_code == 200
    assert world.count(tasks) == 2


def test_parse_key_directly() -> None:
    assert idempotency.parse_key("abc") == "abc"
    assert idempotency.parse_key('"abc"') == "abc"
    assert idempotency.parse_key('"a\\"b"') == 'a"b'
    assert idempotency.parse_key('"a"b"') == '"a"b"'  # not an sf-string: a raw key
    assert idempotency.parse_key(" spaced key ") == " spaced key "
    for bad in ("", '""', "é", "\n", "k" * 256, '"' + "k" * 256 + '"'):
        with pytest.raises(idempotency.FieldError):
            idempotency.parse_key(bad)


def test_same_key_for_another_request_is_422(world: World) -> None:
    key = world.api.register("reuser")
    other = world.api.register("other_caller")
    assert world.send("POST", "/v1/tasks", key=key, ik="k1", json=TASK).status_code == 201
    task_id = world.api.get("/v1/tasks", key=key).data["items"][0]["task_id"]
    cases = [
        ("POST", "/v1/tasks", {"title": "复盘报告", "budget": 101}),  # body
        ("POST", "/v1/memory", {"content": "x"}),  # path
        ("PUT", f"/v1/tasks/{task_id}/cancel", None),  # method and path
        # (a different query cannot be tried here: no write accepts query parameters, so
        # one is refused with 400 before the key is looked at; the fingerprint covers it)
    ]
    for method, path, body in cases:
        r = world.send(method, path, key=key, ik="k1", json=body)
        data = r.get_json()
        assert r.status_code == 422, (method, path, data)
        assert data["error"] == "idempotency_key_reused"
        assert data["data"] == {"method": "POST", "path": "/v1/tasks"}
        assert REPLAYED not in r.headers
    en = world.send("POST", "/v1/tasks", key=key, ik="k1", json={}, headers={
        "Accept-Language": "en"})  # fmt: skip
    assert en.get_json()["message"].startswith("This Idempotency-Key was already used")
    # Keys are per caller: another agent's "k1" is its own.
    mine = world.send("POST", "/v1/tasks", key=other, ik="k1", json={"title": "t", "budget": 5})
    assert mine.status_code == 201 and REPLAYED not in mine.headers
    assert world.count(tasks) == 2
    assert world.count(idempotency_keys) == 2


def test_a_fractional_amount_is_fingerprinted_exactly(world: World) -> None:
    # The body parse reads a fractional money amount as a Decimal (core/inputs.py); the
    # fingerprint writes it as the same JSON number, however it was spelled.
    key = world.api.register("cents")
    body = b'{"title": "t", "budget": 12.50}'
    first = world.send("POST", "/v1/tasks", key=key, ik="c1", data=body,
                       content_type="application/json")  # fmt: skip
    assert first.status_code == 201, first.get_json()
    again = world.send("POST", "/v1/tasks", key=key, ik="c1", json={"budget": 12.5, "title": "t"})
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.get_data() == first.get_data()
    other = world.send("POST", "/v1/tasks", key=key, ik="c1", json={"title": "t", "budget": 12.51})
    assert other.status_code == 422 and other.get_json()["error"] == "idempotency_key_reused"
    assert world.count(tasks) == 1
    assert world.wallet(key)["escrow"] == 12.5


def test_validation_failures_are_not_stored(world: World) -> None:
    key = world.api.register("validator")
    bad = world.send("POST", "/v1/tasks", key=key, ik="v1", json={"title": "t"})
    assert bad.status_code == 400
    field = world.send(
        "POST", "/v1/tasks", key=key, ik="v1", json={**TASK, "deadline": "2000-01-01T00:00:00"}
    )
    assert field.status_code == 400  # refused by the view, after the claim
    assert world.rows() == []
    good = world.send("POST", "/v1/tasks", key=key, ik="v1", json=TASK)
    assert good.status_code == 201 and REPLAYED not in good.headers
    unknown = world.send(
        "POST", "/v1/memory", key=key, ik="v2", json={"content": "c", "participants": ["ghost"]}
    )
    assert unknown.status_code == 400  # memory_unknown_participants: a 400 too
    assert world.count(idempotency_keys) == 1


def test_refusals_that_ran_are_stored(world: World) -> None:
    key = world.api.register("poor")
    first = world.send("POST", "/v1/tasks", key=key, ik="big", json={"title": "t", "budget": 5000})
    assert first.status_code == 409 and first.get_json()["error"] == "insufficient_funds"
    again = world.send("POST", "/v1/tasks", key=key, ik="big", json={"title": "t", "budget": 5000})
    assert again.status_code == 409 and again.headers[REPLAYED] == "true"
    assert again.data == first.data
    missing = world.send("PUT", "/v1/tasks/task_999/accept", key=key, ik="nf")
    replay = world.send("PUT", "/v1/tasks/task_999/accept", key=key, ik="nf")
    assert missing.status_code == replay.status_code == 404
    assert replay.headers[REPLAYED] == "true"
    assert [r.status for r in world.rows()] == [409, 404]


def test_server_errors_are_not_stored_and_leave_no_effect(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = world.api.register("crasher")
    real = tasks_service.publish_task

    def half_then_crash(conn: Any, **kw: Any) -> Any:
        real(conn, **kw)  # the escrow hold happened in this transaction...
        raise RuntimeError("boom")  # ...and the request fails

    monkeypatch.setattr(tasks_service, "publish_task", half_then_crash)
    crashed = world.send("POST", "/v1/tasks", key=key, ik="c1", json=TASK)
    assert crashed.status_code == 500
    assert world.rows() == [] and world.count(tasks) == 0
    monkeypatch.setattr(tasks_service, "publish_task", real)
    retry = world.send("POST", "/v1/tasks", key=key, ik="c1", json=TASK)
    assert retry.status_code == 201 and REPLAYED not in retry.headers
    assert world.count(tasks) == 1 and world.wallet(key)["escrow"] == 100


def test_a_failed_commit_keeps_neither_effect_nor_answer(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored answer is in the request's own transaction: when that commit fails,
    both are gone, and the retry runs again."""
    key = world.api.register("committer")
    from sqlalchemy.engine import Connection

    real_commit = Connection.commit
    fail = {"once": True}
    me = threading.current_thread()  # the request's (the test client runs it here), not a
    # background thread's (the sweep, webhook deliveries) that may commit meanwhile

    def flaky_commit(self: Connection) -> None:
        if threading.current_thread() is me and fail.pop("once", False):
            raise OperationalError("COMMIT", {}, Exception("simulated commit failure"))
        real_commit(self)

    monkeypatch.setattr(Connection, "commit", flaky_commit)
    r = world.send("POST", "/v1/tasks", key=key, ik="f1", json=TASK)
    assert r.status_code == 500
    assert world.rows() == [] and world.count(tasks) == 0
    retry = world.send("POST", "/v1/tasks", key=key, ik="f1", json=TASK)
    assert retry.status_code == 201 and REPLAYED not in retry.headers
    assert world.count(tasks) == 1


def test_rate_limited_answers_are_not_stored(make_app: Callable[..., Any]) -> None:
    world = World(make_app(login_limit="1/minute"))
    world.api.register("throttled", password="correct horse")
    wrong = {"username": "throttled", "password": "wrong password"}
    assert world.send("POST", "/v1/auth/login", json=wrong).status_code == 401
    limited = world.send("POST", "/v1/auth/login", ik="l1", json=wrong)
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "login_throttled"
    assert world.rows() == []


def test_a_running_key_is_409_then_taken_over_after_the_lock_timeout(world: World) -> None:
    key = world.api.register("runner")
    st = world.state
    fp = idempotency.fingerprint("r1", method="POST", path="/v1/tasks", query="", body=TASK)
    claim = idempotency.begin(
        st.engine,
        scope="agent:runner",
        key_hash=idempotency.key_digest("r1"),
        fp=fp,
        method="POST",
        path="/v1/tasks",
        now=world.now,
        ttl_s=st.settings.idempotency_ttl_s,
        lock_s=st.settings.idempotency_lock_s,
    )
    assert isinstance(claim, idempotency.Claim)  # as if a request had claimed it and died
    busy = world.send("POST", "/v1/tasks", key=key, ik="r1", json=TASK)
    assert busy.status_code == 409
    assert busy.get_json()["error"] == "idempotency_key_in_use"
    assert busy.headers["Retry-After"] == "1"
    # A different request is still a misuse, running or not.
    assert world.send("POST", "/v1/tasks", key=key, ik="r1", json={}).status_code == 422
    world.now += st.settings.idempotency_lock_s - 1
    assert world.send("POST", "/v1/tasks", key=key, ik="r1", json=TASK).status_code == 409
    world.now += 1
    taken = world.send("POST", "/v1/tasks", key=key, ik="r1", json=TASK)
    assert taken.status_code == 201 and REPLAYED not in taken.headers
    [row] = world.rows()
    assert row.state == "done" and row.lock_token != claim.token
    # The dead attempt cannot store an answer any more.
    with transaction(st.engine, write=True) as conn:
        assert not idempotency.finish(
            conn, claim, status=201, headers=[], body=b"{}", secret_key_seq=None
        )
    replay = world.send("POST", "/v1/tasks", key=key, ik="r1", json=TASK)
    assert replay.data == taken.data and replay.headers[REPLAYED] == "true"
    assert world.count(tasks) == 1


def test_an_attempt_that_lost_its_key_rolls_back_its_effects(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the key was taken over while this request ran, its effects must not commit."""
    key = world.api.register("loser")
    real = tasks_service.publish_task

    def publish_then_lose_the_key(conn: Any, **kw: Any) -> Any:
        out = real(conn, **kw)
        conn.execute(update(idempotency_keys).values(lock_token="another-attempt"))
        return out

    monkeypatch.setattr(tasks_service, "publish_task", publish_then_lose_the_key)
    r = world.send("POST", "/v1/tasks", key=key, ik="lost", json=TASK)
    assert r.status_code == 409 and r.get_json()["error"] == "idempotency_key_in_use"
    assert world.count(tasks) == 0
    assert (world.wallet(key)["balance"], world.wallet(key)["escrow"]) == (1000, 0)
    [row] = world.rows()  # still the claim (its token change was rolled back too)
    assert row.state == "running"


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Make publish_task stop (inside its transaction) until `release` is set."""
    inside, release = threading.Event(), threading.Event()
    real = tasks_service.publish_task

    def held(conn: Any, **kw: Any) -> Any:
        out = real(conn, **kw)
        inside.set()
        with blocking():  # let other requests run meanwhile (SQLite's execution lock)
            assert release.wait(30)
        return out

    monkeypatch.setattr(tasks_service, "publish_task", held)
    yield inside, release
    release.set()


def test_duplicates_of_a_running_request_are_answered_at_once(
    world: World, gate: tuple[threading.Event, threading.Event]
) -> None:
    inside, release = gate
    key = world.api.register("concurrent")
    results: dict[str, Any] = {}

    def call(name: str) -> None:
        client = world.app.test_client()
        results[name] = client.post(
            "/v1/tasks", json=TASK, headers={"Authorization": f"Bearer {key}", IK: "same"}
        )

    first = threading.Thread(target=call, args=("first",))
    first.start()
    assert inside.wait(30)
    # The first holds its transaction (and SQLite's write lock): a duplicate is still
    # answered, without waiting for it.
    dup = threading.Thread(target=call, args=("dup",))
    dup.start()
    dup.join(30)
    assert not dup.is_alive() and first.is_alive()
    assert results["dup"].status_code == 409
    assert results["dup"].get_json()["error"] == "idempotency_key_in_use"
    # Past the lock timeout a retry may take the key over; whichever attempt commits,
    # there is exactly one effect and every success answer is the stored one.
    world.now += world.state.settings.idempotency_lock_s
    late = threading.Thread(target=call, args=("late",))
    late.start()
    late.join(2)
    release.set()
    first.join(30)
    late.join(30)
    assert not first.is_alive() and not late.is_alive()
    statuses = sorted(results[n].status_code for n in ("first", "late"))
    assert statuses in ([201, 201], [201, 409]), statuses
    assert world.count(tasks) == 1
    assert (world.wallet(key)["balance"], world.wallet(key)["escrow"]) == (900, 100)
    [row] = world.rows()
    assert row.state == "done"
    for name in ("first", "late"):
        r = results[name]
        if r.status_code == 201:
            assert r.data == row.body
        else:
            assert r.get_json()["error"] == "idempotency_key_in_use"


def test_expired_keys_are_free_and_purged(make_app: Callable[..., Any]) -> None:
    world = World(make_app(idempotency_ttl_s=3600))
    key = world.api.register("expirer")
    assert world.send("POST", "/v1/tasks", key=key, ik="e1", json=TASK).status_code == 201
    world.now += 1800
    assert world.send("POST", "/v1/tasks", key=key, ik="e2", json=TASK).status_code == 201
    world.now += 1800  # e1 has expired, e2 has not
    st = world.state
    fresh = world.send("POST", "/v1/tasks", key=key, ik="e1", json={"title": "new", "budget": 1})
    assert fresh.status_code == 201 and REPLAYED not in fresh.headers  # not a 422
    assert world.send("POST", "/v1/tasks", key=key, ik="e2", json={}).status_code == 422
    assert world.count(tasks) == 3
    world.now += 1800
    assert idempotency.purge_expired(st.engine, now=world.now) == 1  # e2
    assert idempotency.purge_expired(st.engine, now=world.now) == 0
    assert [r.key_hash for r in world.rows()] == [idempotency.key_digest("e1")]
    assert st.sweeper.purge_once() == 0
    world.now += 3600
    assert st.sweeper.purge_once() == 1
    assert world.rows() == []


def test_purge_works_in_batches(world: World) -> None:
    st = world.state
    for i in range(7):
        idempotency.begin(
            st.engine,
            scope="agent:x",
            key_hash=idempotency.key_digest(f"b{i}"),
            fp="0" * 64,
            method="POST",
            path="/v1/tasks",
            now=world.now,
            ttl_s=10,
            lock_s=5,
        )
    assert idempotency.purge_expired(st.engine, now=world.now + 10, batch=3) == 7
    assert world.rows() == []


def _live_keys(world: World, agent_id: str) -> list[Any]:
    with transaction(world.state.engine, write=False) as conn:
        return list(
            conn.execute(
                select(api_keys).where(
                    api_keys.c.agent_id == agent_id, api_keys.c.revoked_at.is_(None)
                )
            )
        )


def test_register_replay_rotates_the_key_and_stores_no_secret(world: World) -> None:
    body = {"username": "Signer", "email": "signer@example.com", "capabilities": ["coding"]}
    first = world.send("POST", "/v1/auth/register", ik="reg", json=body)
    assert first.status_code == 201
    one = first.get_json()["data"]
    [row] = world.rows()
    assert row.scope == "ip:127.0.0.1"  # unauthenticated: keyed by the client IP
    assert b"fg_live_" not in row.body and one["api_key"].encode() not in row.body
    assert row.secret_key_seq is not None
    # The answer was lost: the retry ends with a working key and no orphaned one.
    again = world.send("POST", "/v1/auth/register", ik="reg", json=body)
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    two = again.get_json()["data"]
    assert two["api_key"] != one["api_key"] and two["key_id"] != one["key_id"]
    assert {k: v for k, v in two.items() if k not in ("api_key", "key_id")} == {
        k: v for k, v in one.items() if k not in ("api_key", "key_id")
    }
    assert again.get_json()["timestamp"] == first.get_json()["timestamp"]
    assert world.api.get("/v1/wallet", key=one["api_key"]).status == 401
    assert world.wallet(two["api_key"])["balance"] == 1000
    live = _live_keys(world, "signer")
    assert [r.key_hash for r in live] == [hash_key(two["api_key"])]
    assert live[0].label == "signup"
    [row] = world.rows()
    assert two["api_key"].encode() not in row.body and b"fg_live_" not in row.body
    # That key has been used now: whoever replays again gets no further key.
    refused = world.send("POST", "/v1/auth/register", ik="reg", json=body)
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "idempotency_key_secret_used"
    assert [r.key_hash for r in _live_keys(world, "signer")] == [hash_key(two["api_key"])]
    assert world.count(api_keys) == 2
    # Other client IPs have their own keys; the same IP reusing the key is a misuse.
    elsewhere = world.send(
        "POST",
        "/v1/auth/register",
        ik="reg",
        json={"username": "other", "email": "other@example.com"},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert elsewhere.status_code == 201 and REPLAYED not in elsewhere.headers
    reuse = world.send(
        "POST", "/v1/auth/register", ik="reg", json={"username": "x", "email": "x@example.com"}
    )
    assert reuse.status_code == 422


def test_a_revoked_first_key_is_not_replaced(world: World) -> None:
    key = world.api.register("keeper")
    made = world.send("POST", "/v1/auth/keys", key=key, ik="mk", json={"label": "ci"})
    assert made.status_code == 201
    key_id = made.get_json()["data"]["key_id"]
    assert world.api.delete(f"/v1/auth/keys/{key_id}", key=key).status == 200
    r = world.send("POST", "/v1/auth/keys", key=key, ik="mk", json={"label": "ci"})
    assert r.status_code == 409 and r.get_json()["error"] == "idempotency_key_secret_used"
    assert len(_live_keys(world, "keeper")) == 1


def test_key_creation_and_login_do_not_duplicate_keys(world: World) -> None:
    key = world.api.register("multi", password="correct horse")
    made = [
        world.send("POST", "/v1/auth/keys", key=key, ik="mk", json={"label": "ci"})
        for _ in range(3)
    ]
    assert [r.status_code for r in made] == [201, 201, 201]
    datas = [r.get_json()["data"] for r in made]
    assert len({d["api_key"] for d in datas}) == 3  # rotated on every replay
    assert [d["label"] for d in datas] == ["ci"] * 3
    live = _live_keys(world, "multi")
    assert len(live) == 2  # the signup key and one "ci" key: no duplicate
    assert hash_key(datas[-1]["api_key"]) in {r.key_hash for r in live}
    assert [r.headers.get(REPLAYED) for r in made] == [None, "true", "true"]
    creds = {"username": "multi", "password": "correct horse"}
    logins = [world.send("POST", "/v1/auth/login", ik="in", json=creds) for _ in range(2)]
    assert [r.status_code for r in logins] == [200, 200]
    a, b = (r.get_json()["data"] for r in logins)
    assert a["node_id"] == b["node_id"] == "multi" and a["api_key"] != b["api_key"]
    assert world.api.get("/v1/wallet", key=a["api_key"]).status == 401
    assert world.api.get("/v1/wallet", key=b["api_key"]).status == 200
    assert len(_live_keys(world, "multi")) == 3
    # A different password under the same key is a different request...
    wrong = world.send("POST", "/v1/auth/login", ik="in", json={**creds, "password": "x" * 8})
    assert wrong.status_code == 422
    # ...and a failed login is stored like any answer that ran.
    bad1 = world.send("POST", "/v1/auth/login", ik="bad", json={**creds, "password": "x" * 8})
    bad2 = world.send("POST", "/v1/auth/login", ik="bad", json={**creds, "password": "x" * 8})
    assert bad1.status_code == bad2.status_code == 401 and bad2.data == bad1.data
    assert all(b"fg_live_" not in (r.body or b"") for r in world.rows())


def test_memory_write_and_delete_are_not_repeated(world: World) -> None:
    key = world.api.register("writer")
    note = {"content": "2026年Q1新能源渗透率超过40%", "tags": ["新能源"]}
    writes = [world.send("POST", "/v1/memory", key=key, ik="m1", json=note) for _ in range(3)]
    assert [r.status_code for r in writes] == [201] * 3
    assert writes[1].data == writes[0].data == writes[2].data
    listed = world.api.get("/v1/memory", key=key, params={"tag": "新能源"}).data
    assert listed["total"] == 1
    mem_id = writes[0].get_json()["data"]["memory_id"]
    gone = world.send("DELETE", f"/v1/memory/{mem_id}", key=key, ik="d1")
    again = world.send("DELETE", f"/v1/memory/{mem_id}", key=key, ik="d1")
    assert gone.status_code == again.status_code == 200 and again.headers[REPLAYED] == "true"
    plain = world.send("DELETE", f"/v1/memory/{mem_id}", key=key)
    assert plain.status_code == 404  # without a key the retry is a new request


def test_accept_retried_by_its_winner_gets_200(world: World) -> None:
    publisher = world.api.register("boss")
    worker = world.api.register("worker")
    rival = world.api.register("rival")
    task_id = world.api.post("/v1/tasks", key=publisher, json=TASK).data["task_id"]
    won = world.send("PUT", f"/v1/tasks/{task_id}/accept", key=worker, ik="acc")
    lost = world.send("PUT", f"/v1/tasks/{task_id}/accept", key=rival, ik="acc")
    assert won.status_code == 200 and lost.status_code == 409
    retry = world.send("PUT", f"/v1/tasks/{task_id}/accept", key=worker, ik="acc")
    assert retry.status_code == 200 and retry.headers[REPLAYED] == "true"
    assert retry.data == won.data
    assert world.send("PUT", f"/v1/tasks/{task_id}/accept", key=worker).status_code == 409
    rival_retry = world.send("PUT", f"/v1/tasks/{task_id}/accept", key=rival, ik="acc")
    assert rival_retry.status_code == 409 and rival_retry.data == lost.data
    done = world.send(
        "PUT", f"/v1/tasks/{task_id}/complete", key=worker, ik="fin",
        json={"deliverables": {"report": "ok"}},
    )  # fmt: skip
    paid = world.send(
        "PUT", f"/v1/tasks/{task_id}/complete", key=worker, ik="fin",
        json={"deliverables": {"report": "ok"}},
    )  # fmt: skip
    assert done.status_code == paid.status_code == 200 and paid.data == done.data
    assert world.wallet(worker)["balance"] == 1100  # paid once


def test_cors_lets_browsers_send_and_read_the_headers(make_app: Callable[..., Any]) -> None:
    client = make_app().test_client()
    pre = client.options(
        "/v1/tasks",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert IK in pre.headers["Access-Control-Allow-Headers"]
    r = client.get("/v1/status", headers={"Origin": "https://app.example"})
    assert REPLAYED in r.headers["Access-Control-Expose-Headers"]


def test_migration_0005_downgrades_and_upgrades(world: World) -> None:
    engine = world.state.engine
    cfg = alembic_config()
    with transaction(engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        assert "idempotency_keys" not in inspect(conn).get_table_names()
    with transaction(engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        insp = inspect(conn)
        assert "idempotency_keys" in insp.get_table_names()
        columns = {c["name"] for c in insp.get_columns("idempotency_keys")}
        assert columns == {c.name for c in idempotency_keys.columns}
        uniques = [u["column_names"] for u in insp.get_unique_constraints("idempotency_keys")]
        assert ["scope", "key_hash"] in uniques
    key = world.api.register("migrated")
    assert world.send("POST", "/v1/tasks", key=key, ik="after", json=TASK).status_code == 201
