"""The application factory. Nothing is created at import time."""

from __future__ import annotations

import importlib
import logging
import sys
import weakref
from collections.abc import Callable
from typing import Any

from flask import Response
from flask.globals import request_ctx
from flask.signals import request_tearing_down
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
from aipod_api.events.notify import Hub
from aipod_api.http import cors, fastpath, guard, idempotency
from aipod_api.http.context import (
    ONLY_WITH_ATTR,
    declared_routes,
    init_request_scope,
    run_view,
)
from aipod_api.http.errors import register_error_handlers, validation_error_response
from aipod_api.settings import Settings
from aipod_api.state import AppState
from aipod_api.tasks import sweep
from aipod_api.web import views as web_views

# Each domain package exposes `views.bp`, an flask-openapi3 APIBlueprint.
DOMAINS: tuple[str, ...] = (
    "status",
    "auth",
    "agents",
    "wallet",
    "tasks",
    "trust",
    "memory",
    "events",
    "a2a",
    "webhooks",
)
FRAMEWORK_READS = frozenset({"static"})


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


_NO_EXC: Any = object()
_APP_ONLY = frozenset({None})


class AipodApp(OpenAPI):
    """The OpenAPI app with Flask's per-request hook dispatch made cheaper.

    - `ensure_sync` is answered from a cache. Flask calls it for every hook and view on
      every request, and it inspects the function's code flags each time (~1 µs × ~14
      per request). The answer for a given function never changes, so it is remembered
      (Flask documents `ensure_sync` as the method to override).
    - The before/after/teardown hooks (13 per request) are all registered on the app,
      none on a blueprint, and no URL value preprocessor exists. Flask's generic loops
      still compute the request's blueprint chain through the `request` proxy three
      times per request and look each name up; while the app has only app-level
      hooks, the three overrides below call the same functions in the same order
      without that (~10% of a primary-key GET in process, bench/inproc.py). Should a
      blueprint ever register a hook or a URL value preprocessor, Flask's own loops run.
    - Hooks marked `only_with(key)` are skipped for requests whose environ lacks `key`
      (the four idempotency-key hooks on every request without that header).
    """

    _sync: dict[Any, Any]
    _lean: dict[int, tuple[list[Any], int, list[Any], frozenset[str]]]

    def _app_level_only(self, funcs: dict[Any, list[Any]]) -> bool:
        return not self.url_value_preprocessors and funcs.keys() <= _APP_ONLY

    def _active(self, funcs: dict[Any, list[Any]], environ: dict[str, Any]) -> list[Any]:
        """The app-level hooks this request runs: all of them, but those marked with
        `only_with` (`WSGI environ key`) when the request lacks that key (they would do
        nothing: e.g. the idempotency hooks without an `Idempotency-Key` header)."""
        hooks = funcs.get(None, [])
        try:
            lean = self._lean
        except AttributeError:
            lean = self._lean = {}
        entry = lean.get(id(hooks))
        if entry is None or entry[0] is not hooks or entry[1] != len(hooks):
            kept = [f for f in hooks if getattr(f, ONLY_WITH_ATTR, None) is None]
            needs = frozenset(getattr(f, ONLY_WITH_ATTR) for f in hooks if f not in kept)
            entry = lean[id(hooks)] = (hooks, len(hooks), kept, needs)
        for key in entry[3]:
            if key in environ:
                return hooks
        return entry[2]

    def preprocess_request(self) -> Any:
        funcs = self.before_request_funcs
        if not self._app_level_only(funcs):
            return super().preprocess_request()
        ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
        for func in self._active(funcs, ctx.request.environ):
            rv = self.ensure_sync(func)()
            if rv is not None:
                return rv
        return None

    def process_response(self, response: Response) -> Response:
        funcs = self.after_request_funcs
        ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
        if ctx._after_request_functions or not self._app_level_only(funcs):
            return super().process_response(response)
        for func in reversed(self._active(funcs, ctx.request.environ)):
            response = self.ensure_sync(func)(response)
        if not self.session_interface.is_null_session(ctx._session):
            self.session_interface.save_session(self, ctx._session, response)
        return response

    def do_teardown_request(self, exc: BaseException | None = _NO_EXC) -> None:
        funcs = self.teardown_request_funcs
        if exc is _NO_EXC:
            exc = sys.exc_info()[1]
        if not self._app_level_only(funcs):
            super().do_teardown_request(exc)
            return
        ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
        for func in reversed(self._active(funcs, ctx.request.environ)):
            self.ensure_sync(func)(exc)
        request_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

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
    exec_lock = ExecutionLock() if settings.uses_exec_lock else None
    if exec_lock is not None:
        app.wsgi_app = SerializedApp(  # type: ignore[method-assign]
            app.wsgi_app, exec_lock, max_body=settings.max_body_bytes
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
            engine,
            with_demo=settings.demo,
            signup_credit_cents=signup_cents,
            now=clock.now(),
            trust_seeds=settings.operator_ids,
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
    readers = ReadConnections(engine) if engine.dialect.name == "sqlite" else None
    state = AppState(
        settings=settings,
        engine=engine,
        limits=limits,
        key_cache=KeyCache(
            engine, redis=redis_client, ttl_s=settings.key_cache_ttl_s, readers=readers
        ),
        hash_slots=auth_service.HashSlots(settings.hash_slots),
        login_limiter=auth_service.LoginLimiter(
            per_client=limits.logins, per_username=limits.login_users
        ),
        redis=redis_client,
        readers=readers,
        clock=clock,
        signup_credit_cents=signup_cents,
    )
    # Event streams (aipod_api/events): their reads take the execution lock like requests.
    state.exec_lock = exec_lock
    state.event_hub = Hub(
        engine,
        redis_url=settings.redis_url,
        poll_s=settings.event_poll_s,
        per_agent=settings.event_streams_per_agent,
        per_process=settings.event_streams_per_process,
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
    # The API keys' deferred last-use times (http/guard.py `_touch_key`): every second,
    # and once more when the thread stops.
    state.background.every(1.0, "key use refresh", state.key_cache.flush_touches, final=True)
    # Webhook deliveries: background threads per process, started the same way.
    from aipod_api.webhooks import worker as webhook_worker

    webhook_worker.install(app)
    _start_background_on_first_request(app, state)
    return app


def _start_background_on_first_request(app: OpenAPI, state: AppState) -> None:
    """One before-request hook that starts the process's background threads (the periodic
    runner, the webhook worker) and then takes itself out of the app's hook list: later
    requests pay nothing for it. The list is replaced, not mutated, so a thread iterating
    the old one meanwhile is undisturbed; both starts are idempotent and locked, so two
    first requests racing start each thread once."""

    def _start_background() -> None:
        state.background.ensure_started()
        worker = state.webhook_worker
        if worker is not None:
            worker.ensure_started()
        funcs = app.before_request_funcs
        hooks = funcs.get(None, [])
        if _start_background in hooks:
            funcs[None] = [f for f in hooks if f is not _start_background]

    app.before_request(_start_background)


def weakref_alive(state: AppState) -> Callable[[], bool]:
    """Whether `state` still exists, without keeping it alive."""
    ref = weakref.ref(state)
    return lambda: ref() is not None
