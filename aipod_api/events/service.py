"""Events: who sees what, the feed read, and retention. Framework-free.

The API for other modules (the feed view, the stream, the webhook worker). Stable:

    emit(conn, *, type: str, data: Mapping[str, Any], recipients: Iterable[str | None],
         now: int, discovery: Discovery | None = None) -> None
        Record an event in `conn`'s current transaction; it is written when (and only
        if) that transaction commits, with the next id of the commit-ordered cursor
        (events/outbox.py). `type` must be in `TYPES`; `data` is the payload (the
        resource as its API shows it, e.g. {"webhook": {...}}); `recipients` the agents
        that see it.

    list_for_agent(conn, agent_id, *, after: int, types: Sequence[str] | None,
                   limit: int, now: int) -> Feed
        The events `agent_id` may see with id > `after`, in id order, at most `limit`
        (1..MAX_LIMIT), restricted to `types` when given (validate them first with
        `parse_types`). `Feed.cursor` is what to pass as `after` next time: the last
        item's id when the page is full, otherwise the newest committed id at the time
        of the read — so events the agent cannot see are never read twice, and an
        empty page still moves the cursor. Guarantee: every event the agent may see
        with `after < id <= Feed.cursor` is in `items` (no gaps, no duplicates across
        pages), because ids are handed out in commit order and the newest committed id
        is read *before* the events.

    feed_page(conn, agent_id, *, after: int, types: str | Sequence[str] | None,
              limit: int, now: int) -> EventFeed
        GET /v1/events: `types` as the caller gave it (`parse_types`: a 400 naming
        unknown ones), then `list_for_agent`, as the public page (`has_more`: the page
        is full, so more may follow `next_cursor`).

    latest_id(conn) -> int     the newest committed event id (0 when none).

Who sees what (the API's access rules, for events):
- targeted events — the task's lifecycle (`task.*`) for its publisher and assignee,
  `rating.created` for the rated agent, `memory.shared` for the memory's participants,
  `wallet.*` for the wallet's owner, `webhook.*` for the webhook's owner: one
  `event_inbox` row per recipient;
- discovery: `task.published` for every agent that could accept the task *at read
  time* (open, before its deadline, not its own, every required capability — the
  `eligible=true` task list's rule): one `event_topics` row per event under the task's
  first required capability (or `*`).

Cost of a read: one index range over the reader's own inbox rows, and one per topic it
can match (`*` and each of its capabilities), each stopping at `limit` rows; events of
other agents, and discovery events under capabilities the reader lacks, are never read.
(Within its topics a discovery event of a task that has since been taken, or that needs
a second capability the reader lacks, is read and skipped.)

Retention: `prune(conn, before=..., limit=...)` deletes up to `limit` of the oldest
events created before `before` (with their inbox and topic rows); the sweep calls
`prune_expired` every round, in batches (AIPOD_EVENT_RETENTION_DAYS, default 30).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    String,
    and_,
    bindparam,
    delete,
    select,
    union_all,
)

from aipod_api.core.db import transaction
from aipod_api.core.errors import FieldError
from aipod_api.core.i18n import register_messages
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agent_capabilities, tasks
from aipod_api.core.types import iso
from aipod_api.events.outbox import ALL_TOPIC, DISCOVERY_TYPE, TYPES, Discovery, emit
from aipod_api.events.schemas import EventFeed, EventPublic
from aipod_api.events.tables import event_clock, event_inbox, event_topics, events
from aipod_api.tasks.service import eligible_condition

__all__ = [
    "MAX_LIMIT",
    "TYPES",
    "Discovery",
    "EventFeed",
    "EventPublic",
    "EventRecord",
    "Feed",
    "emit",
    "feed_page",
    "latest_id",
    "list_for_agent",
    "parse_types",
    "prune",
    "prune_expired",
]

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
PRUNE_BATCH = 1_000

register_messages(
    {
        "event_types_unknown": (
            "未知的事件类型: {types}(可选: {known})",
            "Unknown event type(s): {types} (known: {known})",
        ),
    }
)


class UnknownEventTypes(FieldError):
    def __init__(self, unknown: list[str]) -> None:
        super().__init__(
            "types",
            "event_types_unknown",
            types=", ".join(unknown),
            known=", ".join(sorted(TYPES)),
        )


@dataclass(frozen=True)
class EventRecord:
    id: int
    type: str
    created_at: int  # UNIX seconds
    data: dict[str, Any]

    def public(self) -> EventPublic:
        """The event as the feed and the stream show it."""
        return {
            "id": self.id,
            "type": self.type,
            "created_at": iso(self.created_at) or "",
            "data": self.data,
        }


@dataclass(frozen=True)
class Feed:
    items: list[EventRecord]
    cursor: int  # pass as `after` next time


def parse_types(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """`types=` as given (comma-separated, or repeated): the known types, in order, or
    None for all; a 400 naming the unknown ones."""
    if value is None:
        return None
    parts = [value] if isinstance(value, str) else list(value)
    names = [p.strip() for part in parts for p in part.split(",") if p.strip()]
    if not names:
        return None
    unknown = [n[:64] for n in dict.fromkeys(names) if n not in TYPES]
    if unknown:
        raise UnknownEventTypes(unknown[:10])
    return tuple(dict.fromkeys(names))


_LATEST = Prepared(select(event_clock.c.last_id).where(event_clock.c.id == 1))
_CAPS = Prepared(
    select(agent_capabilities.c.capability).where(
        agent_capabilities.c.agent_id == bindparam("agent_id", type_=String)
    )
)


def latest_id(conn: Connection) -> int:
    """The newest committed event id: every id up to it is final (committed, or never
    to be used)."""
    value = _LATEST.execute(conn).scalar()
    return int(value or 0)


def _inbox_branch(typed: bool) -> Any:
    cond = and_(
        event_inbox.c.agent_id == bindparam("agent_id", type_=String),
        event_inbox.c.event_id > bindparam("after", type_=BigInteger),
        event_inbox.c.event_id <= bindparam("horizon", type_=BigInteger),
    )
    if typed:
        cond = and_(cond, event_inbox.c.type.in_(bindparam("types", expanding=True)))
    return (
        select(event_inbox.c.event_id.label("event_id"))
        .where(cond)
        .order_by(event_inbox.c.event_id)
        .limit(bindparam("lim"))
    )


def _topic_branch(i: int) -> Any:
    agent = bindparam("agent_id", type_=String)
    now = bindparam("now", type_=BigInteger)
    return (
        select(event_topics.c.event_id.label("event_id"))
        .select_from(event_topics.join(tasks, tasks.c.seq == event_topics.c.task_seq))
        .where(
            and_(
                event_topics.c.topic == bindparam(f"topic{i}", type_=String),
                event_topics.c.event_id > bindparam("after", type_=BigInteger),
                event_topics.c.event_id <= bindparam("horizon", type_=BigInteger),
                eligible_condition(agent, now),
            )
        )
        .order_by(event_topics.c.event_id)
        .limit(bindparam("lim"))
    )


def _visible_ids_statement(typed: bool, topics: int) -> Any:
    branches = [_inbox_branch(typed)] + [_topic_branch(i) for i in range(topics)]
    if len(branches) == 1:
        return branches[0]
    # Each branch keeps its own ORDER BY/LIMIT (an index range that stops early).
    subs = [b.subquery() for b in branches]
    return union_all(*[select(s.c.event_id) for s in subs])


_ROWS = select(events.c.id, events.c.type, events.c.created_at, events.c.data).order_by(events.c.id)


def list_for_agent(
    conn: Connection,
    agent_id: str,
    *,
    after: int,
    types: Sequence[str] | None,
    limit: int,
    now: int,
) -> Feed:
    """The events `agent_id` may see after `after` (see the module docstring)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIMIT}")
    after = max(0, int(after))
    horizon = latest_id(conn)  # first: everything up to it is committed
    if horizon <= after:
        return Feed([], after)
    discovery = types is None or DISCOVERY_TYPE in types
    topics: list[str] = []
    if discovery:
        topics = [ALL_TOPIC, *_CAPS.execute(conn, {"agent_id": agent_id}).scalars()]
    params: dict[str, Any] = {
        "agent_id": agent_id,
        "after": after,
        "horizon": horizon,
        "lim": limit,
        "now": now,
    }
    if types is not None:
        params["types"] = list(types)
    params.update((f"topic{i}", t) for i, t in enumerate(topics))
    stmt = _visible_ids_statement(types is not None, len(topics))
    ids = sorted(set(conn.execute(stmt, params).scalars()))[:limit]
    if not ids:
        return Feed([], horizon)
    rows = conn.execute(_ROWS.where(events.c.id.in_(ids))).all()
    items = [
        EventRecord(
            id=int(r.id), type=r.type, created_at=int(r.created_at), data=orjson.loads(r.data)
        )
        for r in rows
    ]
    cursor = items[-1].id if len(items) == limit else horizon
    return Feed(items, cursor)


