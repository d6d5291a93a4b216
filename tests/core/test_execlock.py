"""The execution lock (core/execlock.py): one request at a time, except while waiting."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from aipod_api.core.execlock import ExecutionLock, SerializedApp, blocking
from aipod_api.settings import Settings


def _call(app: SerializedApp, environ: dict[str, Any] | None = None) -> bytes:
    env = {"CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b"")}
    env.update(environ or {})
    return b"".join(app(env, lambda *_a: None))


def _timeline(use_blocking: bool) -> list[str]:
    events: list[str] = []
    started = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        events.append("slow:start")
        started.set()
        if use_blocking:
            with blocking():
                time.sleep(0.3)
        else:
            time.sleep(0.3)
        events.append("slow:end")
        return [b"slow"]

    def fast(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        events.append("fast")
        return [b"fast"]

    lock = ExecutionLock()
    slow_app = SerializedApp(slow, lock, max_body=1024)
    fast_app = SerializedApp(fast, lock, max_body=1024)
    t = threading.Thread(target=_call, args=(slow_app,))
    t.start()
    started.wait(5)
    _call(fast_app)
    t.join(5)
    return events


def test_requests_are_serialised() -> None:
    assert _timeline(use_blocking=False) == ["slow:start", "slow:end", "fast"]


def test_blocking_waits_let_others_run() -> None:
    assert _timeline(use_blocking=True) == ["slow:start", "fast", "slow:end"]


def test_blocking_without_the_lock_is_a_no_op() -> None:
    with blocking():
        pass


def test_body_is_read_before_the_lock() -> None:
    lock = ExecutionLock()
    seen: list[bool] = []

    class Input(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            acquired = lock._lock.acquire(blocking=False)  # free while the body is read
            seen.append(acquired)
            if acquired:
                lock._lock.release()
            return super().read(size)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [environ["wsgi.input"].read()]

    body = _call(
        SerializedApp(app, lock, max_body=1024),
        {"CONTENT_LENGTH": "5", "wsgi.input": Input(b"hello")},
    )
    assert body == b"hello" and seen == [True]


def test_defaults_follow_the_backend() -> None:
    sqlite = Settings(database_url="sqlite:///x.db")
    pg = Settings(database_url="postgresql://u@h/db")
    assert sqlite.uses_exec_lock and sqlite.thread_count == 2
    assert not pg.uses_exec_lock and pg.thread_count == 16
    assert Settings(database_url="sqlite:///x.db", threads=8).thread_count == 8
    # requests without a body: one thread with the lock (a second only trades the lock
    # and the GIL), as many as `threads` when that is set or without the lock
    assert sqlite.read_thread_count == 1 and pg.read_thread_count == 16
    assert Settings(database_url="sqlite:///x.db", threads=8).read_thread_count == 8
    assert Settings(database_url="sqlite:///x.db", read_threads=3).read_thread_count == 3
    assert Settings(database_url="sqlite:///x.db", read_threads=3).thread_count == 2
    assert Settings(database_url="postgresql://u@h/db", exec_lock="on").uses_exec_lock


def test_chunked_body_is_read_before_the_lock_too() -> None:
    """Under another WSGI server (gunicorn), a chunked body has no CONTENT_LENGTH."""
    lock = ExecutionLock()
    seen: list[bool] = []

    class Chunked(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            acquired = lock._lock.acquire(blocking=False)
            seen.append(acquired)
            if acquired:
                lock._lock.release()
            return super().read(size)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [environ["wsgi.input"].read()]

    body = _call(
        SerializedApp(app, lock, max_body=1024),
        {
            "CONTENT_LENGTH": "",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
            "wsgi.input": Chunked(b"x" * 2000),
        },
    )
    # Read outside the lock, and only one byte past the limit (Flask answers the 413).
    assert seen == [True] and body == b"x" * 1025


def test_a_body_the_bridge_buffered_is_not_read_again() -> None:
    """core/rsgi.py hands the app a complete body in memory: nothing to do here."""
    stream = io.BytesIO(b"hello")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        assert environ["wsgi.input"] is stream
        return [environ["wsgi.input"].read()]

    env = {"CONTENT_LENGTH": "5", "wsgi.input": stream, "aipod.body_buffered": True}
    assert _call(SerializedApp(app, ExecutionLock(), max_body=1024), env) == b"hello"
