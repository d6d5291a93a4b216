"""`GET /v1/events/stream`: Server-Sent Events, without a thread per stream.

Wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html):

    : connected                      (a comment, at once: the stream is open)

    id: 42                           (the cursor: resume with `Last-Event-ID: 42`)
    event: task.accepted
    data: {"id": 42, "type": "task.accepted", "created_at": "...", "data": {...}}

    : heartbeat                      (every AIPOD_EVENT_HEARTBEAT_S without an event)

    id: 57                           (no data: moves the client's last event id past
                                      events it may not see, dispatches nothing)

Under `python -m aipod_api.server` (granian RSGI, core/rsgi.py) the view only opens the
stream — authentication, limits, the cursor, a stream slot — in an ordinary request,
and hands an `EventStream` to the bridge. The bridge runs `serve()` on the event loop:
while the stream waits it holds no thread, no execution lock and no database
connection; each time it is woken (events/notify.py) it borrows a thread for one read
(`list_for_agent`, a short read taking the execution lock like a request) and writes the
events on the loop. A stream ends when the client goes away, after
AIPOD_EVENT_STREAM_MAX_S (the client resumes with `Last-Event-ID`; the key is checked
again then), or when the server stops.

Under another WSGI server (gunicorn `aipod_api.wsgi:app`) there is no event loop to
park a stream on: `iterate()` serves it from the request's thread, which it holds for
the stream's lifetime. That fallback is bounded — at most AIPOD_EVENT_WSGI_STREAMS
streams per process (beyond: 429 `too_many_streams`), each closed after
AIPOD_EVENT_WSGI_STREAM_S seconds (the client resumes with `Last-Event-ID`) — so
streams can never take every thread; use the default server for many streams.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson

from aipod_api.events.notify import Hub
from aipod_api.events.service import EventRecord, Feed

log = logging.getLogger("aipod_api")

CONNECTED = ": connected\n\n"
HEARTBEAT = ": heartbeat\n\n"
READ_LIMIT = 100

RunBlocking = Callable[[Callable[[int], Feed], int], Awaitable[Feed]]


def format_event(record: EventRecord) -> str:
    data = orjson.dumps(record.public()).decode()
    return f"id: {record.id}\nevent: {record.type}\ndata: {data}\n\n"


def format_cursor(cursor: int) -> str:
    return f"id: {cursor}\n\n"


class EventStream:
    """One open stream: the agent, its cursor and a `read(after) -> Feed` (blocking, run
    in a borrowed thread), holding one of the hub's slots until `close()`."""

    def __init__(
        self,
        *,
        hub: Hub,
        agent_id: str,
        cursor: int,
        read: Callable[[int], Feed],
        heartbeat_s: float,
        max_s: float,
    ) -> None:
        self.hub = hub
        self.agent_id = agent_id
        self.cursor = cursor
        self.sent = cursor  # the last id the client has been told
        self.read = read
        self.heartbeat_s = heartbeat_s
        self.max_s = max_s
        self._closed = False
        self._close_lock = threading.Lock()
        self._shutdown: Callable[[], None] | None = None

    def close(self) -> None:
        """Give the slot back (once)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.hub.release(self.agent_id)

    def shutdown(self) -> None:
        """The server is stopping: end the stream at its next wake-up (any thread)."""
        self.max_s = 0
        wake = self._shutdown
        if wake is not None:
            wake()

    def _chunks(self, feed: Feed) -> list[str]:
        out = [format_event(e) for e in feed.items]
        self.cursor = feed.cursor
        if feed.items:
            self.sent = feed.items[-1].id
        if self.cursor > self.sent and len(feed.items) < READ_LIMIT:
            out.append(format_cursor(self.cursor))
            self.sent = self.cursor
        return out

    # --- on the event loop (RSGI) ----------------------------------------------------------

    async def serve(self, proto: Any, headers: list[tuple[str, str]], run: RunBlocking) -> None:
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        self._shutdown = wake
        sub = self.hub.subscribe(self.agent_id, wake)
        gone: asyncio.Future[Any] | None = None
        try:
            transport = proto.response_stream(200, headers)
            disconnect = getattr(proto, "client_disconnect", None)
            if disconnect is not None:
                gone = asyncio.ensure_future(disconnect())
            await transport.send_str(CONNECTED)
            deadline = time.monotonic() + self.max_s
            while gone is None or not gone.done():
                woken.clear()
                feed = await run(self.read, self.cursor)
                chunks = self._chunks(feed)
                if chunks:
                    await transport.send_str("".join(chunks))
                if len(feed.items) >= READ_LIMIT:
                    continue  # more to read at once
                left = deadline - time.monotonic()
                if left <= 0 or self.max_s <= 0:
                    return
                woke = await self._wait(woken, gone, min(self.heartbeat_s, left))
                if not woke and time.monotonic() < deadline:
                    await transport.send_str(HEARTBEAT)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # the client went away mid-write, or a read failed
            if not _closed_error(exc):
                log.warning("event stream ended by an error", exc_info=True)
        finally:
            self.hub.unsubscribe(sub)
            self._shutdown = None
            if gone is not None and not gone.done():
                gone.cancel()
            self.close()

    @staticmethod
    async def _wait(woken: asyncio.Event, gone: asyncio.Future[Any] | None, timeout: float) -> bool:
        """True when woken (or the client left) before `timeout`."""
        waiter = asyncio.ensure_future(woken.wait())
        pending: set[asyncio.Future[Any]] = {waiter}
        if gone is not None:
            pending.add(gone)
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
        return bool(done)

    # --- in a WSGI server's thread (the bounded fallback) ---------------------------------

    def iterate(self) -> Iterator[bytes]:
        woken = threading.Event()
        self._shutdown = woken.set
        sub = self.hub.subscribe(self.agent_id, woken.set)
        try:
            yield CONNECTED.encode()
            deadline = time.monotonic() + self.max_s
            while True:
                woken.clear()
                feed = self.read(self.cursor)
                chunks = self._chunks(feed)
                if chunks:
                    yield "".join(chunks).encode()
                if len(feed.items) >= READ_LIMIT:
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self.max_s <= 0:
                    return
                if not woken.wait(min(self.heartbeat_s, left)) and time.monotonic() < deadline:
                    yield HEARTBEAT.encode()
        finally:
            self.hub.unsubscribe(sub)
            self._shutdown = None
            self.close()


def _closed_error(exc: BaseException) -> bool:
    name = type(exc).__name__
    return "ProtocolClosed" in name or isinstance(exc, ConnectionError | OSError)
