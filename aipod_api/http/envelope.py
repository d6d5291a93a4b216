"""The response envelope `{code, message, data, timestamp}` serialised with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

from aipod_api.core.clock import utc_timestamp
from aipod_api.http.i18n import t

JSON_MIMETYPE = "application/json"


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
