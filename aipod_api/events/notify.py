"""Waking the open event streams of this process when events commit, here or elsewhere.

A stream never polls the tables on its own clock; it sleeps until it is woken, then reads
(events/service.py `list_for_agent`, from its cursor). Wake-ups are hints — a reader
always reads the tables, so a spurious wake-up costs one read and a missed one only
delays an event until the next hint:

1. **This process** — `outbox.watch` calls `Hub.committed(note)` in the committing thread
   right after the commit; the streams of the agents the note names (every stream, for
   a discovery event) are woken.
2. **Other processes** — with `AIPOD_REDIS_URL` set, the same note is published on a
   Redis pub/sub channel (one per database) by a background thread (never by the
   request thread, so a commit never waits for Redis), and each process's subscriber
   thread wakes its own streams. Redis rather than PostgreSQL LISTEN/NOTIFY: the
   scale-out deployment has Redis already (shared rate limits, key cache); NOTIFY
   would take PostgreSQL's global notification-queue lock in every event-writing
   commit and need one more dedicated connection per process; and Redis works as well
   for several processes on one SQLite file.
3. **Safety net** — a poller thread reads the newest committed event id (one primary-key
   read per process every `AIPOD_EVENT_POLL_S`, however many streams are open) and
   wakes every stream when it moved without a hint: a lost Redis message, a writer in
   another process without Redis, a commit made outside `watch`.

The stream slots (`AIPOD_EVENT_STREAMS_PER_AGENT`, `AIPOD_EVENT_STREAMS_PER_PROCESS`) are
counted here too, per process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine

from aipod_api.core.db import transaction
from aipod_api.events import outbox
from aipod_api.events.service import latest_id

log = logging.getLogger("aipod_api")


@dataclass(eq=False)
class Subscriber:
    agent_id: str
    wake: Callable[[], None]


class Hub:
    def __init__(
        self,
        engine: Engine,
        *,
        redis_url: str | None,
        poll_s: float,
        per_agent: int,
        per_process: int,
    ) -> None:
        self.engine = engine
        self.redis_url = redis_url
        self.poll_s = poll_s
        self.per_agent = per_agent
        self.per_process = per_process
        self.channel = "aipod:events:" + hashlib.sha256(_where(engine).encode()).hexdigest()[:16]
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._slots: dict[str, int] = {}
        self._open = 0
        self._seen = 0  # the newest id any hint announced, or the poller read
        self._outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        outbox.watch(engine, self.committed)

    # --- slots ---------------------------------------------------------------------

    def acquire(self, agent_id: str) -> str | None:
        """Take a stream slot: None, or why not (`"agent"` / `"process"`)."""
        with self._lock:
            if self._open >= self.per_process:
                return "process"
            if self._slots.get(agent_id, 0) >= self.per_agent:
                return "agent"
            self._slots[agent_id] = self._slots.get(agent_id, 0) + 1
            self._open += 1
            return None

    def release(self, agent_id: str) -> None:
        with self._lock:
            left = self._slots.get(agent_id, 0) - 1
            if left > 0:
                self._slots[agent_id] = left
            else:
                self._slots.pop(agent_id, None)
            self._open = max(0, self._open - 1)

    @property
    def open_streams(self) -> int:
        return self._open

    # --- subscribers -------------------------------------------------------------------

    def subscribe(self, agent_id: str, wake: Callable[[], None]) -> Subscriber:
        sub = Subscriber(agent_id, wake)
        with self._lock:
            self._subscribers.add(sub)
        self._ensure_threads()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def _wake(self, agents: frozenset[str] | None, discovery: bool) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for sub in subs:
            if agents is None or discovery or sub.agent_id in agents:
                try:
                    sub.wake()
                except Exception:  # a stream whose loop has closed
                    log.debug("could not wake a stream", exc_info=True)

    # --- hints ------------------------------------------------------------------------

    def committed(self, note: outbox.Note) -> None:
        """After a commit in this process (outbox.watch)."""
        self._seen = max(self._seen, note.last_id)
        self._wake(note.agents, note.discovery)
        if self.redis_url is not None:
            message = {
                "pid": os.getpid(),  # now: an app built before a fork serves many
                "last": note.last_id,
                "agents": sorted(note.agents),
                "discovery": note.discovery,
            }
            self._outgoing.put(orjson.dumps(message))
            self._ensure_publisher()

    def _ensure_threads(self) -> None:
        if self._threads or self._stop.is_set():
            return
        with self._lock:
            if self._threads:
                return
            targets: list[tuple[str, Callable[[], None]]] = [("aipod-events-poll", self._poll)]
            if self.redis_url is not None:
                targets.append(("aipod-events-redis-sub", self._subscribe_redis))
            for name, target in targets:
                t = threading.Thread(target=target, name=name, daemon=True)
                t.start()
                self._threads.append(t)

    _publisher: threading.Thread | None = None

    def _ensure_publisher(self) -> None:
        if self._publisher is not None:
            return
        with self._lock:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish_redis, name="aipod-events-redis-pub", daemon=True
                )
                self._publisher.start()

    def _redis(self) -> Any:
        import redis

        assert self.redis_url is not None
        return redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)

    def _publish_redis(self) -> None:
        client = self._redis()
        while True:
            message = self._outgoing.get()
            if message is None:
                return
            try:
                client.publish(self.channel, message)
            except Exception:  # the poller still finds the event
                log.warning("could not publish an event hint to Redis", exc_info=True)

    def _subscribe_redis(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    hint = orjson.loads(message["data"])
                    if hint.get("pid") == os.getpid():
                        continue  # woken already, by `committed`
                    self._seen = max(self._seen, int(hint.get("last", 0)))
                    self._wake(frozenset(hint.get("agents") or ()), bool(hint.get("discovery")))
            except Exception:  # Redis away: the poller covers; retry shortly
                log.warning("event hint subscription failed; retrying", exc_info=True)
                self._stop.wait(1.0)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            if not self._subscribers:
                continue
            try:
                with transaction(self.engine, write=False) as conn:
                    newest = latest_id(conn)
            except Exception:
                log.warning("event poll failed", exc_info=True)
                continue
            if newest > self._seen:
                self._seen = newest
                self._wake(None, True)

    def stop(self) -> None:
        self._stop.set()
        self._outgoing.put(None)


def _where(engine: Engine) -> str:
    """The database, without credentials (names the Redis channel)."""
    url = engine.url
    return f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
