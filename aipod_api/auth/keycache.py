"""API-key lookups, with a cache that still honours revocation at once.

Principals are cached in-process for `ttl_s` seconds (bounded to `max_entries`), so an
authenticated request needs no database round trip for its key:

- Without Redis the server runs one process (`--workers > 1` requires Redis), and every
  revocation goes through `revoked()` once its transaction has committed, which drops the
  entry before the revoking request even answers. A local generation counter closes the
  race with a lookup that read the key from the database just before the revocation
  committed: such a lookup does not store its (stale) result.
- With Redis a revocation generation counter in Redis is read on every lookup: a revoke
  (after its commit) bumps it, so every process drops its cache before serving the next
  request.

`ttl_s = 0` disables the cache (every request probes the key index).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from aipod_api.auth import service
from aipod_api.core.db import transaction

if TYPE_CHECKING:
    from aipod_api.core.db import ReadConnections

GENERATION_KEY = "aipod:keys:generation"


class KeyCache:
    def __init__(
        self,
        engine: Engine,
        *,
        redis: Any = None,
        ttl_s: float = 30.0,
        max_entries: int = 10_000,
        readers: ReadConnections | None = None,
    ) -> None:
        self.engine = engine
        self.readers = readers
        self.redis = redis
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, service.Principal]] = {}
        self._generation: bytes | None = None  # Redis' revocation generation
        self._local_generation = 0  # bumped by every in-process revocation
        self._lock = threading.Lock()
        self._pending_touches: dict[int, int] = {}  # key seq -> last use, to be written

    def lookup(self, token: str) -> service.Principal | None:
        if not service.looks_like_key(token):
            return None
        digest = service.hash_key(token)
        seen = 0
        if self.ttl_s > 0:
            generation = self.redis.get(GENERATION_KEY) if self.redis is not None else None
            with self._lock:
                if self.redis is not None and generation != self._generation:
                    self._entries.clear()
                    self._generation = generation
                hit = self._entries.get(digest)
                seen = self._local_generation
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        principal = self._read(token)
        if principal is not None and self.ttl_s > 0:
            with self._lock:
                # A revocation committed while we were reading: do not cache what we read.
                if seen == self._local_generation:
                    if len(self._entries) >= self.max_entries:
                        self._entries.pop(next(iter(self._entries)))  # the oldest entry
                    self._entries[digest] = (time.monotonic() + self.ttl_s, principal)
        return principal

    def _read(self, token: str) -> service.Principal | None:
        """The key's row: on SQLite on one of the kept read connections (autocommit, no
        pool checkout or BEGIN: `core.db.ReadConnections`), else in a read-only
        transaction of its own."""
        readers = self.readers
        if readers is None:
            with transaction(self.engine, write=False) as conn:
                return service.authenticate(conn, api_key=token)
        conn = readers.checkout()
        try:
            principal = service.authenticate(conn, api_key=token)
        except BaseException:
            readers.checkin(conn, ok=False)
            raise
        readers.checkin(conn, ok=True)
        return principal

    def touched(self, key_hash: str, now: int) -> None:
        """Record a `last_used_at` write in the cached principal (no more writes for a while)."""
        with self._lock:
            hit = self._entries.get(key_hash)
            if hit is not None:
                self._entries[key_hash] = (hit[0], dataclasses.replace(hit[1], last_used_at=now))

    def defer_touch(self, key_hash: str, key_seq: int, now: int) -> None:
        """A `last_used_at` refresh written later by `flush_touches` (the background
        sweep), not by the request; the cached principal shows it at once."""
        self.touched(key_hash, now)
        with self._lock:
            self._pending_touches[key_seq] = now

    def flush_touches(self) -> int:
        """Write the deferred `last_used_at` refreshes in one short write transaction
        (best effort, like the request's own write: a failure drops them). Returns how
        many keys were written."""
        with self._lock:
            pending, self._pending_touches = self._pending_touches, {}
        if not pending:
            return 0
        with transaction(self.engine, write=True) as conn:
            service.touch_keys(conn, [(seq, now) for seq, now in sorted(pending.items())])
        return len(pending)

    def revoked(self, key_hash: str) -> None:
        """Call after the revocation has committed."""
        with self._lock:
            self._entries.pop(key_hash, None)
            self._local_generation += 1
        if self.redis is not None:
            self.redis.incr(GENERATION_KEY)
