"""The background sweep: settle what the clock has decided (refund the escrow of open
tasks whose deadline has passed), and purge expired idempotency keys.

Reads never depend on this (an open task past its deadline *reads* as expired everywhere,
see `flows.Lifecycle.effective_status`); the sweep makes the money follow:

- `service.expire_due(conn, now=...)`: one conditional UPDATE per due task, refund only
  when it won — any number of sweepers, in any number of processes, racing with
  accept/cancel, refund each task exactly once. A batch skips tasks another transaction
  holds and locks the accounts it refunds in id order only after all its transitions
  (the lock order of wallet/ledger.py), so it cannot deadlock with single expiries,
  cancels or completes; a batch that still meets a deadlock is retried
  (`core.context.retrying`, inside `service.settle_due`).
- A daemon thread per process (`Sweeper`) runs it every `settings.sweep_interval_s` in its
  own short write transaction, started lazily by the first request of that process (so
  never in a pre-fork parent). It probes with a read transaction first and takes the
  write lock only when something is due.
- Each round also refreshes the stored trust scores that are due (`trust.scores`).
- The wallet reads (`GET /v1/wallet`, `GET /v1/transactions`) settle the caller's own due
  tasks first themselves (`service.settle_before_read`, called by wallet/service.py).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

from flask import Flask

from aipod_api.core.db import checkpoint, is_sqlite
from aipod_api.core.idempotency import purge_expired
from aipod_api.state import AppState
from aipod_api.tasks import service
from aipod_api.trust import scores as trust_scores

log = logging.getLogger("aipod_api")


CHECKPOINT_EVERY_S = 1.0


class Sweeper:
    """A daemon thread that settles expired escrow every `interval_s` seconds and, on
    SQLite, copies the write-ahead log back into the database every second (see
    `core.db.checkpoint`)."""

    def __init__(self, st: AppState, interval_s: float) -> None:
        self._state = weakref.ref(st)  # the thread ends once its app is gone
        self.interval_s = interval_s
        self.enabled = True
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure_started(self) -> None:
        if self._thread is not None or not self.enabled:
            return
        with self._lock:
            if self._thread is None and self.enabled:
                self._thread = threading.Thread(
                    target=self._run, name="aipod-expiry-sweep", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self.enabled = False
        self._stop.set()

    def run_once(self) -> int:
        st = self._state()
        if st is None:
            self._stop.set()
            return 0
        return service.settle_due(st.engine, now=st.now())

    def purge_once(self) -> int:
        """Delete expired idempotency keys (core/idempotency.py)."""
        st = self._state()
        if st is None:
            return 0
        return purge_expired(st.engine, now=st.now())

    def refresh_scores(self) -> int:
        """Refresh the stored trust scores that are due (aipod_api/trust/scores.py)."""
        st = self._state()
        if st is None:
            return 0
        return trust_scores.settle_due(st.engine, now=st.now())

    def _run(self) -> None:
        tick = min(self.interval_s, CHECKPOINT_EVERY_S)
        next_sweep = time.monotonic() + self.interval_s
        while not self._stop.wait(tick):
            st = self._state()
            if st is None:
                return
            if is_sqlite(st.engine):
                try:
                    checkpoint(st.engine)
                except Exception:  # the next tick retries; SQLite's own fallback remains
                    log.warning("WAL checkpoint failed", exc_info=True)
            del st
            if time.monotonic() < next_sweep:
                continue
            next_sweep = time.monotonic() + self.interval_s
            try:
                settled = self.run_once()
                if settled:
                    log.info("expiry sweep settled %d task(s)", settled)
            except Exception:  # keep sweeping; the next round retries
                log.warning("expiry sweep failed", exc_info=True)
            try:
                self.purge_once()
            except Exception:  # the next round retries
                log.warning("idempotency key purge failed", exc_info=True)
            try:
                self.refresh_scores()
            except Exception:  # the next round (or the next list request) retries
                log.warning("trust refresh failed", exc_info=True)


def install(app: Flask) -> None:
    """Wire the sweep into an app: the thread starts with the process's first request."""
    st: AppState = app.extensions["aipod"]
    sweeper = Sweeper(st, st.settings.sweep_interval_s)
    st.sweeper = sweeper

    @app.before_request
    def _sweep_hooks() -> None:
        sweeper.ensure_started()
