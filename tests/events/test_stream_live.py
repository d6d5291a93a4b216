"""The SSE stream against the real server (granian RSGI), over real sockets: resume with
Last-Event-ID, heartbeats, the stream limits, and ordinary requests answered while many
streams are open (both backends)."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from typing import Any

import requests
from events.sse import SSE
from helpers import LiveServer


def _register(server: LiveServer, name: str, caps: list[str] | None = None) -> str:
    return server.api.register(name, capabilities=caps or [])


def _publish(server: LiveServer, key: str, budget: int = 1, **extra: Any) -> str:
    r = server.api.post("/v1/tasks", key=key, json={"title": "t", "budget": budget, **extra})
    assert r.status == 201, r.body
    return str(r.data["task_id"])


def _feed_ids(server: LiveServer, key: str) -> list[int]:
    ids: list[int] = []
    after = 0
    while True:
        r = server.api.get("/v1/events", key=key, params={"after": after, "limit": 100})
        assert r.status == 200, r.body
        ids.extend(e["id"] for e in r.data["items"])
        if not r.data["has_more"]:
            return ids
        after = r.data["next_cursor"]


def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(env={"AIPOD_EVENT_HEARTBEAT_S": "1"})
    alice = _register(server, "alice")
    bob = _register(server, "bobby")
    got: list[int] = []
    with SSE(server.base_url, alice) as s:
        assert s.status == 200 and s.headers["Content-Type"].startswith("text/event-stream")
        first = s.events(1)[0]  # the signup credit
        assert first.event == "wallet.credited" and first.json["id"] == int(first.id or 0)
        got.append(int(first.id or 0))
        _publish(server, alice)
        for msg in s.events(2):  # task.published, wallet.debited: live
            got.append(int(msg.id or 0))
        last = got[-1]
    # while no stream is open: more events for alice, and some she may not see
    for _ in range(3):
        _publish(server, alice)
        _publish(server, bob)  # discovery events: alice may accept bob's tasks
    _register(server, "carol")  # carol's signup credit: not alice's
    expected = [i for i in _feed_ids(server, alice) if i > last]
    assert len(expected) == 9  # 3 x (published + debited) of hers, 3 of bob's published
    with SSE(server.base_url, alice, last_event_id=last) as s:
        resumed = [int(m.id or 0) for m in s.events(len(expected))]
        assert resumed == expected
        # nothing more, and no duplicate: the next block is a heartbeat or a cursor move
        msg = s.next()
        assert msg.event is None
    assert got + resumed == _feed_ids(server, alice)


def test_heartbeat_and_cursor_only_blocks(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(env={"AIPOD_EVENT_HEARTBEAT_S": "0.3"})
    alice = _register(server, "alice")
    bob = _register(server, "bobby", caps=["rare"])
    with SSE(server.base_url, alice, params={"types": "task.accepted"}) as s:
        assert s.next().comments == ["connected"]
        # events alice may not see move her cursor without an event
        _publish(server, bob, required_capabilities=["rare"])
        newest = max(_feed_ids(server, bob))
        while True:
            msg = s.next_event_or_cursor()
            assert msg.event is None and msg.data == ""
            if int(msg.id or 0) >= newest:
                break
        beats = [s.next() for _ in range(3)]
        assert all(b.comments == ["heartbeat"] and b.id is None for b in beats)


def test_stream_limits_answer_429_in_the_envelope(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        env={"AIPOD_EVENT_STREAMS_PER_AGENT": "2", "AIPOD_EVENT_STREAMS_PER_PROCESS": "3"}
    )
    alice = _register(server, "alice")
    bob = _register(server, "bobby")
    carol = _register(server, "carol")
    a1, a2 = SSE(server.base_url, alice), SSE(server.base_url, alice)
    assert (a1.status, a2.status) == (200, 200)
    a3 = SSE(server.base_url, alice)
    assert a3.status == 429 and a3.body["error"] == "too_many_streams"
    assert a3.body["data"] == {"limit": "agent"} and a3.headers["Retry-After"]
    b1 = SSE(server.base_url, bob)
    assert b1.status == 200
    c1 = SSE(server.base_url, carol)
    assert c1.status == 429 and c1.body["data"] == {"limit": "process"}
    # a stream the client closes gives its slot back
    a1.close()
    deadline = time.monotonic() + 10
    while True:
        again = SSE(server.base_url, carol)
        if again.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert again.status == 200
    for s in (a2, b1, again, a3, c1):
        s.close()


def test_bad_cursors_are_400(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    alice = _register(server, "alice")
    bad = SSE(server.base_url, alice, last_event_id="abc")
    assert bad.status == 400 and bad.body["error"] == "validation_failed"
    assert bad.body["data"]["errors"][0]["field"] == "Last-Event-ID"
    bad = SSE(server.base_url, alice, params={"types": "task.nope"})
    assert bad.status == 400 and bad.body["data"]["errors"][0]["field"] == "types"
    unauth = SSE(server.base_url, "fg_live_wrongwrongwrongwrong")
    assert unauth.status == 401


def test_requests_are_answered_while_many_streams_are_open(
    start_server: Callable[..., LiveServer],
) -> None:
    """The default SQLite server has 2 request threads; 24 open streams hold none."""
    server = start_server(env={"AIPOD_EVENT_STREAMS_PER_AGENT": "50"})
    keys = [_register(server, f"agent{i:02d}") for i in range(4)]
    streams = [SSE(server.base_url, keys[i % 4], timeout=30) for i in range(24)]
    try:
        assert all(s.status == 200 for s in streams)
        for s in streams:
            assert s.events(1)[0].event == "wallet.credited"
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            gets = list(
                pool.map(
                    lambda i: (
                        requests.get(
                            f"{server.base_url}/v1/wallet",
                            headers={"Authorization": f"Bearer {keys[i % 4]}"},
                            timeout=10,
                        ).status_code
                    ),
                    range(80),
                )
            )
        assert gets == [200] * 80
        # a write wakes every stream (a discovery event): each gets it
        task_id = _publish(server, keys[0])
        for i, s in enumerate(streams):
            msg = s.events(1)[0]
            assert msg.event == "task.published" and msg.json["data"]["task"]["task_id"] == task_id
            if i % 4 == 0:  # the publisher's streams also see the escrow debit
                assert s.events(1)[0].event == "wallet.debited"
        elapsed = time.monotonic() - started
        assert elapsed < 60, elapsed  # not a timing claim: nothing waited for a timeout
    finally:
        for s in streams:
            s.close()


def test_stopping_the_server_ends_open_streams(start_server: Callable[..., LiveServer]) -> None:
    """granian waits for open connections when it stops (workers_kill_timeout, 40 s by
    default); open streams are ended at once instead, so the stream sees its end well
    before its 20 s socket timeout."""
    import signal

    from helpers import stop_server

    server = start_server()
    alice = _register(server, "alice")
    streams = [SSE(server.base_url, alice, timeout=20) for _ in range(3)]
    for s in streams:
        assert s.events(1)[0].event == "wallet.credited"
    stop_server(server, sig=signal.SIGTERM)
    for s in streams:
        try:
            while True:
                s.next()
        except EOFError:
            pass
        s.close()
    assert server.process.returncode is not None
