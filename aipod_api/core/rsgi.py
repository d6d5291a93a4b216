"""Serve a WSGI app on granian's RSGI interface: bodies arrive on the event loop.

Why: granian's WSGI interface hands a request to one of its blocking threads as soon as
the headers are parsed, and `wsgi.input.read()` then waits *in that thread* for the body
(granian's `WSGIBody.read` blocks on the socket with no deadline). With 2 threads
(SQLite) two clients that send `Content-Length: 1000` and 9 bytes pin the whole process;
with 16 (PostgreSQL), 16 do. No WSGI middleware can help: it runs in the pinned thread.

`WSGIBridge` is an RSGI application instead:

- A request with a body (`Content-Length` or `Transfer-Encoding`) is received on
  granian's event loop (uvloop), bounded by a size cap (413) and one deadline for the
  whole body (`AIPOD_BODY_TIMEOUT_S`, 408); a body cut short or badly framed is a 400.
  Those answers are written here, in the envelope, with `Connection: close`. Only a
  complete request is queued for the bridge's pool of `threads` threads, which runs
  the WSGI app with the body in memory and sends the response.
- A request without a body (every GET) has nothing to wait for. It runs at once in the
  granian thread that received it, exactly as on granian's WSGI interface, without a
  trip through the event loop or a hand-off to another thread (`_install_fast_path`,
  `rsgi_server`).

Measured on 2 cores against granian's WSGI interface (bench/RESULTS.md, issue 11): reads
cost the same (the event loop and a hand-off had cost them 15-20%); a POST costs ~3% more
with uvloop (~15% with asyncio's own loop).

A slow, idle or incomplete upload therefore costs its own connection and nothing else:
no thread, no execution lock (core/execlock.py), no database connection. Every response
is handed to granian whole; granian writes it, so a client that reads slowly holds no
thread either.

Long-lived streams (`stream_paths`, e.g. `GET /v1/events/stream`) are the exception to
"handed over whole": such a request is opened by an ordinary run of the WSGI app in a
borrowed thread (authentication, limits, validation and any error answer are the app's),
with a list under `environ["aipod.stream"]`. When the app answers 200 having appended a
stream object to it, the bridge serves that object on the event loop —
`await stream.serve(proto, headers, run_blocking)` — instead of sending the body. While
it waits, a stream holds no thread, no execution lock and no database connection;
`run_blocking(fn, arg)` lends it one of the bridge's stream threads for a short read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import io
import logging
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import orjson

from aipod_api.core.clock import utc_timestamp
from aipod_api.core.i18n import english_header, message

log = logging.getLogger("aipod_api")

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]

_STOP = object()
_rid = random.Random()
os.register_at_fork(after_in_child=_rid.seed)  # distinct request ids in every worker
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STREAM_HANDOFF = "aipod.stream"  # environ key of the list a streaming view appends to


class BodyRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _StartResponse:
    __slots__ = ("headers", "status", "written")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.written:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
        return self.written.append  # PEP 3333's legacy write()


def run_wsgi(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Call a WSGI app and collect its whole response."""
    start = _StartResponse()
    result = app(environ, start)
    try:
        if isinstance(result, list) and not start.written:
            body = b"".join(result)
        else:
            body = b"".join([*start.written, *result])
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return start.status, start.headers, body


def _host_port(addr: str) -> tuple[str, str]:
    host, _, port = addr.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return host, port


