"""The response envelope `{code, message, data, timestamp}` serialised with orjson."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Response

from aipod_api.http.i18n import t

JSON_MIMETYPE = "application/json"


_last_stamp: tuple[int, str] = (0, "")


def utc_timestamp() -> str:
    """Second precision, so formatted once per second (a racing thread just formats too)."""
    global _last_stamp
    now = int(time.time())
    second, text = _last_stamp
    if second != now:
        text = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_stamp = (now, text)
    return text


def envelope(
    data: Any = None,
    *,
    message: str | None = None,
    code: int = 0,
    status: int = 200,
    error: str | None = None,
) -> Response:
    """`error` is the stable machine code of an error response (core/errors.py
    ERROR_CODES); success responses have none."""
    body: dict[str, Any] = {"code": code}
    if error is not None:
        body["error"] = error
    body["message"] = message if message is not None else t("ok")
    body["data"] = data
    body["timestamp"] = utc_timestamp()
    payload = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    return Response(payload, status=status, content_type=JSON_MIMETYPE)


def ok(data: Any = None, *, message_key: str = "ok", status: int = 200) -> Response:
    return envelope(data, message=t(message_key), status=status)


def created(data: Any, *, message_key: str = "created") -> Response:
    return envelope(data, message=t(message_key), status=201)
