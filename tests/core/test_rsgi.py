"""Request bodies are read on the event loop (core/rsgi.py, issue 11 items 1-2).

Against the real server (`python -m aipod_api.server`) over real sockets: slow, idle or
incomplete bodies must cost their own connection only. Each test opens more stalled
uploads than the server has request threads (2 on SQLite, 16 on PostgreSQL), so on the
old WSGI path every thread would be pinned and the bystanders below would time out.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import requests
from helpers import DEMO_KEY, LiveServer

from aipod_api.core.rsgi import WSGIBridge

BACKEND = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower()
THREADS = 2 if BACKEND == "sqlite" else 16  # the server's defaults (settings.thread_count)
CLIENT_TIMEOUT = 20  # seconds a bystander may wait: far below the stalls' body deadline
REGISTER = "/v1/auth/register"


def _connect(server: LiveServer) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT)
    return sock


def _head(path: str, extra: str, *, lang: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if lang:
        lines.append(f"Accept-Language: {lang}")
    return ("\r\n".join([*lines, extra]) + "\r\n\r\n").encode()


def stall_chunked(server: LiveServer, **kw: Any) -> socket.socket:
    """A chunked register that sends one chunk (`{`) and then nothing."""
    sock = _connect(server)
    sock.sendall(_head(REGISTER, "Transfer-Encoding: chunked", **kw) + b"1\r\n{\r\n")
    return sock


def stall_short(server: LiveServer, **kw: Any) -> socket.socket:
    """A register declaring 1000 bytes that sends 9."""
    sock = _connect(server)
    sock.sendall(_head(REGISTER, "Content-Length: 1000", **kw) + b'{"usernam')
    return sock


def read_response(sock: socket.socket, timeout: float = 60) -> tuple[int, dict[str, str], Any]:
    """Read one HTTP/1.1 response (status, lower-cased headers, parsed JSON body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response body"
        rest += chunk
    body = json.loads(rest[:length]) if length else None
    return int(status_line.split(" ")[1]), headers, body


def still_waiting(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed this connection."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # data, or b"" for a closed connection
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def _envelope(body: Any, status: int) -> str:
    from aipod_api.core.errors import ERROR_CODES

    assert set(body) == {"code", "error", "message", "data", "timestamp"}, body
    assert ERROR_CODES[body["error"]][0] == status, body
    assert body["code"] == status and body["data"] is None
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


def _bystanders(server: LiveServer, key: str) -> None:
    """Reads and a write from fresh connections, each bounded by the client timeout."""
    auth = {"Authorization": f"Bearer {key}"}
    for i in range(3):
        r = requests.get(f"{server.base_url}/v1/status", timeout=CLIENT_TIMEOUT)
        assert r.status_code == 200 and r.json()["code"] == 0
        r = requests.get(f"{server.base_url}/v1/agents/demo", headers=auth, timeout=CLIENT_TIMEOUT)
        assert r.status_code == 200 and r.json()["data"]["agent_id"] == "demo"
        r = requests.get(f"{server.base_url}/v1/wallet", headers=auth, timeout=CLIENT_TIMEOUT)
        assert r.status_code == 200
        name = f"bystander_{i}_{uuid.uuid4().hex[:6]}"
        r = requests.post(
            f"{server.base_url}{REGISTER}",
            json={"username": name, "email": f"{name}@example.com"},
            timeout=CLIENT_TIMEOUT,
        )
        assert r.status_code == 201, r.text


def test_stalled_uploads_do_not_stall_anyone_else(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(demo=True, env={"AIPOD_BODY_TIMEOUT_S": "600"})
    stalls = [(stall_chunked if i % 2 else stall_short)(server) for i in range(THREADS + 1)]
    try:
        _bystanders(server, DEMO_KEY)
        # The bystanders were answered while every stalled upload is still pending.
        assert all(still_waiting(s) for s in stalls)
    finally:
        for s in stalls:
            s.close()
    _bystanders(server, DEMO_KEY)


def test_a_stalled_upload_gets_408_in_the_envelope(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(demo=True, env={"AIPOD_BODY_TIMEOUT_S": "1"})
    chunked, short = stall_chunked(server), stall_short(server, lang="en")
    try:
        status, headers, body = read_response(chunked)
        assert status == 408 and headers["connection"] == "close"
        assert headers["content-type"] == "application/json" and headers["x-request-id"]
        assert "1 秒" in _envelope(body, 408)
        status, _, body = read_response(short)
        assert status == 408
        assert _envelope(body, 408) == "The request body did not arrive within 1 s"
        assert chunked.recv(1) == b"" and short.recv(1) == b""  # closed after the answer
    finally:
        chunked.close()
        short.close()
    _bystanders(server, DEMO_KEY)


def test_a_slow_but_complete_upload_is_served(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(env={"AIPOD_BODY_TIMEOUT_S": "600"})
    for framing in ("chunked", "length"):
        name = f"slow_{framing}"
        body = json.dumps({"username": name, "email": f"{name}@example.com"}).encode()
        pieces = [body[:5], body[5:20], body[20:]]
        sock = _connect(server)
        try:
            if framing == "chunked":
                sock.sendall(_head(REGISTER, "Transfer-Encoding: chunked"))
                for piece in pieces:
                    time.sleep(0.2)
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(_head(REGISTER, f"Content-Length: {len(body)}"))
                for piece in pieces:
                    time.sleep(0.2)
                    sock.sendall(piece)
            status, _, answer = read_response(sock)
        finally:
            sock.close()
        assert status == 201, answer
        assert answer["data"]["node_id"] == name


def test_oversized_bodies_are_refused_with_413(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(env={"AIPOD_BODY_TIMEOUT_S": "600", "AIPOD_MAX_BODY_BYTES": "4096"})
    # Declared too large: refused before a byte of it is read (the deadline is 600 s).
    sock = _connect(server)
    try:
        sock.sendall(_head(REGISTER, "Content-Length: 4097", lang="en"))
        status, headers, body = read_response(sock, timeout=CLIENT_TIMEOUT)
    finally:
        sock.close()
    assert status == 413 and headers["connection"] == "close"
    assert "4096" in _envelope(body, 413)
    # Chunked: refused as soon as the chunks pass the cap.
    sock = _connect(server)
    try:
        sock.sendall(_head(REGISTER, "Transfer-Encoding: chunked"))
        for _ in range(5):
            sock.sendall(b"3e8\r\n" + b" " * 1000 + b"\r\n")
        status, _, body = read_response(sock, timeout=CLIENT_TIMEOUT)
    finally:
        sock.close()
    assert status == 413
    assert "4096" in _envelope(body, 413)
    # At the cap exactly: read and handed to the app (which answers the bad JSON).
    r = requests.post(f"{server.base_url}{REGISTER}", data=b" " * 4096, timeout=CLIENT_TIMEOUT)
    assert r.status_code == 400 and r.json()["code"] == 400


def test_broken_or_cut_bodies_are_400_and_never_reach_the_app(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(demo=True, env={"AIPOD_BODY_TIMEOUT_S": "600"})
    body = json.dumps({"username": "cut_short", "email": "cut@example.com"}).encode()
    # Bad chunk framing.
    sock = _connect(server)
    try:
        sock.sendall(_head(REGISTER, "Transfer-Encoding: chunked") + b'3\r\n{"u\r\nzz\r\n')
        status, headers, answer = read_response(sock)
    finally:
        sock.close()
    assert status == 400 and headers["connection"] == "close"
    assert "分块" in _envelope(answer, 400)
    # A complete JSON object, but the client stops before the body it declared / before
    # the last chunk: the request is incomplete and must not take effect.
    for framing in ("length", "chunked"):
        sock = _connect(server)
        try:
            if framing == "length":
                sock.sendall(_head(REGISTER, f"Content-Length: {len(body) + 10}") + body)
            else:
                sock.sendall(
                    _head(REGISTER, "Transfer-Encoding: chunked")
                    + b"%x\r\n%s\r\n" % (len(body), body)
                )
            sock.shutdown(socket.SHUT_WR)
            status, _, answer = read_response(sock)
        finally:
            sock.close()
        assert status == 400, answer
        _envelope(answer, 400)
    r = requests.get(
        f"{server.base_url}/v1/agents/cut_short",
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
        timeout=CLIENT_TIMEOUT,
    )
    assert r.status_code == 404, r.text


def test_requests_reach_the_app_intact(live: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {DEMO_KEY}", "X-Request-Id": "trace-me.1"}
    r = requests.get(f"{live.base_url}/v1/agents/%E4%B8%AD%E6%96%87", headers=auth, timeout=10)
    assert r.status_code == 404 and "中文" in r.json()["message"]
    assert r.headers["X-Request-Id"] == "trace-me.1"
    r = requests.get(
        f"{live.base_url}/v1/memory", params={"tag": "新能源"}, headers=auth, timeout=10
    )
    assert r.status_code == 200 and r.json()["code"] == 0
    r = requests.put(
        f"{live.base_url}/v1/agents/demo",
        headers={**auth, "Accept-Language": "en"},
        json={"nickname": "节点 ✓"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["data"]["nickname"] == "节点 ✓"
    assert r.json()["message"] == "Updated"
    # The fast path for bodyless requests is in place (it depends on granian internals).
    assert "granian internals changed" not in live.log()


# --- the WSGI environ, unit level ------------------------------------------------------------


class _Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self._items if k == key), default)

    def __contains__(self, key: str) -> bool:
        return any(k == key for k, _ in self._items)


def _scope(**kw: Any) -> Any:
    base = {
        "proto": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/v1/agents/中文",
        "query_string": "tag=%E6%96%B0&x=1",
        "scheme": "http",
        "server": "127.0.0.1:5001",
        "client": "[::1]:40000",
        "authority": None,
        "headers": _Headers([]),
    }
    base.update(kw)
    return SimpleNamespace(**base)


def test_environ_follows_pep_3333() -> None:
    bridge = WSGIBridge(lambda e, s: [], threads=1, max_body=1024, body_timeout_s=1)
    headers = _Headers(
        [
            ("host", "api.example"),
            ("content-type", "application/json"),
            ("content-length", "2"),
            ("x-tag", "a"),
            ("x-tag", "b"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ]
    )
    env = bridge.environ(_scope(method="POST", headers=headers), b"{}")
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/v1/agents/中文"
    assert env["QUERY_STRING"] == "tag=%E6%96%B0&x=1"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == "5001"
    assert env["REMOTE_ADDR"] == "::1" and env["REMOTE_PORT"] == "40000"
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "2" and env["wsgi.input"].read() == b"{}"
    assert env["HTTP_HOST"] == "api.example"
    assert env["HTTP_X_TAG"] == "a, b" and env["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_CONTENT_LENGTH" not in env and "HTTP_CONTENT_TYPE" not in env
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["wsgi.url_scheme"] == "http"

    bodyless = bridge.environ(_scope(authority="h.example:80"), None)
    assert bodyless["CONTENT_LENGTH"] == "" and bodyless["wsgi.input"].read() == b""
    assert bodyless["HTTP_HOST"] == "h.example:80"


def test_which_requests_have_a_body() -> None:
    bridge = WSGIBridge(lambda e, s: [], threads=1, max_body=1024, body_timeout_s=1)
    assert not bridge.has_body(_scope())
    assert not bridge.has_body(_scope(method="POST"))  # HTTP/1.1: no length, no chunks
    assert bridge.has_body(_scope(headers=_Headers([("content-length", "0")])))
    assert bridge.has_body(_scope(headers=_Headers([("transfer-encoding", "chunked")])))
    assert bridge.has_body(_scope(http_version="2", method="POST"))  # h2: DATA frames
    assert not bridge.has_body(_scope(http_version="2", method="GET"))


def _raw(server: LiveServer, data: bytes) -> bytes:
    """Send raw bytes; everything the server sends back until it closes."""
    sock = _connect(server)
    try:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out
    finally:
        sock.close()


def test_what_granian_refuses_itself(live: LiveServer) -> None:
    """README "What granian answers itself": outside the envelope, empty, connection closed.

    If granian (hyper) ever lets these through, or changes them, the README must change."""
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(100))
    answer = _raw(live, b"GET /v1/status HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ") and answer.endswith(b"\r\n\r\n")
    big = b"X-Big: " + b"a" * 1_000_000 + b"\r\n"
    answer = _raw(live, b"GET /v1/status HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    target = b"/v1/status?" + b"a" * 65_535
    answer = _raw(live, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 ") and b"content-length: 0" in answer
    for framing in (b"Content-Length: 5\r\nContent-Length: 7", b"Content-Length: abc"):
        answer = _raw(
            live, b"POST /v1/auth/register HTTP/1.1\r\nHost: t\r\n" + framing + b"\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 400 ") and b"content-length: 0" in answer
    # Just under those limits, the app answers (in the envelope).
    few = b"".join(b"X-H%d: 1\r\n" % i for i in range(90))
    r = requests.get(f"{live.base_url}/v1/" + "a" * 60_000, timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "route_not_found"
    answer = _raw(
        live, b"GET /v1/status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + few + b"\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"code":0' in answer


def test_head_and_options_are_served(live: LiveServer) -> None:
    r = requests.head(f"{live.base_url}/v1/status", timeout=10)
    assert r.status_code == 200 and r.content == b""
    r = requests.options(
        f"{live.base_url}/v1/tasks", headers={"Origin": "https://x.example"}, timeout=10
    )
    assert r.status_code == 200 and "POST" in r.json()["data"]["allow"]


# --- the bridge's two body paths, unit level (fake granian protocol objects) -----------------


class _Proto:
    """granian's RSGI HTTP protocol, reduced to what the bridge uses."""

    def __init__(self, chunks: list[bytes] | None = None, *, stall: bool = False) -> None:
        self.chunks = list(chunks or [])
        self.stall = stall
        self.responses: list[tuple[int, list[tuple[str, str]], bytes]] = []
        self.future: Any = None

    def __call__(self) -> Any:  # the whole body, as an asyncio future
        loop = asyncio.get_running_loop()
        self.future = loop.create_future()
        if not self.stall:
            self.future.set_result(b"".join(self.chunks))
        return self.future

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        for chunk in self.chunks:
            yield chunk
        if self.stall:
            await asyncio.sleep(3600)
        yield b""

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.responses.append((status, headers, body))


def _echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("content-type", "text/plain")])
    return [environ["REQUEST_METHOD"].encode(), b":", environ["wsgi.input"].read()]


def _run(path: str, scope: Any, proto: _Proto, *, timeout: float = 0.2) -> _Proto:
    """Drive one request through `__rsgi__` (granian's coroutine: the path without the
    fast path) or `receive` (the fast path's callbacks), on a real event loop and pool."""

    async def main() -> None:
        bridge = WSGIBridge(_echo, threads=1, max_body=16, body_timeout_s=timeout)
        bridge.loop = asyncio.get_running_loop()
        bridge.start_pool()
        try:
            if path == "coroutine":
                await bridge.__rsgi__(scope, proto)
            else:
                bridge.receive(scope, proto)
            for _ in range(200):
                if proto.responses:
                    break
                await asyncio.sleep(0.01)
        finally:
            bridge.stop_pool()

    asyncio.run(main())
    return proto


def _post(headers: list[tuple[str, str]]) -> Any:
    return _scope(method="POST", headers=_Headers(headers))


def test_both_body_paths_give_the_same_answers() -> None:
    for path in ("coroutine", "callbacks"):
        done = _run(path, _post([("content-length", "5")]), _Proto([b"he", b"llo"]))
        assert [(s, b) for s, _, b in done.responses] == [(200, b"POST:hello")], path
        chunked = _post([("transfer-encoding", "chunked")])
        done = _run(path, chunked, _Proto([b"he", b"llo"]))
        assert [(s, b) for s, _, b in done.responses] == [(200, b"POST:hello")], path
        for headers, proto, status in (
            ([("content-length", "17")], _Proto([b"x" * 17]), 413),  # declared too large
            ([("transfer-encoding", "chunked")], _Proto([b"x" * 10, b"x" * 7]), 413),
            ([("content-length", "9")], _Proto([b"short"]), 400),  # cut short
            ([("transfer-encoding", "chunked")], _Proto([b"ab", b"", b"cd"]), 400),  # broken
            ([("content-length", "5")], _Proto([b"he"], stall=True), 408),
            ([("transfer-encoding", "chunked")], _Proto([b"he"], stall=True), 408),
        ):
            done = _run(path, _post(headers), proto)
            assert [s for s, _, _ in done.responses] == [status], (path, headers, status)
            _, out_headers, payload = done.responses[0]
            assert ("connection", "close") in out_headers
            assert _envelope(json.loads(payload), status)


def test_raw_utf8_in_the_query_reaches_the_app(live: LiveServer) -> None:
    """curl sends the seed's `?tag=新能源` unencoded: the bridge passes it on as WSGI wants
    (the bytes as latin-1), so it reads like the percent-encoded form."""
    head = f"Authorization: Bearer {DEMO_KEY}\r\nHost: t\r\nConnection: close\r\n\r\n"
    raw = _raw(live, "GET /v1/memory?tag=新能源 HTTP/1.1\r\n".encode() + head.encode())
    encoded = requests.get(
        f"{live.base_url}/v1/memory",
        params={"tag": "新能源"},
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
        timeout=10,
    ).json()
    status, _, rest = raw.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 200 "), raw[:300]
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body["data"]["total"] == encoded["data"]["total"] > 0
    assert body["data"]["items"] == encoded["data"]["items"]
