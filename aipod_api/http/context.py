"""The request scope: the app's state, the request's clock, caller and transaction.

One `Tx` (core/db.py) per request, opened on first use (`db()`), reading or writing as the
route declares (`@reads` / `@writes` under the route decorator; `declared_routes` refuses
to build an app with an undeclared route). It is committed in `after_request` when the
response is a success (so `code: 0` means durable), rolled back otherwise — unless the
view raised an `ApiError` whose class declares `commits` (its effects are the premise of
the refusal, e.g. `tasks.flows.TaskDue`: the task was expired and refunded, then the
action refused) — and always ended in teardown.

Retries (`run_view`): a writing request whose transaction fails with a deadlock or a
serialization failure is rolled back and its view run again (`core.db.retrying`). The
body was parsed before the first attempt and the view is a pure function of the request
and the database, so a re-run is the same request against newer data. Reads take no row
locks and are run once (503 should one ever meet such an error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from aipod_api.core.db import Busy, Tx, is_retryable, retrying
from aipod_api.core.errors import ApiError
from aipod_api.http.envelope import envelope
from aipod_api.http.i18n import wants_english
from aipod_api.state import AppState

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

WRITES_ATTR = "aipod_writes"
# A request hook with this attribute (a WSGI environ key) does nothing for a request
# without that key, and the app does not call it for one (app.py `AipodApp._active`).
ONLY_WITH_ATTR = "aipod_only_with"


def only_with(environ_key: str) -> Callable[[F], F]:
    """Mark a request hook as a no-op for requests whose WSGI environ lacks `environ_key`
    (e.g. `HTTP_IDEMPOTENCY_KEY`): those requests skip it. Goes under the hook decorator."""

    def mark(func: F) -> F:
        setattr(func, ONLY_WITH_ATTR, environ_key)
        return func

    return mark


def writes(view: F) -> F:
    """Declare that a route writes: its transaction takes the write lock (SQLite's write
    gate and `BEGIN IMMEDIATE`) and is re-run on a deadlock or serialization failure.
    Goes under the route decorator (`@bp.post(...)` then `@writes`)."""
    setattr(view, WRITES_ATTR, True)
    return view


def reads(view: F) -> F:
    """Declare that a route only reads: its transaction runs on a kept read connection
    (SQLite) and is never re-run. Goes under the route decorator."""
    setattr(view, WRITES_ATTR, False)
    return view


def declared_routes(app: Flask, *, framework_reads: Iterable[str] = ()) -> dict[str, bool]:
    """Each endpoint -> whether it writes, as its view declares. `framework_reads`: the
    endpoints of libraries (static files, the OpenAPI document) that only read and that
    we cannot decorate. Raises on an undeclared endpoint."""
    framework = frozenset(framework_reads)
    declared: dict[str, bool] = {}
    missing: list[str] = []
    for endpoint, view in app.view_functions.items():
        flag = getattr(view, WRITES_ATTR, None)
        if flag is None and endpoint in framework:
            flag = False
        if flag is None:
            missing.append(endpoint)
        else:
            declared[endpoint] = bool(flag)
    if missing:
        raise RuntimeError(
            "routes that do not declare whether they write (@reads / @writes under the "
            f"route decorator): {', '.join(sorted(missing))}"
        )
    return declared


def state() -> AppState:
    return current_app.extensions["aipod"]  # type: ignore[no-any-return]


def clock() -> int:
    """The current time for services' `now=` (the app's clock, `AppState.clock`)."""
    return state().clock.now()


def _request_tx() -> Tx:
    ctx = g._get_current_object()
    tx: Tx | None = ctx.__dict__.get("_tx")
    if tx is None:
        st = state()
        writing = _route_writes(st.route_writes, request.endpoint)
        tx = ctx._tx = Tx(st.engine, write=writing, readers=st.readers)
    return tx


def _route_writes(routes: Mapping[str, bool], endpoint: str | None) -> bool:
    try:
        return routes[endpoint]  # type: ignore[index]
    except KeyError:
        raise RuntimeError(f"endpoint {endpoint!r} did not declare whether it writes") from None


def db() -> Connection:
    """The request's connection (its transaction opened on first use)."""
    tx: Tx | None = g._get_current_object().__dict__.get("_tx")
    if tx is None:
        tx = _request_tx()
    return tx.connection()


def tx() -> Tx:
    """The request's `Tx`, not yet opened unless `db()` was called: for a service that
    must open it only after slow work done with no transaction (auth's password hash).
    Services register after-commit effects on it (`core.db.after_commit`)."""
    return _request_tx()


def caller_id() -> str:
    principal = g.get("principal")
    if principal is None:  # pragma: no cover - guarded by the auth hook
        raise RuntimeError("no authenticated caller")
    return str(principal.agent_id)


def run_view(dispatch: Callable[[], T]) -> T:
    """Run the view; for a writing route, again on a deadlock or serialization failure
    (see the module docstring). An `ApiError` that `commits` marks the transaction to be
    committed with the error answer."""
    if request.routing_exception is not None:
        return dispatch()  # 404 / 405: answered by the routing error handlers
    tx = _request_tx()
    try:
        if not tx.write:
            try:
                return dispatch()
            except DBAPIError as exc:
                if is_retryable(exc):
                    raise Busy() from exc
                raise

        def attempt() -> T:
            try:
                return dispatch()
            except DBAPIError as exc:
                if is_retryable(exc):
                    tx.discard()
                raise

        return retrying(attempt)
    except ApiError as exc:
        if exc.commits:
            tx.keep_on_error = True
        raise


def _busy(response: Response) -> Response:
    """Too late to re-run the view: the answer becomes "retry" (the response keeps its
    other headers, e.g. X-Request-Id)."""
    busy = Busy()
    message, _ = busy.render(wants_english())
    answer = envelope(None, message=message, code=503, status=503, error=busy.code_name)
    response.set_data(answer.get_data())
    response.status_code = 503
    response.headers.update(busy.headers)
    return response


def init_request_scope(app: Flask) -> None:
    @app.after_request
    def _finish_transaction(response: Response) -> Response:
        tx: Tx | None = g._get_current_object().__dict__.pop("_tx", None)
        if tx is None:
            return response
        status = response.status_code
        if not tx.write:
            if status < 400:
                tx.commit()
            elif status < 500:
                tx.release()
            else:
                tx.rollback()
            return response
        # A refusal whose effects are kept (`ApiError.commits`), never a failure.
        if status < 400 or (tx.keep_on_error and status < 500):
            try:
                tx.commit()
            except DBAPIError as exc:
                if not is_retryable(exc):
                    raise
                return _busy(response)
        else:
            tx.rollback()
        return response

    @app.teardown_request
    def _close_transaction(exc: BaseException | None) -> None:
        tx: Tx | None = g.pop("_tx", None)
        if tx is not None:
            if exc is None:
                tx.release()
            else:
                tx.rollback()
