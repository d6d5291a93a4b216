"""API-key lookups, with a cache that still honours revocation at once.

Without Redis every request looks its key up in the database (an index probe).
With Redis, principals are cached in-process and a revocation generation counter in
Redis is read on every lookup: a revoke (after its commit) bumps the counter, so every
process drops its cache before serving the next request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import Engine

from aipod_api.auth import service
from aipod_api.core.db import transaction

GENERATION_KEY = "aipod:keys:generation"


class KeyCache:
    def __init__(self, engine: Engine, *, redis: Any = None, ttl_s: float = 30.0) -> None:
        self.engine = engine
        self.redis = redis
        self.ttl_s = ttl_s if redis is not None else 0.0
        self._entries: dict[str, tuple[float, service.Principal]] = {}
        self._generation: bytes | None = None
        self._lock = threading.Lock()

    def lookup(self, token: str) -> service.Principal | None:
        if not service.looks_like_key(token):
            return None
        digest = service.hash_key(token)
        if self.ttl_s > 0:
            generation = self.redis.get(GENERATION_KEY)
            with self._lock:
                if generation != self._generation:
                    self._entries.clear()
                    self._generation = generation
                hit = self._entries.get(digest)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        with transaction(self.engine, write=False) as conn:
            principal = service.authenticate(conn, token)
        if principal is not None and self.ttl_s > 0:
            with self._lock:
                self._entries[digest] = (time.monotonic() + self.ttl_s, principal)
        return principal

    def revoked(self, key_hash: str) -> None:
        """Call after the revocation has committed."""
        with self._lock:
            self._entries.pop(key_hash, None)
        if self.redis is not None:
            self.redis.incr(GENERATION_KEY)
