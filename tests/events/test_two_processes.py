"""A stream on one server process sees an event committed through another.

PostgreSQL + Redis: the hint travels on Redis pub/sub (events/notify.py); the polling
safety net is set to 5 minutes, so only the hint can deliver the event within the
stream's 20 s socket timeout. SQLite (two processes on one file, no Redis): the safety
net — one read of the newest event id per process per AIPOD_EVENT_POLL_S — delivers it."""

from __future__ import annotations

from collections.abc import Callable

from conftest import BACKEND
from events.sse import SSE
from helpers import LiveServer


def test_stream_on_a_sees_event_committed_through_b(
    start_server: Callable[..., LiveServer], redis_url: str | None
) -> None:
    poll = "300" if BACKEND == "postgresql" else "0.3"
    if BACKEND == "postgresql":
        assert redis_url, "the PostgreSQL backend runs with Redis"
    env = {"AIPOD_EVENT_POLL_S": poll, "AIPOD_EVENT_HEARTBEAT_S": "60"}
    a = start_server(env=env)
    b = start_server(env=env)
    alice = a.api.register("alice")
    bob = b.api.register("bobby")
    with SSE(a.base_url, alice, timeout=20) as stream:
        assert stream.events(1)[0].event == "wallet.credited"  # her signup credit
        # bob publishes through B: a discovery event alice may accept
        r = b.api.post("/v1/tasks", key=bob, json={"title": "via B", "budget": 3})
        assert r.status == 201, r.body
        got = stream.events(1)[0]
        assert got.event == "task.published"
        assert got.json["data"]["task"]["task_id"] == r.data["task_id"]
        # and a targeted one: bob accepts alice's task through B
        r = a.api.post("/v1/tasks", key=alice, json={"title": "via A", "budget": 2})
        assert r.status == 201
        assert [m.event for m in stream.events(2)] == ["task.published", "wallet.debited"]
        assert b.api.put(f"/v1/tasks/{r.data['task_id']}/accept", key=bob).status == 200
        accepted = stream.events(1)[0]
        assert accepted.event == "task.accepted"
        assert accepted.json["data"]["task"]["assignee_id"] == "bobby"
