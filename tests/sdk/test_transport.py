"""HTTPTransport against small real HTTP servers: keep-alive per thread and host,
reconnecting after the server closed a pooled connection, connection errors."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aipod_api.sdk import APIConnectionError, Client, HTTPTransport, Request, RetryPolicy


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, close_after_each: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.close_after_each = close_after_each
        self.peers: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        self.closed = threading.Semaphore(0)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.release()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            if self.client_address not in self.server.peers:
                self.server.peers.append(self.client_address)
        body = json.dumps({"code": 0, "message": "ok", "data": {"path": self.path}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # an idle timeout: the server drops the connection without announcing it
        self.close_connection = self.server.close_after_each


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def closing_server() -> Iterator[Server]:
    srv = Server(close_after_each=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(transport: HTTPTransport, url: str) -> Any:
    resp = transport.send(Request("GET", url, {"Accept": "application/json"}, None, 10.0))
    assert resp.status == 200
    return json.loads(resp.body)["data"]


def test_one_connection_per_thread_and_host(server: Server) -> None:
    transport = HTTPTransport()
    for i in range(5):
        assert get(transport, f"{server.url}/v1/x?i={i}") == {"path": f"/v1/x?i={i}"}
    assert len(server.peers) == 1

    def work() -> None:
        for _ in range(3):
            get(transport, f"{server.url}/v1/y")

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(server.peers) == 3  # the main thread's plus one per worker thread
    transport.close()
    get(transport, f"{server.url}/v1/z")
    assert len(server.peers) == 4  # closed connections are not reused


def test_two_hosts_two_connections(server: Server, closing_server: Server) -> None:
    transport = HTTPTransport()
    get(transport, f"{server.url}/a")
    get(transport, f"{closing_server.url}/b")
    get(transport, f"{server.url}/c")
    assert closing_server.closed.acquire(timeout=30)
    assert len(server.peers) == 1 and len(closing_server.peers) == 1


def test_reconnects_when_the_server_closed_the_pooled_connection(closing_server: Server) -> None:
    transport = HTTPTransport()
    for _ in range(4):
        get(transport, f"{closing_server.url}/v1/x")  # never an error
        # the server has closed its end (as after an idle timeout) before the next request
        assert closing_server.closed.acquire(timeout=30)
    assert len(closing_server.peers) == 4


def _silent_server() -> tuple[socket.socket, list[int], threading.Thread]:
    """Accepts connections, reads the request, closes without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return listener, accepted, thread


def test_dropped_answers_are_connection_errors_and_retried_for_reads() -> None:
    listener, accepted, _ = _silent_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(APIConnectionError) as err:
            HTTPTransport().send(Request("GET", url + "/v1/status", {}, None, 10.0))
        assert err.value.request_sent is True
        slept: list[float] = []
        client = Client("", base_url=url, retry=RetryPolicy(sleep=slept.append))
        with pytest.raises(APIConnectionError):
            client.status()
        assert len(accepted) == 1 + 3 and len(slept) == 2
    finally:
        listener.close()


def test_refused_connections_were_never_sent() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(APIConnectionError) as err:
        HTTPTransport().send(Request("POST", f"http://127.0.0.1:{port}/v1/tasks", {}, b"{}", 5.0))
    assert err.value.request_sent is False and "127.0.0.1" in str(err.value)
    with pytest.raises(APIConnectionError) as bad:
        HTTPTransport().send(Request("GET", "ftp://example.com/x", {}, None, 5.0))
    assert bad.value.request_sent is False
