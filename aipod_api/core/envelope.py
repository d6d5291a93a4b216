"""The response envelope `{code, message, data, timestamp}` serialised with orjson."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Response

from aipod_api.core.i18n import t

JSON_MIMETYPE = "application/json"


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    data: Any = None,
    *,
    message: str | None = None,
    code: int = 0,
    status: int = 200,
) -> Response:
    body = {
        "code": code,
        "message": message if message is not None else t("ok"),
        "data": data,
        "timestamp": utc_timestamp(),
    }
    payload = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    return Response(payload, status=status, mimetype=JSON_MIMETYPE)


def ok(data: Any = None, *, message_key: str = "ok", status: int = 200) -> Response:
    return envelope(data, message=t(message_key), status=status)


def created(data: Any, *, message_key: str = "created") -> Response:
    return envelope(data, message=t(message_key), status=201)
