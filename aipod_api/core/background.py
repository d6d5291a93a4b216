"""Periodic background work: one daemon thread running jobs at their intervals.

Started lazily (`ensure_started`, by the first request of a process, so never in a
pre-fork parent). A job that fails is logged and run again at its next turn. The thread
ends on `stop()` or once `alive()` answers False (its application is gone: the runner
holds no reference to it). The app's runner (`AppState.background`) carries the SQLite
WAL checkpoint (`checkpoint_job`, every second) and the domains' jobs (the expiry sweep,
tasks/sweep.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from aipod_api.core.db import checkpoint, is_sqlite

log = logging.getLogger("aipod_api")

CHECKPOINT_EVERY_S = 1.0


@dataclass
class _Job:
    name: str
    interval_s: float
    run: Callable[[], object]
    final: bool = False
    next_at: float = 0.0


class Periodic:
    def __init__(self, name: str, *, alive: Callable[[], bool] = lambda: True) -> None:
        self.name = name
        self.alive = alive
        self.enabled = True
        self._jobs: list[_Job] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def every(
        self, interval_s: float, name: str, run: Callable[[], object], *, final: bool = False
    ) -> None:
        """Run `run()` every `interval_s` seconds (first after one interval), in the
        order registered when several are due on the same tick; with `final`, once more
        when the thread is stopped (what the last turn left)."""
        if self._thread is not None:
            raise RuntimeError("register jobs before the thread starts")
        self._jobs.append(_Job(name, interval_s, run, final))

    @property
    def running(self) -> bool:
        """Whether the thread is running (so a job will run within its interval)."""
        t = self._thread
        return self.enabled and t is not None and t.is_alive()

    def ensure_started(self) -> None:
        if self._thread is not None or not self.enabled or not self._jobs:
            return
        with self._lock:
            if self._thread is None and self.enabled:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self.enabled = False
        self._stop.set()

    def _run(self) -> None:
        tick = min(job.interval_s for job in self._jobs)
        start = time.monotonic()
        for job in self._jobs:
            job.next_at = start + job.interval_s
        while not self._stop.wait(tick):
            if not self.alive():
                return
            now = time.monotonic()
            for job in self._jobs:
                if now < job.next_at:
                    continue
                job.next_at = now + job.interval_s
                self._run_job(job)
        for job in self._jobs:
            if job.final:
                self._run_job(job)

    @staticmethod
    def _run_job(job: _Job) -> None:
        try:
            job.run()
        except Exception:  # the next turn retries
            log.warning("%s failed", job.name, exc_info=True)


def checkpoint_job(engine: Engine) -> Callable[[], object] | None:
    """SQLite: copy committed WAL frames into the database file in the background, so
    committing requests do not pay for it (SQLite's automatic checkpoint stays as a
    backstop). None for other databases."""
    if not is_sqlite(engine):
        return None
    return lambda: checkpoint(engine)
