"""The one wall clock: UNIX seconds, injectable.

Every reader of wall time that decides something (deadlines, expiry, key use, account
age, idempotency windows, trust refreshes, demo data) asks a `Clock`: the app's is
`AppState.clock`, and the HTTP edge's `clock()` reads it. Tests move it (`set`,
`advance`, or `follow` a callable); nothing else calls `time.time()` for a decision.
Monotonic timers (rate-limit windows, timeouts, retry pauses) are not wall time and stay
on `time.monotonic`; the envelope's `timestamp` (`utc_timestamp`) says when the answer
was written, so it is the system's time, as are the Redis rate-limit windows (kept by the
`limits` library on its own clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    """UNIX seconds: the system's, or whatever a test makes it."""

    __slots__ = ("_source",)

    def __init__(self, source: Callable[[], float] | None = None) -> None:
        self._source = source

    def now(self) -> int:
        source = self._source
        return int(time.time()) if source is None else int(source())

    def set(self, seconds: float) -> None:
        """Stop the clock at `seconds`."""
        fixed = float(seconds)
        self._source = lambda: fixed

    def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds` (stopping it there)."""
        self.set(self.now() + seconds)

    def follow(self, source: Callable[[], float] | None) -> None:
        """Read the time from `source` (None: the system clock again)."""
        self._source = source


_last_stamp: tuple[int, str] = (0, "")


def utc_timestamp() -> str:
    """The system's time as ISO 8601 UTC at second precision (the envelope's `timestamp`),
    formatted once per second (a racing thread just formats too)."""
    global _last_stamp
    now = int(time.time())
    second, text = _last_stamp
    if second != now:
        text = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_stamp = (now, text)
    return text
