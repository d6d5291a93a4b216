"""Transports: how the client's requests reach a server.

A transport sends one HTTP request and returns the raw response; it knows nothing about
the envelope, errors or retries (the `Client` does that). Two ship with the SDK:

- `HTTPTransport` (the default): `http.client` with keep-alive, one connection per thread
  and host, reconnecting when a pooled connection was closed by the server.
- `WSGITransport(app)`: calls a WSGI application in process (tests, notebooks), e.g.
  `Client(key, transport=WSGITransport(create_app(settings)))`.

Write your own by implementing `send()` and `close()` (the `Transport` protocol).
Transports raise `APIConnectionError` when no response was received.
"""

from __future__ import annotations

import http.client
import io
import select
import ssl
import sys
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aipod_api.sdk.errors import APIConnectionError


@dataclass(frozen=True)
class Request:
    """One HTTP request: `url` is absolute (scheme, host, path and query)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Response:
    """One HTTP response; `headers` has lower-cased names."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class Transport(Protocol):
    """Sends requests. Must be safe to call from several threads at once."""

    def send(self, request: Request) -> Response:
        """Send `request` and return the response; raise `APIConnectionError` when no
        response arrives (`request_sent=False` if the server cannot have seen it)."""
        ...

    def close(self) -> None:
        """Release connections (the transport may be used again afterwards)."""
        ...


_Key = tuple[str, str, int]


class HTTPTransport:
    """`http.client` with keep-alive: each thread keeps one open connection per
    (scheme, host, port) and reuses it for the next request to that host.

    A pooled connection the server has closed meanwhile (idle timeout, restart) is
    detected before reuse and replaced; a failure on a connection leaves no broken
    connection behind, so the next request reconnects.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._local = threading.local()
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _pool(self) -> dict[_Key, http.client.HTTPConnection]:
        pool: dict[_Key, http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def _connect(self, key: _Key, timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = key
        conn: http.client.HTTPConnection
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        with self._lock:
            self._all.add(conn)
        return conn

    def send(self, request: Request) -> Response:
        parts = urllib.parse.urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise APIConnectionError(f"unsupported URL {request.url!r}", request_sent=False)
        port = parts.port or (443 if scheme == "https" else 80)
        key: _Key = (scheme, parts.hostname, port)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        pool = self._pool()
        conn = pool.pop(key, None)
        if conn is not None and _dropped(conn):
            conn.close()
            conn = None
        if conn is None:
            conn = self._connect(key, request.timeout)
        else:
            conn.timeout = request.timeout
            if conn.sock is not None:
                conn.sock.settimeout(request.timeout)
        sent = False
        try:
            conn.request(request.method, target, body=request.body, headers=dict(request.headers))
            sent = True
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            where = f"{scheme}://{parts.netloc}"
            raise APIConnectionError(
                f"cannot reach {where}: {type(exc).__name__}: {exc}", request_sent=sent
            ) from exc
        if resp.will_close:
            conn.close()
        else:
            pool[key] = conn
        headers = {name.lower(): value for name, value in resp.getheaders()}
        return Response(resp.status, headers, body)

    def close(self) -> None:
        """Close every connection this transport opened, in every thread."""
        with self._lock:
            conns = list(self._all)
            self._all.clear()
        for conn in conns:
            conn.close()
        self._local = threading.local()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle pooled connection is no longer usable: the server closed it
    (the socket reads as ready: EOF) or it has no socket."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WSGITransport:
    """Calls a WSGI application in this process: no sockets, no server.

    `Client("fg_live_...", transport=WSGITransport(app))` talks to `app` exactly as to a
    server at the client's base URL (its host names the request's `Host`).
    """

    def __init__(self, app: WSGIApp, *, remote_addr: str = "127.0.0.1") -> None:
        self.app = app
        self.remote_addr = remote_addr

    def send(self, request: Request) -> Response:
        parts = urllib.parse.urlsplit(request.url)
        body = request.body or b""
        scheme = parts.scheme or "http"
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            # PEP 3333: the decoded path, as latin-1 code points of its bytes
            "PATH_INFO": urllib.parse.unquote_to_bytes(parts.path or "/").decode("latin-1"),
            "QUERY_STRING": parts.query,
            "SERVER_NAME": parts.hostname or "localhost",
            "SERVER_PORT": str(parts.port or (443 if scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.remote_addr,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "HTTP_HOST": parts.netloc or "localhost",
        }
        for name, value in request.headers.items():
            upper = name.upper().replace("-", "_")
            if upper == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif upper == "CONTENT_LENGTH":
                continue
            else:
                environ[f"HTTP_{upper}"] = value
        captured: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = {name.lower(): value for name, value in headers}
            return written.append

        result = self.app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return Response(int(captured["status"]), captured["headers"], b"".join(written))

    def close(self) -> None:
        """Nothing to release."""


__all__ = ["HTTPTransport", "Request", "Response", "Transport", "WSGITransport"]
