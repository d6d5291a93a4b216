"""The Python SDK's events: `client.events.list`, and `client.events.iter` following the
feed or the live stream, resuming by cursor (real server, both backends)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from helpers import LiveServer

from aipod_api.sdk import Client, InvalidRequestError


def _client(server: LiveServer, name: str) -> Client:
    key = server.api.register(name)
    return Client(key, base_url=server.base_url)


def test_list_and_iter_page_through_the_feed(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    alice = _client(server, "alice")
    for _ in range(3):
        alice.tasks.create(title="t", budget=1)
    page = alice.events.list(limit=2)
    assert [e["type"] for e in page["items"]] == ["wallet.credited", "task.published"]
    assert page["has_more"] is True
    rest = alice.events.list(after=page["next_cursor"], types=["task.published"])
    assert [e["type"] for e in rest["items"]] == ["task.published"] * 2
    it = alice.events.iter()
    everything = list(it)
    assert len(everything) == 7 and it.cursor >= everything[-1]["id"]
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    assert list(alice.events.iter(after=it.cursor)) == []
    with pytest.raises(InvalidRequestError):
        alice.events.list(types=["task.nope"])


def test_iter_follows_the_stream_across_reconnects(
    start_server: Callable[..., LiveServer],
) -> None:
    """The server ends each stream after a second; the iterator resumes with
    Last-Event-ID every time and misses or repeats nothing."""
    server = start_server(env={"AIPOD_EVENT_STREAM_MAX_S": "1", "AIPOD_EVENT_HEARTBEAT_S": "0.3"})
    alice = _client(server, "alice")
    bob = _client(server, "bobby")
    stop = threading.Event()

    def publish() -> None:
        for _ in range(8):
            bob.tasks.create(title="for anyone", budget=1)  # discovery: alice sees it
            time.sleep(0.4)
        stop.set()

    got: list[int] = []
    with alice.events.iter(stream=True, types=["task.published"]) as it:
        writer = threading.Thread(target=publish)
        writer.start()
        for event in it:
            assert event["type"] == "task.published"
            got.append(event["id"])
            if len(got) == 8:
                break
        writer.join()
        cursor = it.cursor
    assert stop.is_set()
    feed = [e["id"] for e in alice.events.iter(types="task.published")]
    assert got == feed  # every one, once, in order, across several reconnects
    assert cursor == got[-1] or cursor > got[-1]


def test_iter_follows_the_feed_by_polling(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    alice = _client(server, "alice")
    start = alice.events.list()["next_cursor"]
    it = alice.events.iter(after=start, follow=True, poll_interval=0.1)

    def later() -> None:
        time.sleep(0.5)
        alice.tasks.create(title="later", budget=2)

    threading.Thread(target=later).start()
    first = next(it)
    assert first["type"] == "task.published" and first["data"]["task"]["title"] == "later"
    assert next(it)["type"] == "wallet.debited"
    it.close()
    assert list(it) == []
