"""A real HTTP receiver for webhook tests: a threaded server on 127.0.0.1 that records
every delivery and answers as its `behave` function says."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    path: str
    received_at: float
    verified: bool | None = None


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    sleep_s: float = 0.0


class Receiver:
    """`behave(delivery, n)` -> Reply, where n counts deliveries from 0. `verify`: a
    callable(body, headers) that raises when the delivery is not authentic; a delivery
    that fails it is answered 400 (and recorded with verified=False)."""

    def __init__(
        self,
        behave: Callable[[Delivery, int], Reply] | None = None,
        verify: Callable[[bytes, dict[str, str]], Any] | None = None,
    ) -> None:
        self.behave = behave or (lambda _d, _n: Reply())
        self.verify = verify
        self.deliveries: list[Delivery] = []
        self.replied = 0  # answers fully written
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                delivery = Delivery(
                    {k.lower(): v for k, v in self.headers.items()}, body, self.path, time.time()
                )
                if receiver.verify is not None:
                    try:
                        receiver.verify(body, dict(self.headers.items()))
                        delivery.verified = True
                    except Exception:
                        delivery.verified = False
                with receiver.lock:
                    n = len(receiver.deliveries)
                    receiver.deliveries.append(delivery)
                    receiver.changed.notify_all()
                reply = Reply(400) if delivery.verified is False else receiver.behave(delivery, n)
                if reply.sleep_s:
                    time.sleep(reply.sleep_s)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                except OSError:
                    return
                with receiver.lock:
                    receiver.replied += 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout: float = 60) -> bool:
        """Wait until `predicate(deliveries)` holds; False when it did not in time."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.deliveries):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))
            return True

    def snapshot(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