class WSGIBridge:
    """An RSGI application (`__rsgi__`) running `app` (WSGI) in a pool of threads."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        threads: int,
        max_body: int,
        body_timeout_s: float,
        cors_origin: Callable[[str | None], str | None] | None = None,
        stream_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.stream_paths = frozenset(stream_paths)
        self._stream_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._streams: set[Any] = set()
        self.stopping = False
        self.threads = threads
        self.max_body = max_body
        self.body_timeout_s = body_timeout_s
        self.cors_origin = cors_origin
        self.loop: asyncio.AbstractEventLoop | None = None
        self.fast_path = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pool: list[threading.Thread] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._base: dict[str, Any] = {
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": "granian",
            "wsgi.errors": sys.stderr,
            "wsgi.input_terminated": True,
            "wsgi.multiprocess": True,
            "wsgi.multithread": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
            "aipod.body_buffered": True,  # core/execlock.py: nothing left to read
        }

    # --- lifecycle (granian calls these in each worker process) ------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.start_pool()
        self.fast_path = _install_fast_path(self)

    def end_streams(self) -> None:
        """Ask every open stream to end (any thread): the server is stopping."""
        self.stopping = True
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                stream.shutdown()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.end_streams()
        if self._stream_pool is not None:
            self._stream_pool.shutdown(wait=False, cancel_futures=True)
        self.stop_pool()

    def start_pool(self) -> None:
        for i in range(self.threads):
            t = threading.Thread(target=self._work, name=f"aipod-request-{i}", daemon=True)
            t.start()
            self._pool.append(t)

    def stop_pool(self, timeout_s: float = 30) -> None:
        for _ in self._pool:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout_s
        for t in self._pool:  # daemon threads: one stuck in a request does not hold the exit
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        self._pool.clear()

    # --- requests ---------------------------------------------------------------------

    def has_body(self, scope: Any) -> bool:
        headers = scope.headers
        if "content-length" in headers or "transfer-encoding" in headers:
            return True
        # HTTP/2 may carry a body without either header.
        return scope.http_version != "1.1" and scope.method not in BODYLESS_METHODS

    def serve(self, scope: Any, proto: Any, body: bytes | None) -> None:
        """Run the app for one complete request and send its response (any thread)."""
        try:
            result = run_wsgi(self.app, self.environ(scope, body))
        except BaseException:  # Flask answers its own errors: this is a fault around it
            log.exception("the WSGI application failed")
            result = None
        try:
            if result is None:
                self.refuse(proto, 500, scope.headers)
            else:
                proto.response_bytes(*result)
        except Exception:  # the protocol is closed: nobody is listening any more
            log.debug("could not send a response", exc_info=True)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":  # websockets are off; nothing else is served
            return
        if scope.path in self.stream_paths and scope.method == "GET":
            await self.serve_stream(scope, proto)
            return
        body = b""
        if self.has_body(scope):
            try:
                body = await self._receive(scope, proto)
            except BodyRefused as refused:
                self.refuse(proto, refused.status, scope.headers)
                return
        loop = self.loop or asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put((scope, proto, body, done))
        await done  # the pool thread has answered; granian must not answer for us

    # --- long-lived streams, on the event loop ---------------------------------------------

    def _stream_threads(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._stream_pool is None:
            self._stream_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, self.threads), thread_name_prefix="aipod-stream"
            )
        return self._stream_pool

    async def run_blocking(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Run `fn(arg)` in one of the stream threads (a short, blocking read)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stream_threads(), fn, arg)

    async def serve_stream(self, scope: Any, proto: Any) -> None:
        """Open the stream with a run of the app, then serve it here (module docstring)."""
        environ = self.environ(scope, None)
        handoff: list[Any] = []
        environ[STREAM_HANDOFF] = handoff
        loop = asyncio.get_running_loop()
        try:
            status, headers, body = await loop.run_in_executor(
                self._stream_threads(), run_wsgi, self.app, environ
            )
        except BaseException:
            log.exception("the WSGI application failed to open a stream")
            for stream in handoff:
                stream.close()
            with contextlib.suppress(Exception):
                self.refuse(proto, 500, scope.headers)
            return
        if status != 200 or not handoff:
            for stream in handoff:
                stream.close()
            with contextlib.suppress(Exception):
                proto.response_bytes(status, headers, body)
            return
        stream = handoff[0]
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        self._streams.add(stream)
        if self.stopping:
            stream.shutdown()
        try:
            await stream.serve(proto, kept, self.run_blocking)
        finally:
            self._streams.discard(stream)
            stream.close()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is _STOP:
                return
            scope, proto, body, done = item
            self.serve(scope, proto, body)
            loop = self.loop
            if done is not None and loop is not None:
                try:
                    loop.call_soon_threadsafe(_finish, done)
                except RuntimeError:  # the loop is closed: shutting down
                    return

    # --- bodies, with the fast path: callbacks on the event loop, no coroutine -----------

    def receive(self, scope: Any, proto: Any) -> None:
        """On the event loop: read a request's body, then queue it for the pool.

        With the fast path, granian's coroutine for the request is never started, so
        nothing waits for the pool's answer and no one answers in its place; a declared
        body is collected with one future and two callbacks (arrived / too late)."""
        try:
            length = scope.headers.get("content-length")
            if length is None:
                self._spawn(self._receive_then_queue(scope, proto))
                return
            try:
                declared = int(length)
            except ValueError:
                self.refuse(proto, 400, scope.headers)
                return
            if declared > self.max_body:
                self.refuse(proto, 413, scope.headers)  # before a byte of it is read
                return
            future = proto()
            if not hasattr(future, "add_done_callback"):  # not asyncio's future protocol
                self._spawn(self._receive_then_queue(scope, proto, future))
                return
            assert self.loop is not None
            late = self.loop.call_later(self.body_timeout_s, self._too_late, future, scope, proto)
            future.add_done_callback(partial(self._arrived, scope, proto, declared, late))
        except Exception:
            log.exception("could not receive a request body")
            with contextlib.suppress(Exception):
                self.refuse(proto, 500, scope.headers)

    def _arrived(
        self, scope: Any, proto: Any, declared: int, late: asyncio.TimerHandle, future: Any
    ) -> None:
        if future.cancelled():  # too late: answered with 408 already
            return
        late.cancel()
        try:
            body = future.result()
        except Exception:  # the client went away or broke the framing
            body = None
        if body is None or len(body) != declared:
            with contextlib.suppress(Exception):
                self.refuse(proto, 400, scope.headers)
            return
        self._queue.put((scope, proto, body, None))

    def _too_late(self, future: Any, scope: Any, proto: Any) -> None:
        if future.done() or not future.cancel():
            return  # arrived in time: `_arrived` is queued and serves it
        with contextlib.suppress(Exception):
            self.refuse(proto, 408, scope.headers)

    async def _receive_then_queue(self, scope: Any, proto: Any, future: Any = None) -> None:
        try:
            if future is not None:
                body = await self._within_deadline(self._read_declared(proto, future, scope))
            else:
                body = await self._within_deadline(self._read_stream(proto))
        except BodyRefused as refused:
            with contextlib.suppress(Exception):
                self.refuse(proto, refused.status, scope.headers)
            return
        except Exception:
            log.exception("could not receive a request body")
            with contextlib.suppress(Exception):
                self.refuse(proto, 500, scope.headers)
            return
        self._queue.put((scope, proto, body, None))

    def _spawn(self, coro: Any) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    def environ(self, scope: Any, body: bytes | None) -> dict[str, Any]:
        environ = self._base.copy()
        server_host, server_port = _host_port(scope.server)
        client_host, client_port = _host_port(scope.client)
        environ["REQUEST_METHOD"] = scope.method
        # WSGI strings are latin-1 decodings of the raw bytes; granian gives the path
        # percent-decoded as UTF-8.
        environ["PATH_INFO"] = scope.path.encode("utf-8").decode("latin-1")
        # The query as sent: curl sends the seed's `?tag=新能源` as raw UTF-8, which granian
        # hands over decoded; WSGI wants the bytes as latin-1.
        query = scope.query_string
        environ["QUERY_STRING"] = (
            query if query.isascii() else query.encode("utf-8").decode("latin-1")
        )
        environ["SERVER_PROTOCOL"] = "HTTP/" + scope.http_version
        environ["SERVER_NAME"] = server_host
        environ["SERVER_PORT"] = server_port
        environ["REMOTE_ADDR"] = client_host
        environ["REMOTE_PORT"] = client_port
        environ["wsgi.url_scheme"] = scope.scheme
        for name, value in scope.headers.items():
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
                continue
            if name in ("content-length", "transfer-encoding"):
                continue  # the body is complete and in memory
            key = "HTTP_" + name.upper().replace("-", "_")
            previous = environ.get(key)
            if previous is None:
                environ[key] = value
            else:  # a repeated header: one value, as RFC 9110 allows
                environ[key] = f"{previous}{'; ' if name == 'cookie' else ', '}{value}"
        if "HTTP_HOST" not in environ and scope.authority:
            environ["HTTP_HOST"] = scope.authority
        data = body or b""
        environ["CONTENT_LENGTH"] = str(len(data)) if body is not None else ""
        environ["wsgi.input"] = io.BytesIO(data)
        return environ

    # --- bodies -------------------------------------------------------------------------

    async def _receive(self, scope: Any, proto: Any) -> bytes:
        """Without the fast path (granian's coroutine per request)."""
        length = scope.headers.get("content-length")
        if length is None:
            return await self._within_deadline(self._read_stream(proto))
        try:
            declared = int(length)
        except ValueError:
            raise BodyRefused(400) from None
        if declared > self.max_body:
            raise BodyRefused(413)  # refused before a byte of it is read
        return await self._within_deadline(self._read_declared(proto, proto(), scope))

    async def _within_deadline(self, read: Any) -> bytes:
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body: bytes = await read
                return body
        except TimeoutError:
            raise BodyRefused(408) from None

    async def _read_declared(self, proto: Any, future: Any, scope: Any) -> bytes:
        """A `Content-Length` body (≤ the cap, so it may be collected whole)."""
        try:
            body: bytes = await future
        except Exception:  # the client went away or broke the framing
            raise BodyRefused(400) from None
        if len(body) != int(scope.headers.get("content-length")):
            raise BodyRefused(400)
        return body

    async def _read_stream(self, proto: Any) -> bytes:
        """A chunked body, counted against the cap as it arrives.

        granian's body iterator turns a transport or framing error into an empty chunk
        and ends every body with one empty chunk: an empty chunk followed by anything
        at all therefore means the body is broken."""
        parts: list[bytes] = []
        size = 0
        ended = False
        async for chunk in proto:
            if ended:
                raise BodyRefused(400)
            if not chunk:
                ended = True
                continue
            size += len(chunk)
            if size > self.max_body:
                raise BodyRefused(413)
            parts.append(chunk)
        return b"".join(parts)

    # --- answers written here, outside the app ------------------------------------------

    def refuse(self, proto: Any, status: int, headers: Any) -> None:
        english = english_header(headers.get("accept-language", ""))
        rid = f"{_rid.getrandbits(64):016x}"
        if status == 408:
            text = message("body_timeout", english, seconds=f"{self.body_timeout_s:g}")
            error = "request_timeout"
        elif status == 413:
            text = message("too_large", english, limit=self.max_body)
            error = "payload_too_large"
        elif status == 500:
            text = message("internal_error", english, request_id=rid)
            error = "internal_error"
        else:
            text = message("body_incomplete", english)
            error = "body_incomplete"
        payload = orjson.dumps(
            {
                "code": status,
                "error": error,
                "message": text,
                "data": None,
                "timestamp": utc_timestamp(),
            }
        )
        out = [("content-type", "application/json"), ("x-request-id", rid)]
        if status != 500:
            # The rest of the body is never read: the connection cannot be reused.
            out.append(("connection", "close"))
        if self.cors_origin is not None:
            origin = self.cors_origin(headers.get("origin"))
            if origin is not None:
                out.append(("access-control-allow-origin", origin))
        proto.response_bytes(status, out, payload)


def _finish(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _install_fast_path(bridge: WSGIBridge) -> bool:
    """Run bodyless requests in granian's own threads (granian 2.x worker internals).

    granian's RSGI worker hands every request, in one of its blocking threads, to a
    `CallbackScheduler` whose `_schedule_fn(watcher)` starts the app's coroutine on the
    event loop (`granian._futures._cbsched_aioschedule`). Run in `__rsgi_init__`, i.e.
    in the worker before it builds that scheduler, this replaces the factory with one
    whose `_schedule_fn` serves a bodyless request right there, in the calling thread
    (which holds the GIL, as granian's WSGI threads do), hands a request with a body to
    `WSGIBridge.receive` on the event loop (one wake-up; granian's coroutine for it is
    never started), and starts granian's coroutine for anything else (websockets, which
    are off). How many such threads there are is `rsgi_server`'s business. If
    granian's internals are not the expected ones, nothing is changed and every request
    takes the event loop and the pool: slower for reads, the same answers."""
    try:
        from granian import _futures as granian_futures
        from granian.server import mp as granian_mp
    except ImportError:  # pragma: no cover - granian is a dependency
        return False
    futures: Any = granian_futures
    mp: Any = granian_mp
    needed = ("_BaseCBScheduler", "_cbsched_aioschedule", "_aio_taskenter", "_aio_taskleave")
    if not all(hasattr(futures, n) for n in needed) or not hasattr(mp, "_new_cbscheduler"):
        log.warning("granian internals changed: bodyless requests take the event loop")
        return False

    class _Scheduler(futures._BaseCBScheduler):  # type: ignore[misc]
        def __init__(self, loop: Any, cb: Any, aio_task: Any, enter: Any, leave: Any) -> None:
            super().__init__()
            via_loop = futures._cbsched_aioschedule(loop, self._ctx, cb)
            has_body = bridge.has_body
            serve = bridge.serve
            stream_paths = bridge.stream_paths

            call_soon_threadsafe = loop.call_soon_threadsafe
            receive = bridge.receive

            def schedule(watcher: Any) -> None:
                # Called from Rust, which does not look for a Python exception: none
                # may escape.
                try:
                    scope = watcher.scope
                    if scope.proto != "http" or scope.path in stream_paths:
                        via_loop(watcher)  # granian's coroutine: `__rsgi__`
                    elif not has_body(scope):
                        serve(scope, watcher.proto, None)
                    else:
                        call_soon_threadsafe(receive, scope, watcher.proto)
                except BaseException:
                    log.exception("could not schedule a request")

            self._schedule_fn = schedule

    def new_scheduler(loop: Any, cb: Any, impl_asyncio: bool = False) -> Any:
        return _Scheduler(
            loop,
            cb,
            None,
            partial(futures._aio_taskenter, loop),
            partial(futures._aio_taskleave, loop),
        )

    mp._new_cbscheduler = new_scheduler
    return True


def end_streams_on_shutdown(bridge: WSGIBridge) -> bool:
    """End the bridge's open streams as soon as the worker is told to stop.

    granian stops a worker gracefully: it waits for open connections to finish, up to
    `workers_kill_timeout`, and an open stream never finishes by itself. A worker learns
    it must stop from SIGINT/SIGTERM handlers on its event loop, installed by
    `granian._signals.set_loop_signals` right after the app is loaded (granian 2.x
    worker internals). Wrapped here, those handlers also end the streams first, so they
    close at once and the worker exits. If granian's internals are not the expected
    ones nothing changes (streams then end when the worker is killed)."""
    try:
        from granian import _signals
    except ImportError:  # pragma: no cover - granian is a dependency
        return False
    original = getattr(_signals, "set_loop_signals", None)
    get_signals = getattr(_signals, "_get_signals", None)
    if original is None or get_signals is None:
        return False

    def set_loop_signals(loop: Any) -> Any:
        signal_event = original(loop)

        def stop(*_args: Any) -> None:
            bridge.end_streams()
            signal_event.set()

        try:
            for sig in get_signals():
                loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            log.warning("could not chain the worker's stop signal: streams end when killed")
        return signal_event

    _signals.set_loop_signals = set_loop_signals
    return True


def rsgi_server(*, request_threads: int, **options: Any) -> Any:
    """granian's `Server` on the RSGI interface with `request_threads` blocking threads.

    The threads are where `_install_fast_path` runs bodyless requests, as granian's
    WSGI interface runs every request. granian's `serve()` refuses `blocking_threads > 1`
    for RSGI (its own RSGI apps never run in them); its RSGI worker takes any number, so
    the count is set after that check, when the workers are spawned."""
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    options.setdefault(
        "loop", Loops.uvloop if importlib.util.find_spec("uvloop") else Loops.asyncio
    )

    class RSGIServer(Server):  # type: ignore[misc, valid-type]
        def startup(self, *args: Any, **kwargs: Any) -> None:
            self.blocking_threads = request_threads
            super().startup(*args, **kwargs)

    return RSGIServer(interface=Interfaces.RSGI, **options)
