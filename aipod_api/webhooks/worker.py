"""The delivery worker: background threads per process, never inside a request.

- A coordinator thread wakes after every local commit that wrote events, after a
  webhook route's write (a replay), when a send finished, when the next retry is due,
  and at the latest every `AIPOD_WEBHOOK_POLL_S` (events committed by other processes).
  It probes with a read first; only when something is to be done does it open one short
  write transaction that fans new events out into deliveries (`service.dispatch`) and
  leases due webhooks (`service.claim`, `FOR UPDATE SKIP LOCKED` on PostgreSQL).
- `AIPOD_WEBHOOK_CONCURRENCY` sender threads take the leased deliveries from a queue;
  each sends *outside any transaction* (and never holding the SQLite execution lock, which
  only request threads take), then records the outcome in another short write
  transaction, which may hand it the same webhook's next delivery at once.
- A webhook is sent by one thread at a time (the lease), in order; a slow receiver holds
  one sender thread for at most `AIPOD_WEBHOOK_TIMEOUT_S` and never the others. A worker
  killed mid-send leaves a lease that runs out after `AIPOD_WEBHOOK_LEASE_S`; then any
  worker sends that delivery again (at least once, with the same `webhook-id`).

Started by the process's first request, like the expiry sweep (never before granian
forks); `AIPOD_WEBHOOK_DELIVERY=0` keeps a process from sending.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
import weakref
from typing import Any

from flask import Flask

from aipod_api.core.db import transaction
from aipod_api.events import outbox
from aipod_api.state import AppState
from aipod_api.webhooks import sender, service, signing

log = logging.getLogger("aipod_api")

PURGE_EVERY_S = 60.0
MIN_WAIT_S = 0.002
# Rounds start at most this often. Every writing request wakes the coordinator; under a
# stream of writes each wake cost a probe round (two reads, ~100 µs of CPU, and the GIL
# taken from the request threads: +240 µs per POST /v1/tasks in process). A wake that
# comes sooner after the last round waits out the rest of this: a burst of commits
# costs one round per 10 ms; an event is dispatched at once when no round ran in the
# last 10 ms, else at most 10 ms later (bench/webhook_latency.py, 40 sequential events:
# p50 30 -> 36 ms, within its run-to-run spread; a burst of 40: p99 835 -> 696 ms).
MIN_ROUND_S = 0.010


class WebhookWorker:
    def __init__(self, st: AppState) -> None:
        self._state = weakref.ref(st)
        settings = st.settings
        self.enabled = settings.webhook_delivery
        self.concurrency = settings.webhook_concurrency
        self.poll_s = settings.webhook_poll_s
        # A lease outlives the longest attempt (connect + timeout, and a margin for the
        # record), so a live worker never loses it mid-send.
        longest_s = settings.webhook_connect_timeout_s + settings.webhook_timeout_s + 5
        self.lease_ms = int(max(settings.webhook_lease_s, longest_s) * 1000)
        self.delays = settings.webhook_delays_s
        self.max_failures = settings.webhook_max_failures
        self.allow_private = settings.webhook_allow_private
        self.timeout_s = settings.webhook_timeout_s
        self.connect_timeout_s = settings.webhook_connect_timeout_s
        self.retention_s = int(settings.event_retention_days * 86_400)
        self.owner = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._busy = 0
        self._jobs: queue.Queue[service.Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._next_purge = 0.0

    # --- life cycle ---

    def ensure_started(self) -> None:
        if self._threads or not self.enabled:
            return
        with self._lock:
            if self._threads or not self.enabled:
                return
            # A lease owner names this process (and this start, should a pid be reused).
            self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
            threads = [threading.Thread(target=self._run, name="aipod-webhooks", daemon=True)]
            threads += [
                threading.Thread(target=self._send_loop, name=f"aipod-webhook-{i}", daemon=True)
                for i in range(self.concurrency)
            ]
            for thread in threads:
                thread.start()
            self._threads = threads

    def stop(self) -> None:
        self.enabled = False
        self._stop.set()
        self._wake.set()
        for _ in range(self.concurrency):
            self._jobs.put(None)

    def nudge(self, *_args: Any) -> None:
        """Look for work now (cheap: sets an event)."""
        self._wake.set()

    # --- coordinator ---

    def _run(self) -> None:
        wait_s = 0.0
        last_round = -MIN_ROUND_S
        while not self._stop.is_set():
            self._wake.wait(wait_s)
            early = last_round + MIN_ROUND_S - time.monotonic()
            if early > 0 and self._stop.wait(early):
                return
            self._wake.clear()
            if self._stop.is_set():
                return
            last_round = time.monotonic()
            try:
                wait_s = self.tick()
            except Exception:  # keep going; the next round retries
                log.warning("webhook round failed", exc_info=True)
                wait_s = self.poll_s

    def tick(self) -> float:
        """One round; returns how long to sleep before the next one (unless woken)."""
        st = self._state()
        if st is None:
            self._stop.set()
            return 0.0
        engine = st.engine
        now = st.now()
        now_ms = int(time.time() * 1000)
        with self._lock:
            free = self.concurrency - self._busy
        with transaction(engine, write=False) as conn:
            behind = service.has_undispatched(conn)
            due = service.next_due_ms(conn)
        jobs: list[service.Job] = []
        if behind or (free > 0 and due is not None and due <= now_ms):
            with transaction(engine, write=True) as conn:
                if behind:
                    service.dispatch(conn, now=now, first_delay_s=self.delays[0])
                if free > 0:
                    jobs = service.claim(
                        conn, owner=self.owner, now_ms=now_ms, lease_ms=self.lease_ms, limit=free
                    )
            with self._lock:
                self._busy += len(jobs)
            for job in jobs:
                self._jobs.put(job)
            if behind:
                return 0.0  # more may be waiting (a full batch)
            with transaction(engine, write=False) as conn:
                due = service.next_due_ms(conn)
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            with transaction(engine, write=True) as conn:
                service.purge(conn, before=now - self.retention_s)
        del st
        if due is None:
            return self.poll_s
        return min(self.poll_s, max(MIN_WAIT_S, (due - int(time.time() * 1000)) / 1000))

    # --- senders ---

    def _send_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._send_all(job)
            except Exception:
                log.warning("webhook delivery failed to record", exc_info=True)
            finally:
                with self._lock:
                    self._busy -= 1
                self._wake.set()

    def _send_all(self, first: service.Job) -> None:
        job: service.Job | None = first
        while job is not None and not self._stop.is_set():
            outcome = self.send(job)
            st = self._state()
            if st is None:
                return
            with transaction(st.engine, write=True) as conn:
                job = service.record(
                    conn,
                    owner=self.owner,
                    job=job,
                    outcome=outcome,
                    now_ms=int(time.time() * 1000),
                    delays=self.delays,
                    max_failures=self.max_failures,
                    lease_ms=self.lease_ms,
                )
            del st

    def send(self, job: service.Job) -> sender.Outcome:
        """One attempt, outside any transaction: signed at the moment it is sent."""
        timestamp = int(time.time())
        headers = signing.headers(
            list(job.secrets), msg_id=job.msg_id, timestamp=timestamp, body=job.payload
        )
        return sender.post(
            job.url,
            job.payload,
            headers,
            allow_private=self.allow_private,
            connect_timeout_s=self.connect_timeout_s,
            timeout_s=self.timeout_s,
        )


def install(app: Flask) -> None:
    """Wire the worker into an app: it starts with the process's first request (the app's
    start-up hook, app.py `_start_background`) and is woken by every local commit that
    wrote events (`outbox.watch`: when the connection goes back to the pool, i.e. after
    the commit, so the round it wakes sees them), by the webhook routes' own writes (a
    replay, an update: views.py), and by the poll (events committed by other processes).
    No per-request hook: a request that writes no event costs the worker nothing."""
    st: AppState = app.extensions["aipod"]
    worker = WebhookWorker(st)
    st.webhook_worker = worker
    if worker.enabled:
        outbox.watch(st.engine, worker.nudge)
