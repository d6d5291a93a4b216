"""What the webhooks use of the events outbox (aipod_api/events), in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from aipod_api.events import service as events

MSG_PREFIX = "evt_"


def public_id(event_id: int) -> str:
    """The `webhook-id` of an event's deliveries (no `.`, the same on every retry)."""
    return f"{MSG_PREFIX}{event_id}"


def check_types(types: Sequence[str]) -> None:
    """400 (field `types`) naming unknown event types."""
    if types:
        events.parse_types(list(types))


def latest_id(conn: Connection) -> int:
    return events.latest_id(conn)


def fetch(
    conn: Connection,
    *,
    agent_id: str,
    after: int,
    types: Sequence[str] | None,
    limit: int,
    now: int,
) -> tuple[list[events.EventRecord], int]:
    """The events `agent_id` may see after `after`, and the cursor to store."""
    feed = events.list_for_agent(conn, agent_id, after=after, types=types, limit=limit, now=now)
    return feed.items, feed.cursor


def emit(conn: Connection, *, type: str, agent_id: str, data: Mapping[str, Any], now: int) -> None:
    """An event for `agent_id` only, written when `conn`'s transaction commits."""
    events.emit(conn, type=type, data=data, recipients=[agent_id], now=now)