# --- retention ------------------------------------------------------------------------


def feed_page(
    conn: Connection,
    agent_id: str,
    *,
    after: int,
    types: str | Sequence[str] | None,
    limit: int,
    now: int,
) -> EventFeed:
    """The feed's page for `agent_id` (GET /v1/events): `types` as given (comma-separated
    or repeated; unknown ones are a 400), the events after `after`, and `has_more` when
    the page is full (the next page, from `next_cursor`, may hold more)."""
    feed = list_for_agent(
        conn, agent_id, after=after, types=parse_types(types), limit=limit, now=now
    )
    return {
        "items": [e.public() for e in feed.items],
        "next_cursor": feed.cursor,
        "has_more": len(feed.items) == limit,
    }


def prune(conn: Connection, *, before: int, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` of the oldest events created before `before` (UNIX seconds),
    with their inbox and topic rows; returns how many events."""
    ids = list(
        conn.execute(
            select(events.c.id)
            .where(events.c.created_at < before)
            .order_by(events.c.created_at)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(delete(event_inbox).where(event_inbox.c.event_id.in_(ids)))
    conn.execute(delete(event_topics).where(event_topics.c.event_id.in_(ids)))
    conn.execute(delete(events).where(events.c.id.in_(ids)))
    return len(ids)


def prune_expired(
    engine: Engine, *, now: int, retention_s: int, batch: int = PRUNE_BATCH, max_batches: int = 20
) -> int:
    """Prune events older than the retention period, one short write transaction per
    batch (so a writer never waits behind a long delete); returns how many."""
    before = now - retention_s
    with transaction(engine, write=False) as conn:
        oldest = conn.execute(select(events.c.id).where(events.c.created_at < before).limit(1))
        if oldest.first() is None:
            return 0
    total = 0
    for _ in range(max_batches):
        with transaction(engine, write=True) as conn:
            done = prune(conn, before=before, limit=batch)
        total += done
        if done < batch:
            break
    return total
