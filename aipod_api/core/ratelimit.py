"""Rate limits of CONTRACT §3 on the `limits` library (memory or Redis storage).

- a rolling (moving-window) limit per agent (all its keys together), or per client IP
  when unauthenticated;
- a registrations-per-IP limit;
- login attempts per (username, client IP), under a slower per-username ceiling;
- a cap on requests in flight per agent (refused at once, not queued).

With a Redis URL every counter lives in Redis (the `limits` library's moving window), so
all processes and hosts share them. Without Redis the same moving window is kept in
process memory by `MemoryWindow`: per key a deque of hit times, trimmed on each hit (the
`limits` memory storage inserts at the head of a list on every hit and runs an expiry
timer thread every 10 ms, which cost more than Flask's own dispatch per request).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees a request


class RateWindow(Protocol):
    item: RateLimitItem

    def hit(self, key: str) -> Decision: ...

    def test(self, key: str) -> Decision: ...

    def clear(self, key: str) -> None: ...


class Window:
    """One named moving-window limit on a `limits` storage (Redis)."""

    def __init__(self, limiter: MovingWindowRateLimiter, spec: str, namespace: str) -> None:
        self.item: RateLimitItem = parse(spec)
        self.limiter = limiter
        self.namespace = namespace

    def _stats(self, key: str, allowed: bool) -> Decision:
        stats = self.limiter.get_window_stats(self.item, self.namespace, key)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset_after = max(1, reset_after)
        return Decision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset_after=reset_after,
        )

    def hit(self, key: str) -> Decision:
        allowed = self.limiter.hit(self.item, self.namespace, key)
        return self._stats(key, allowed)

    def test(self, key: str) -> Decision:
        allowed = self.limiter.test(self.item, self.namespace, key)
        return self._stats(key, allowed)

    def clear(self, key: str) -> None:
        self.limiter.clear(self.item, self.namespace, key)


class MemoryWindow:
    """One named moving-window limit in process memory, with the semantics of `limits`.

    A hit is allowed when fewer than `amount` hits of this key fall in the last `expiry`
    seconds (a hit at exactly `now - expiry` still counts), and is then recorded.
    `reset_after` is when the oldest hit in the window leaves it.
    """

    PURGE_EVERY_S = 60.0

    def __init__(self, spec: str) -> None:
        self.item = parse(spec)
        self.amount = self.item.amount
        self.expiry = float(self.item.get_expiry())
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._next_purge = time.monotonic() + self.PURGE_EVERY_S

    def _window(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is not None:
            cutoff = now - self.expiry
            while hits and hits[0] < cutoff:
                hits.popleft()
        return hits

    def _purge(self, now: float) -> None:
        """Forget keys with no hit in the window (bounds memory); at most once a minute."""
        self._next_purge = now + self.PURGE_EVERY_S
        cutoff = now - self.expiry
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] < cutoff]:
            del self._hits[key]

    def _decision(self, allowed: bool, hits: deque[float] | None, now: float) -> Decision:
        count = len(hits) if hits else 0
        oldest = hits[0] if hits else now
        reset_after = max(0, math.ceil(oldest + self.expiry - now))
        if not allowed:
            reset_after = max(1, reset_after)
        return Decision(
            allowed=allowed,
            limit=self.amount,
            remaining=max(0, self.amount - count),
            reset_after=reset_after,
        )

    def hit(self, key: str) -> Decision:
        now = time.monotonic()
        with self._lock:
            if now >= self._next_purge:
                self._purge(now)
            hits = self._window(key, now)
            if hits is None:
                hits = self._hits[key] = deque()
            allowed = len(hits) < self.amount
            if allowed:
                hits.append(now)
            return self._decision(allowed, hits, now)

    def test(self, key: str) -> Decision:
        now = time.monotonic()
        with self._lock:
            hits = self._window(key, now)
            return self._decision(len(hits or ()) < self.amount, hits, now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class InFlight(Protocol):
    def acquire(self, key: str) -> bool: ...

    def release(self, key: str) -> None: ...


class MemoryInFlight:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> bool:
        with self._lock:
            current = self._counts.get(key, 0)
            if current >= self.limit:
                return False
            self._counts[key] = current + 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            current = self._counts.get(key, 0) - 1
            if current <= 0:
                self._counts.pop(key, None)
            else:
                self._counts[key] = current


_ACQUIRE_LUA = """
local c = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if c > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""


class RedisInFlight:
    """Shared in-flight counter. The TTL bounds a leak if a process dies mid-request."""

    def __init__(self, client: Any, limit: int, ttl_s: int = 120) -> None:
        self.client = client
        self.limit = limit
        self.ttl_s = ttl_s
        self._acquire = client.register_script(_ACQUIRE_LUA)

    def acquire(self, key: str) -> bool:
        return bool(self._acquire(keys=[f"aipod:inflight:{key}"], args=[self.limit, self.ttl_s]))

    def release(self, key: str) -> None:
        self.client.decr(f"aipod:inflight:{key}")


class Limits:
    def __init__(
        self,
        *,
        rate_limit: str,
        register_limit: str,
        login_limit: str,
        max_concurrency: int,
        login_user_limit: str = "100/hour",
        redis_url: str | None,
        redis_client: Any = None,
    ) -> None:
        self.requests: RateWindow
        self.registrations: RateWindow
        self.logins: RateWindow  # per "username|client IP"
        self.login_users: RateWindow  # per username, from any IP
        self.in_flight: InFlight
        if redis_url:
            storage = storage_from_string(redis_url)
            if not isinstance(storage, Storage):  # pragma: no cover - async URIs are refused
                raise ValueError(f"unsupported limits storage: {redis_url}")
            limiter = MovingWindowRateLimiter(storage)
            self.requests = Window(limiter, rate_limit, "req")
            self.registrations = Window(limiter, register_limit, "reg")
            self.logins = Window(limiter, login_limit, "login")
            self.login_users = Window(limiter, login_user_limit, "login_user")
            self.in_flight = RedisInFlight(redis_client, max_concurrency)
        else:
            self.requests = MemoryWindow(rate_limit)
            self.registrations = MemoryWindow(register_limit)
            self.logins = MemoryWindow(login_limit)
            self.login_users = MemoryWindow(login_user_limit)
            self.in_flight = MemoryInFlight(max_concurrency)
        self.max_concurrency = max_concurrency
