"""All configuration, read from `AIPOD_*` environment variables (and CLI flags)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting the server understands. README documents each in a table."""

    model_config = SettingsConfigDict(env_prefix="AIPOD_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=5001, ge=0, le=65535)
    database_url: str = "sqlite:///aipod.db"
    redis_url: str | None = None
    workers: int = Field(default=1, ge=1, le=256)
    threads: int | None = Field(default=None, ge=1, le=1024)
    read_threads: int | None = Field(default=None, ge=1, le=1024)
    demo: bool = True

    rate_limit: str = "120/minute"
    register_limit: str = "1000/day"
    max_concurrency: int = Field(default=10, ge=1)
    login_limit: str = "10/minute"
    login_user_limit: str = "100/hour"
    hash_concurrency: int = Field(default=2, ge=1, le=256)
    max_keys_per_agent: int = Field(default=20, ge=1, le=100_000)

    signup_credit: Decimal = Decimal("1000")
    timezone: str = "UTC"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    body_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    sweep_interval_s: float = Field(default=5.0, gt=0)
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    cors_origins: str = "*"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    key_cache_ttl_s: float = Field(default=30.0, ge=0)
    exec_lock: Literal["auto", "on", "off"] = "auto"
    # Idempotency keys (core/idempotency.py): how long a stored answer is replayed, and
    # after how long a claim whose request never finished (a crash) may be taken over.
    idempotency_ttl_s: int = Field(default=86_400, ge=1)
    idempotency_lock_s: int = Field(default=60, ge=1)
    # Events (aipod_api/events): how long they are kept (pruned by the sweep).
    event_retention_days: float = Field(default=30, gt=0, le=3650)
    # The event stream (events/stream.py): heartbeat, the safety-net poll of the newest
    # event id (events/notify.py), open streams per agent and per process, how long a
    # stream lasts before the client resumes with Last-Event-ID; and the bounded
    # thread-holding fallback under a plain WSGI server (streams per process, lifetime).
    event_heartbeat_s: float = Field(default=15.0, gt=0, le=3600)
    event_poll_s: float = Field(default=2.0, gt=0, le=3600)
    event_streams_per_agent: int = Field(default=5, ge=1, le=10_000)
    event_streams_per_process: int = Field(default=1000, ge=1, le=100_000)
    event_stream_max_s: float = Field(default=3600.0, gt=0)
    event_wsgi_streams: int = Field(default=2, ge=0, le=1000)
    event_wsgi_stream_s: float = Field(default=60.0, gt=0)
    # Pay on approval (tasks/flows.py): the review window a task gets when its publisher
    # does not choose one (0: complete pays at once), the change requests a publisher
    # may make per task, and the agents who resolve disputes (comma-separated agent ids).
    review_seconds: int = Field(default=0, ge=0, le=2_592_000)
    max_change_rounds: int = Field(default=2, ge=0, le=10)
    operators: str = ""

    # Agent-native access. The server: the base URL its A2A agent cards advertise (unset:
    # the request's own) and the MCP endpoint the network's card lists (unset: none).
    public_url: str | None = None
    mcp_url: str | None = None
    # `python -m aipod_api.mcp`, a client of the API: whose key, which API, how served.
    api_key: str | None = None
    base_url: str = "http://localhost:5001"
    mcp_transport: Literal["stdio", "http"] = "stdio"
    mcp_host: str = "127.0.0.1"
    mcp_port: int = Field(default=5002, ge=0, le=65535)

    # Webhooks (aipod_api/webhooks): URL safety, retries, workers.
    webhook_allow_private: bool = False
    webhook_max_per_agent: int = Field(default=10, ge=1, le=1000)
    # Delay before each attempt, seconds, comma-separated: the Standard Webhooks example
    # schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,50400,72000,86400"
    webhook_max_failures: int = Field(default=10, ge=1, le=10_000)
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=300)
    webhook_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_lease_s: float = Field(default=60.0, gt=0, le=86_400)
    webhook_concurrency: int = Field(default=8, ge=1, le=256)
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)
    webhook_secret_grace_s: int = Field(default=86_400, ge=0, le=30 * 86_400)
    webhook_delivery: bool = True

    # Test hooks (never enable in production): a `X-Debug-Sleep` header makes the
    # request sleep that many seconds inside the concurrency slot, so tests can observe
    # the in-flight limit deterministically.
    testing: bool = False

    @property
    def backend(self) -> str:
        from aipod_api.core.db import make_url_backend

        return make_url_backend(self.database_url)

    @property
    def uses_exec_lock(self) -> bool:
        """One request runs Python at a time per process (core/execlock.py)."""
        return self.exec_lock == "on" or (self.exec_lock == "auto" and self.backend == "sqlite")

    @property
    def thread_count(self) -> int:
        """`threads`, or by default 2 with the execution lock (SQLite) and 16 without
        (PostgreSQL, where threads overlap each statement's network wait)."""
        if self.threads is not None:
            return self.threads
        return 2 if self.uses_exec_lock else 16

    @property
    def read_thread_count(self) -> int:
        """Threads per process for requests without a body (every GET): `read_threads`;
        else `threads` when that is set; else 1 with the execution lock — on SQLite
        requests run Python one at a time anyway, and a second reader thread only hands
        the GIL and the lock back and forth (one reader thread: +42 to +99% throughput
        on every read, bench/RESULTS.md, session 6) — and `thread_count` without it.
        Requests with a body keep `thread_count` threads (the bridge's): one of them may
        wait on a password hash while another writes."""
        if self.read_threads is not None:
            return self.read_threads
        if self.threads is not None or not self.uses_exec_lock:
            return self.thread_count
        return 1

    @property
    def hash_slots(self) -> int:
        """Password hashes computed at once per process: `hash_concurrency`, but never
        all the threads, so that one is always left for other requests."""
        return max(1, min(self.hash_concurrency, self.thread_count - 1))

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("public_url", "mcp_url", "base_url", mode="before")
    @classmethod
    def _http_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "http://localhost:5001" if info.field_name == "base_url" else None
        if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            delays = [float(part) for part in value.split(",")]
        except ValueError as exc:
            raise ValueError(f"not a comma-separated list of seconds: {value!r}") from exc
        if not delays or any(not 0 <= d <= 7 * 86_400 for d in delays):
            raise ValueError("each delay must be between 0 and 604800 seconds")
        return value

    @property
    def webhook_delays_s(self) -> tuple[float, ...]:
        """The delay before attempt 1, 2, ... (its length is the number of attempts)."""
        return tuple(float(part) for part in self.webhook_retry_schedule.split(","))

    @field_validator("signup_credit", mode="before")
    @classmethod
    def _money(cls, value: object) -> object:
        from aipod_api.core.types import _to_money

        if isinstance(value, str):
            try:
                value = Decimal(value.strip())
            except ArithmeticError as exc:
                raise ValueError("AIPOD_SIGNUP_CREDIT must be a number") from exc
        return _to_money(value)

    @field_validator("rate_limit", "register_limit", "login_limit", "login_user_limit")
    @classmethod
    def _limit_spec(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '120/minute': {value!r}") from exc
        return value

    @property
    def operator_ids(self) -> frozenset[str]:
        """AIPOD_OPERATORS as lower-cased agent ids."""
        return frozenset(p.strip().lower() for p in self.operators.split(",") if p.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
