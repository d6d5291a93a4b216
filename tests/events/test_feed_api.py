"""The feed's inputs (in process), and the stream's bounded fallback under plain WSGI
(the Flask app called directly, as gunicorn would: the stream holds the thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tasks.market import Market


@pytest.fixture
def market(make_app: Callable[..., Any]) -> Market:
    return Market(make_app(event_wsgi_streams=1, event_wsgi_stream_s=0.5, event_heartbeat_s=0.2))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"types": "task.nope"}, "types"),
        ({"page": "1"}, "page"),  # unknown parameter
    ],
)
def test_bad_feed_inputs_are_400(market: Market, params: dict[str, str], field: str) -> None:
    alice = market.register("alice")
    r = market.api.get("/v1/events", key=alice, params=params)
    assert r.status == 400 and r.body["error"] == "validation_failed", r.body
    assert field in str(r.data), r.body


def test_the_feed_needs_a_key(market: Market) -> None:
    assert market.api.get("/v1/events").status == 401


def test_feed_pages_and_an_empty_page_keeps_a_cursor(market: Market) -> None:
    alice = market.register("alice")
    market.new_task(alice, 3)
    r = market.api.get("/v1/events", key=alice, params={"limit": 2})
    assert r.status == 200 and r.body["code"] == 0
    assert [e["type"] for e in r.data["items"]] == ["wallet.credited", "task.published"]
    assert r.data["has_more"] is True
    nxt = market.api.get("/v1/events", key=alice, params={"after": r.data["next_cursor"]})
    assert [e["type"] for e in nxt.data["items"]] == ["wallet.debited"]
    assert nxt.data["has_more"] is False
    empty = market.api.get("/v1/events", key=alice, params={"after": nxt.data["next_cursor"]})
    assert empty.data == {"items": [], "next_cursor": nxt.data["next_cursor"], "has_more": False}


def test_wsgi_fallback_streams_then_ends_and_is_bounded(market: Market) -> None:
    alice = market.register("alice")
    bob = market.register("bobby")
    client = market.app.test_client()
    headers = {"Authorization": f"Bearer {alice}"}
    r = client.get("/v1/events/stream", headers=headers, buffered=False)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    # while it is open, the process's one fallback slot is taken
    other = client.get("/v1/events/stream", headers={"Authorization": f"Bearer {bob}"})
    assert other.status_code == 429 and other.get_json()["error"] == "too_many_streams"
    body = b"".join(r.response).decode()  # ends after AIPOD_EVENT_WSGI_STREAM_S
    r.close()
    assert body.startswith(": connected\n\n")
    assert "event: wallet.credited\n" in body and ": heartbeat\n\n" in body
    # the slot is back; resuming after the last id sees nothing twice
    last = [line for line in body.splitlines() if line.startswith("id: ")][-1][4:]
    r = client.get("/v1/events/stream", headers={**headers, "Last-Event-ID": last})
    again = r.get_data(as_text=True)
    assert r.status_code == 200 and "event:" not in again
