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
  (`core.db.retrying`, inside `service.settle_due`).
- The app's background thread (`core.background.Periodic`, `AppState.background`) runs it
  every `settings.sweep_interval_s` in its own short write transaction, started lazily by
  the first request of that process (so never in a pre-fork parent). It probes with a
  read transaction first and takes the write lock only when something is due.
- Each round also refreshes the stored trust scores that are due (`trust.scores`) and
  deletes events older than `settings.event_retention_days` (`events.service.prune_expired`,
  in batches of short write transactions).
- The wallet reads (`GET /v1/wallet`, `GET /v1/transactions`) settle the caller's own due
  tasks first themselves (`service.settle_before_read`, called by wallet/service.py).
"""

from __future__ import annotations

import logging
import weakref

from aipod_api.core.background import Periodic
from aipod_api.core.idempotency import purge_expired
from aipod_api.events import service as events_service
from aipod_api.state import AppState
from aipod_api.tasks import service
from aipod_api.trust import scores as trust_scores

log = logging.getLogger("aipod_api")


class Sweeper:
    """Settles expired escrow, purges expired idempotency keys and refreshes due trust
    scores every `interval_s` seconds, on `runner` (the app's background thread, shared
    with core's jobs such as the WAL checkpoint) or on a thread of its own."""

    def __init__(self, st: AppState, interval_s: float, *, runner: Periodic | None = None) -> None:
        self._state = weakref.ref(st)  # the thread ends once its app is gone
        self.interval_s = interval_s
        self.runner = runner or Periodic("aipod-expiry-sweep", alive=self._alive)
        self.runner.every(interval_s, "expiry sweep", self._settle)
        self.runner.every(interval_s, "idempotency key purge", self.purge_once)
        self.runner.every(interval_s, "trust refresh", self.refresh_scores)
        self.runner.every(interval_s, "event pruning", self.prune_events)

    def _alive(self) -> bool:
        return self._state() is not None

    @property
    def enabled(self) -> bool:
        return self.runner.enabled

    @property
    def running(self) -> bool:
        return self.runner.running

    def ensure_started(self) -> None:
        self.runner.ensure_started()

    def stop(self) -> None:
        """Stop the thread (the app's: its other jobs too)."""
        self.runner.stop()

    def run_once(self) -> int:
        st = self._state()
        if st is None:
            return 0
        return service.settle_due(st.engine, now=st.now())

    def _settle(self) -> None:
        settled = self.run_once()
        if settled:
            log.info("expiry sweep settled %d task(s)", settled)

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

    def prune_events(self) -> int:
        """Delete events past the retention period (aipod_api/events/service.py)."""
        st = self._state()
        if st is None:
            return 0
        retention_s = int(st.settings.event_retention_days * 86_400)
        return events_service.prune_expired(st.engine, now=st.now(), retention_s=retention_s)


def install(st: AppState) -> Sweeper:
    """The app's sweep, on its background thread (started by the first request)."""
    sweeper = Sweeper(st, st.settings.sweep_interval_s, runner=st.background)
    st.sweeper = sweeper
    return sweeper
