"""The one wall clock: UNIX seconds, injectable.

Every reader of wall time that decides something (deadlines, expiry, key use, account
age, idempotency windows, trust refreshes, demo data) asks a `Clock`: the app's is
`AppState.clock`, and the HTTP edge's `clock()` reads it. Tests move it (`set`,
`advance`, or `follow` a callable); nothing else calls `time.time()` for a decision.
Monotonic timers (rate-limit windows, timeouts, retry pauses) are not wall time and stay
on `time.monotonic`.
"""

from __future__ import annotations

import time
from collections.abc import Callable


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
