"""One request runs Python at a time per process; blocking waits let the next one in.

Why: on SQLite the database work happens inside the process, and CPython's sqlite3
module releases the GIL around every `sqlite3_step` (once per row fetched). With many
request threads, each release hands the GIL to another thread and the first must wait
to get it back — a convoy of context switches. Measured on 2 cores (GET /v1/agents/{id},
wrk -c8): 6,258 req/s with 1 thread, 4,976 with 2, 3,489 with 4, 2,796 with 16; the bare
Flask ceiling barely moves (11.6k at 2 and 4 threads). Python threads never run Python
in parallel anyway, so nothing is lost by letting one request run at a time: the lock
turns a dozen GIL hand-offs per request into one.

What keeps the threads useful: every wait that can be long releases the lock while
waiting (`blocking()`): argon2 password hashing, the SQLite writer queue, a write's
COMMIT (the WAL's fsync, core/db.py), the test-only sleep. The request body is read
before the lock is taken, so a slow upload never holds it: by the RSGI bridge on the
event loop under `python -m aipod_api.server` (no thread is held either, core/rsgi.py),
by `SerializedApp` under other WSGI servers. Other threads (the expiry sweep) never
take it.

Used on SQLite (`AIPOD_EXEC_LOCK=auto`, the default); off on PostgreSQL, where a request
waits on the network for every statement and threads overlap those waits.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_current = threading.local()  # the ExecutionLock this thread holds, if any


class ExecutionLock:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> None:
        self._lock.acquire()
        _current.lock = self

    def release(self) -> None:
        _current.lock = None
        self._lock.release()


@contextmanager
def blocking() -> Iterator[None]:
    """Around a wait that may be long: let other requests run meanwhile."""
    held: ExecutionLock | None = getattr(_current, "lock", None)
    if held is None:
        yield
        return
    held.release()
    try:
        yield
    finally:
        held.acquire()


class SerializedApp:
    """WSGI middleware: the wrapped app runs holding the process's execution lock."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], lock: ExecutionLock, *, max_body: int
    ) -> None:
        self.app = app
        self.lock = lock
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self._buffer_body(environ)
        self.lock.acquire()
        try:
            return self.app(environ, start_response)
        finally:
            self.lock.release()

    def _buffer_body(self, environ: dict[str, Any]) -> None:
        """Read the body (up to the size limit) before taking the lock.

        Under `python -m aipod_api.server` the RSGI bridge (core/rsgi.py) has read it
        already, on the event loop. Under another WSGI server, the read still waits in
        that server's thread, but never while holding the lock."""
        if environ.get("aipod.body_buffered"):
            return
        stream = environ.get("wsgi.input")
        if stream is None:
            return
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return  # Flask answers the malformed header
        if 0 < length <= self.max_body:
            environ["wsgi.input"] = io.BytesIO(stream.read(length))
        elif not length and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # A chunked body: one byte more than the limit is enough for Flask's 413.
            data = stream.read(self.max_body + 1)
            environ["wsgi.input"] = io.BytesIO(data)
