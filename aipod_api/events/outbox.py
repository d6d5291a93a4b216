"""The transactional outbox: events are written by the transaction that makes the change.

`emit(conn, type=..., data=..., recipients=..., now=...)` records an event on the
connection's current transaction. Nothing is written yet: the events of a transaction
are inserted when it commits, by a listener on SQLAlchemy's `commit` event (registered
for every `Engine`), right before the database commit, in the same transaction. So:

- a committed change always has its events, a rolled-back one never has them (the
  listener on `rollback` drops what was pending; an error while inserting them fails
  the commit, and the change with it);
- ids are handed out at that point from the one-row `event_clock`
  (`UPDATE event_clock SET last_id = last_id + n RETURNING last_id`). On PostgreSQL the
  UPDATE holds that row's lock until the commit, so a transaction can only take ids
  after every earlier holder has committed or rolled back (a rolled-back UPDATE hands
  the same ids out again): ids are gapless and in commit order. A reader that has seen
  id N can never later meet an id below N committing — the cursor never skips. On
  SQLite writers are serialised anyway. The clock is the *last* lock such a
  transaction takes (every other lock is taken before the commit), so it adds no
  deadlock; its cost is that event-writing commits queue on it for the length of the
  inserts and the commit itself.
- every commit that wrote events leaves a `Note` (the last id, who may see them, and
  whether one is a discovery event) on the connection; `watch(engine, callback)` calls
  `callback(note)` when the connection goes back to the pool, i.e. after the commit
  (events/notify.py wakes the streams with it, webhooks/worker.py its coordinator). A
  note is a hint only: readers always read the tables.

Framework-free; the reads are events/service.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, Engine, Table, bindparam, event, insert, update

from aipod_api.core.prepared import Prepared
from aipod_api.events.tables import TYPE_LENGTH, event_clock, event_inbox, event_topics, events

PENDING = "aipod_events_pending"
NOTE = "aipod_events_note"
ALL_TOPIC = "*"

# Every event type, dot-separated. The task lifecycle's types come from the transition
# table (tasks/flows.py registers them); the others are listed here.
TYPES: dict[str, None] = dict.fromkeys(
    (
        "rating.created",
        "memory.shared",
        "wallet.credited",
        "wallet.debited",
        "webhook.test",
        "webhook.disabled",
    )
)
DISCOVERY_TYPE = "task.published"


def register_types(*names: str) -> None:
    for name in names:
        if len(name) > TYPE_LENGTH or "." not in name:
            raise ValueError(f"not an event type: {name!r}")
        TYPES.setdefault(name)


@dataclass(frozen=True)
class Discovery:
    """A `task.published` event is also offered to every agent eligible to accept the
    task (checked at read time); `capabilities` are the task's required ones."""

    task_seq: int
    capabilities: Sequence[str] = ()

    @property
    def topic(self) -> str:
        return min(self.capabilities) if self.capabilities else ALL_TOPIC


@dataclass(frozen=True)
class _Event:
    type: str
    created_at: int
    data: str
    recipients: tuple[str, ...]
    discovery: Discovery | None


@dataclass
class _Pending:
    transaction: Any
    events: list[_Event] = field(default_factory=list)


@dataclass(frozen=True)
class Note:
    """What a commit wrote: its last event id, the agents its targeted events are for,
    and whether it wrote a discovery event (which any agent may be eligible for)."""

    last_id: int
    agents: frozenset[str]
    discovery: bool


def emit(
    conn: Connection,
    *,
    type: str,
    data: Mapping[str, Any],
    recipients: Iterable[str | None],
    now: int,
    discovery: Discovery | None = None,
) -> None:
    """Record an event in `conn`'s current transaction (written when it commits).

    `data`: the payload, JSON-serialisable (the resource as its API shows it).
    `recipients`: the agents that see it (None and repeats are dropped). `discovery`:
    for `task.published`, also offered to the agents eligible to accept the task."""
    if type not in TYPES:
        raise ValueError(f"unknown event type: {type!r}")
    if discovery is not None and type != DISCOVERY_TYPE:
        raise ValueError(f"only {DISCOVERY_TYPE} events are offered for discovery")
    transaction = conn.get_transaction()
    if transaction is None:
        raise RuntimeError("events are emitted inside a transaction")
    pending: _Pending | None = conn.info.get(PENDING)
    if pending is None or pending.transaction is not transaction:
        pending = conn.info[PENDING] = _Pending(transaction)
    who = tuple(dict.fromkeys(r for r in recipients if r is not None))
    pending.events.append(
        _Event(
            type=type,
            created_at=int(now),
            data=orjson.dumps(data).decode(),
            recipients=who,
            discovery=discovery,
        )
    )


