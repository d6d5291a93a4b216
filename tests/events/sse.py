"""A minimal Server-Sent Events client over a real socket (http.client), for tests."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class SSE:
    """`GET /v1/events/stream`; `status`, `headers`, and `next()` for the next block."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        last_event_id: int | str | None = None,
        params: dict[str, Any] | None = None,
        timeout: float = 15.0,
    ) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        path = "/v1/events/stream" + (f"?{urlencode(params)}" if params else "")
        self.conn.request("GET", path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.body: Any = None
        if self.status != 200:
            self.body = json.loads(self.resp.read() or b"null")

    def next(self) -> Message:
        """The next block (an event, a cursor-only `id:`, or comments)."""
        msg = Message()
        seen = False
        while True:
            line = self.resp.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode().rstrip("\r\n")
            if not text:
                if seen:
                    return msg
                continue
            seen = True
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                msg.comments.append(value)
            elif name == "id":
                msg.id = value
            elif name == "event":
                msg.event = value
            elif name == "data":
                msg.data = value if not msg.data else msg.data + "\n" + value

    def events(self, n: int) -> list[Message]:
        """The next `n` events (skipping comments and cursor-only blocks)."""
        out: list[Message] = []
        while len(out) < n:
            msg = self.next()
            if msg.event is not None:
                out.append(msg)
        return out

    def next_event_or_cursor(self) -> Message:
        while True:
            msg = self.next()
            if msg.id is not None:
                return msg

    def close(self) -> None:
        try:
            sock = self.conn.sock
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def __enter__(self) -> SSE:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
