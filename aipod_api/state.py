"""`AppState`: what one application instance holds, as typed attributes.

Built by the app factory (aipod_api/app.py) and kept as `app.extensions["aipod"]`; the
HTTP edge reaches it with `aipod_api.http.context.state()`, background work is handed
it. Framework-free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from aipod_api.core.background import Periodic
from aipod_api.core.clock import Clock
from aipod_api.core.db import ReadConnections
from aipod_api.core.ratelimit import Limits
from aipod_api.settings import Settings

if TYPE_CHECKING:
    from aipod_api.auth.keycache import KeyCache
    from aipod_api.auth.service import HashSlots, LoginLimiter
    from aipod_api.core.execlock import ExecutionLock
    from aipod_api.events.notify import Hub
    from aipod_api.tasks.sweep import Sweeper
    from aipod_api.webhooks.worker import WebhookWorker


@dataclass(eq=False)
class AppState:
    settings: Settings
    engine: Engine
    limits: Limits
    key_cache: KeyCache
    hash_slots: HashSlots
    # `limits`' login windows, as the auth service takes them (auth/service.py `login`)
    login_limiter: LoginLimiter
    redis: Any = None
    readers: ReadConnections | None = None
    clock: Clock = field(default_factory=Clock)
    started_at: float = field(default_factory=time.monotonic)
    signup_credit_cents: int = 0
    # endpoint -> whether its route writes (`@reads` / `@writes`, aipod_api/http/context.py)
    route_writes: dict[str, bool] = field(default_factory=dict)
    # The demo account's agent id with demo off ("" when this database has none), looked
    # up once per process (http/guard.py).
    demo_owner: str | None = None
    # The background thread (core/background.py) and the expiry sweep on it
    # (tasks/sweep.py), set when it is installed.
    background: Periodic = field(default_factory=lambda: Periodic("aipod-background"))
    sweeper: Sweeper = field(init=False)
    # The execution lock (core/execlock.py; None when off): event streams take it for
    # their short reads like requests do.
    exec_lock: ExecutionLock | None = None
    # Open event streams' wake-ups and slots (events/notify.py), set by the factory.
    event_hub: Hub = field(init=False)
    # The webhook delivery threads (webhooks/worker.py), set when installed.
    webhook_worker: WebhookWorker | None = None

    def now(self) -> int:
        """UNIX seconds on the app's clock."""
        return self.clock.now()
