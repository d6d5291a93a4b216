"""The application factory. Nothing is created at import time."""

from __future__ import annotations

import importlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from flask_openapi3 import Info, OpenAPI
from werkzeug.middleware.proxy_fix import ProxyFix

from aipod_api import __version__
from aipod_api.auth import service as auth_service
from aipod_api.auth.keycache import KeyCache
from aipod_api.bootstrap import prepare_database
from aipod_api.core.background import CHECKPOINT_EVERY_S, checkpoint_job
from aipod_api.core.clock import Clock
from aipod_api.core.db import ReadConnections, make_engine
from aipod_api.core.execlock import ExecutionLock, SerializedApp
from aipod_api.core.openapi import ValidationErrorEnvelope
from aipod_api.core.ratelimit import Limits
from aipod_api.core.types import to_cents
from aipod_api.http import cors, fastpath, guard, idempotency
from aipod_api.http.context import declared_routes, init_request_scope, run_view
from aipod_api.http.errors import register_error_handlers, validation_error_response
from aipod_api.settings import Settings
from aipod_api.state import AppState
from aipod_api.tasks import sweep
from aipod_api.web import views as web_views

# Each domain package exposes `views.bp`, an flask-openapi3 APIBlueprint.
DOMAINS: tuple[str, ...] = ("status", "auth", "agents", "wallet", "tasks", "trust", "memory", "a2a")
FRAMEWORK_READS = frozenset({"static"})


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


class AipodApp(OpenAPI):
    """The OpenAPI app with Flask's `ensure_sync` answered from a cache.

    Flask calls `ensure_sync` for every hook and view on every request, and it inspects
    the function's code flags each time (~1 µs × ~10 per request). The answer for a given
    function never changes, so it is remembered (Flask documents `ensure_sync` as the
    method to override)."""

    _sync: dict[Any, Any]

    def ensure_sync(self, func: Any) -> Any:
        try:
            return self._sync[func]
        except AttributeError:
            self._sync = {}
        except KeyError:
            pass
        result = super().ensure_sync(func)
        self._sync[func] = result
        return result

    def dispatch_request(self) -> Any:
        """The view, re-run on a deadlock or serialization failure (http/context.py)."""
        return run_view(super().dispatch_request)


def create_app(settings: Settings | None = None, *, migrate_db: bool = True) -> OpenAPI:
    settings = settings or Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    app = AipodApp(
        __name__,
        info=Info(
            title="aipod_api",
            version=__version__,
            description=(
                "AI 节点网络 API:注册能力、发现彼此、以托管积分交易任务、共享记忆、积累信任。\n\n"
                "An open HTTP service where AI agents register capabilities, find each other, "
                "trade tasks for escrowed credits, share memory and earn trust. Every response "
                "is an envelope `{code, message, data, timestamp}`."
            ),
        ),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=400,
        validation_error_model=ValidationErrorEnvelope,
        validation_error_callback=validation_error_response,
        doc_ui=False,
        static_folder="web/static",
        static_url_path="/static",
        template_folder="web/templates",
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["AIPOD_TESTING"] = settings.testing
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    if settings.uses_exec_lock:
        app.wsgi_app = SerializedApp(  # type: ignore[method-assign]
            app.wsgi_app, ExecutionLock(), max_body=settings.max_body_bytes
        )
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )

    engine = make_engine(
        settings.database_url,
        pool_size=max(4, settings.thread_count + 2),
        synchronous=settings.sqlite_synchronous,
    )
    redis_client = _redis_client(settings.redis_url) if settings.redis_url else None
    signup_cents = to_cents(settings.signup_credit)
    clock = Clock()
    if migrate_db:
        prepare_database(
            engine, with_demo=settings.demo, signup_credit_cents=signup_cents, now=clock.now()
        )
    limits = Limits(
        rate_limit=settings.rate_limit,
        register_limit=settings.register_limit,
        login_limit=settings.login_limit,
        login_user_limit=settings.login_user_limit,
        max_concurrency=settings.max_concurrency,
        redis_url=settings.redis_url,
        redis_client=redis_client,
    )
    state = AppState(
        settings=settings,
        engine=engine,
        limits=limits,
        key_cache=KeyCache(engine, redis=redis_client, ttl_s=settings.key_cache_ttl_s),
        hash_slots=auth_service.HashSlots(settings.hash_slots),
        redis=redis_client,
        readers=ReadConnections(engine) if engine.dialect.name == "sqlite" else None,
        clock=clock,
        signup_credit_cents=signup_cents,
    )
    app.extensions["aipod"] = state

    # Perf hook (see aipod_api/http/fastpath.py, bench/README.md): cache flask-openapi3's
    # per-request query-model schema lookups.
    fastpath.install()
    # CORS first: a preflight is answered before authentication.
    cors.install(app, origins=settings.cors_origins)
    # Idempotency keys (core/idempotency.py): the finisher's hooks run after the request
    # transaction has ended, the others after authentication and before the commit.
    idempotency.install_finisher(app)
    init_request_scope(app)
    guard.install(app)
    idempotency.install(app, reissue=auth_service.reissue_key, revoked=state.key_cache.revoked)
    register_error_handlers(app)
    for domain in DOMAINS:
        module = importlib.import_module(f"aipod_api.{domain}.views")
        app.register_api(module.bp)
    web_views.register(app)
    # Every route declares whether it writes (aipod_api/http/context.py); the libraries'
    # own routes (static files) only read.
    state.route_writes = declared_routes(app, framework_reads=FRAMEWORK_READS)
    # Background work: one daemon thread per process, started by the process's first
    # request (never before granian forks): SQLite's WAL checkpoint, the expiry sweep.
    state.background.alive = weakref_alive(state)
    checkpoint = checkpoint_job(engine)
    if checkpoint is not None:
        state.background.every(CHECKPOINT_EVERY_S, "WAL checkpoint", checkpoint)
    sweep.install(state)
    app.before_request(state.background.ensure_started)
    return app


def weakref_alive(state: AppState) -> Callable[[], bool]:
    """Whether `state` still exists, without keeping it alive."""
    ref = weakref.ref(state)
    return lambda: ref() is not None
