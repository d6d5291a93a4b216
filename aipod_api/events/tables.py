"""Event tables on the shared metadata (migration 0010; see events/outbox.py).

- `events`: one row per event. `id` is the cursor: assigned at commit from
  `event_clock` (never by a sequence), so ids are gapless and in commit order.
  `data` is the JSON payload (the resource as its API shows it).
- `event_inbox`: who may see a targeted event, one row per recipient, keyed
  (agent_id, event_id) so a reader's page is one index range of its own rows.
  `type` is copied from the event so a `types=` filter needs no join.
- `event_topics`: the discovery feed. One row per `task.published` event, under one
  topic: the task's first required capability (sorted), or `*` for a task that needs
  none. A reader scans `*` and its own capabilities' topics and keeps the tasks that
  are open and that it is eligible to accept *at read time*.
- `event_clock`: one row holding the last id handed out.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from aipod_api.core.tables import metadata

TYPE_LENGTH = 40

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(TYPE_LENGTH), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
)
Index("ix_events_created_at", events.c.created_at)

event_inbox = Table(
    "event_inbox",
    metadata,
    Column("agent_id", String(32), primary_key=True),
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(TYPE_LENGTH), nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_event_inbox_event_id", event_inbox.c.event_id)

event_topics = Table(
    "event_topics",
    metadata,
    Column("topic", String(64), primary_key=True),
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("task_seq", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_event_topics_event_id", event_topics.c.event_id)

event_clock = Table(
    "event_clock",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
)
