"""The ceiling: a bare Flask app whose routes return an envelope of a chosen size.

`GET /?size=N` answers `{"code": 0, "message": "操作成功", "data": {"pad": "xx…"},
"timestamp": "…"}` serialised with orjson, padded so the body is N bytes. No database,
no authentication, no limits: what Flask + granian can do at best on this machine.

`GET /jsonify?size=N` answers the same envelope, N bytes too, built the way a typical
Flask route builds one: `flask.jsonify` (Flask's default JSON provider, the standard
library's `json`, with `ensure_ascii` off so the Chinese message is sent as UTF-8 as
ours is).

`python bench/ceiling_app.py --port 5901 --workers 1 --threads 16` serves it on granian
with the same options as `python -m aipod_api.server` (WSGI, blocking threads, backlog).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import orjson
from flask import Flask, Response, jsonify, request

app = Flask(__name__)
app.json.ensure_ascii = False  # type: ignore[attr-defined]
app.json.sort_keys = False  # type: ignore[attr-defined]
_pads: dict[int, str] = {}
_jsonify_pads: dict[int, str] = {}
MESSAGE = "操作成功"


def _body(size: int) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pad = _pads.get(size)
    if pad is None:
        empty = orjson.dumps(
            {"code": 0, "message": "操作成功", "data": {"pad": ""}, "timestamp": now}
        )
        pad = _pads[size] = "x" * max(0, size - len(empty))
    return orjson.dumps({"code": 0, "message": "操作成功", "data": {"pad": pad}, "timestamp": now})


@app.get("/")
def ceiling() -> Response:
    size = request.args.get("size", default=200, type=int)
    return Response(_body(max(0, min(size, 1 << 20))), mimetype="application/json")


def _envelope(pad: str) -> dict[str, object]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"code": 0, "message": MESSAGE, "data": {"pad": pad}, "timestamp": now}


@app.get("/jsonify")
def ceiling_jsonify() -> Response:
    size = max(0, min(request.args.get("size", default=200, type=int), 1 << 20))
    pad = _jsonify_pads.get(size)
    if pad is None:
        empty = len(jsonify(_envelope("")).get_data())
        pad = _jsonify_pads[size] = "x" * max(0, size - empty)
    return jsonify(_envelope(pad))


def main() -> int:
    p = argparse.ArgumentParser(description="the bare-Flask ceiling on granian")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5901)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=16)
    args = p.parse_args()
    from granian.constants import Interfaces
    from granian.server import Server

    server = Server(
        "ceiling_app:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=args.threads,
        backlog=2048,
        log_level="warning",  # type: ignore[arg-type]
    )
    server.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