def pending_count(conn: Connection) -> int:
    """Events emitted in `conn`'s current transaction and not yet written (tests)."""
    pending: _Pending | None = conn.info.get(PENDING)
    if pending is None or pending.transaction is not conn.get_transaction():
        return 0
    return len(pending.events)


_ADVANCE = Prepared(
    update(event_clock)
    .where(event_clock.c.id == 1)
    .values(last_id=event_clock.c.last_id + bindparam("n", type_=BigInteger))
    .returning(event_clock.c.last_id)
)

# A commit's rows of one table go in as ONE multi-row INSERT, prepared once per (table,
# row count) up to this many rows (a transition writes 1-3 events for 2-4 inbox rows);
# more rows are an executemany.
_MAX_PREPARED_ROWS = 16
_INSERTS: dict[tuple[str, int], Prepared] = {}


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    n = len(rows)
    if n > _MAX_PREPARED_ROWS:
        conn.execute(insert(table), rows)
        return
    stmt = _INSERTS.get((table.name, n))
    if stmt is None:
        columns = tuple(rows[0])
        values = [
            {c: bindparam(f"{c}_{i}", type_=table.c[c].type) for c in columns} for i in range(n)
        ]
        stmt = _INSERTS.setdefault((table.name, n), Prepared(insert(table).values(values)))
    stmt.execute(conn, {f"{c}_{i}": v for i, row in enumerate(rows) for c, v in row.items()})


def _write(conn: Connection, batch: list[_Event]) -> Note:
    last = int(_ADVANCE.execute(conn, {"n": len(batch)}).scalar_one())
    first = last - len(batch) + 1
    rows: list[dict[str, Any]] = []
    inbox: list[dict[str, Any]] = []
    topics: list[dict[str, Any]] = []
    for offset, ev in enumerate(batch):
        event_id = first + offset
        rows.append({"id": event_id, "type": ev.type, "created_at": ev.created_at, "data": ev.data})
        inbox.extend({"agent_id": a, "event_id": event_id, "type": ev.type} for a in ev.recipients)
        if ev.discovery is not None:
            topics.append(
                {
                    "topic": ev.discovery.topic,
                    "event_id": event_id,
                    "task_seq": ev.discovery.task_seq,
                }
            )
    _insert_rows(conn, events, rows)
    if inbox:
        _insert_rows(conn, event_inbox, inbox)
    if topics:
        _insert_rows(conn, event_topics, topics)
    return Note(
        last_id=last,
        agents=frozenset(a for ev in batch for a in ev.recipients),
        discovery=bool(topics),
    )


@event.listens_for(Engine, "commit")
def _flush_on_commit(conn: Connection) -> None:
    pending: _Pending | None = conn.info.pop(PENDING, None)
    if pending is None or not pending.events:
        return
    if pending.transaction is not conn.get_transaction():
        return  # left over from a transaction that ended without a rollback event
    conn.info[NOTE] = _write(conn, pending.events)


@event.listens_for(Engine, "rollback")
def _drop_on_rollback(conn: Connection) -> None:
    conn.info.pop(PENDING, None)
    conn.info.pop(NOTE, None)


# On each watched pool: the callbacks `watch` registered (one checkin listener calls them
# all). Kept on the pool itself, not in a module-level map, so an engine that is dropped
# is collected with its watchers (they refer back to it).
WATCHERS_ATTR = "_aipod_event_watchers"


def watch(engine: Engine, callback: Callable[[Note], None]) -> None:
    """Call `callback(note)` (in the committing thread) once a connection that committed
    events is returned to `engine`'s pool: after its commit. Several callbacks may watch
    one engine (the event streams' hub, the webhook worker); each sees every note."""
    pool = engine.pool
    callbacks: list[Callable[[Note], None]] | None = getattr(pool, WATCHERS_ATTR, None)
    if callbacks is None:
        callbacks = []
        setattr(pool, WATCHERS_ATTR, callbacks)
        registered = callbacks

        def _checkin(_dbapi_conn: Any, record: Any) -> None:
            info = getattr(record, "info", None)
            if not info:
                return
            note: Note | None = info.pop(NOTE, None)
            if note is not None:
                for notify in registered:
                    notify(note)

        event.listen(pool, "checkin", _checkin)
    callbacks.append(callback)
