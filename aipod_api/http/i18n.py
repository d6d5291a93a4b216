"""The request's language: `Accept-Language: en` asks for English, anything else Chinese."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from aipod_api.core.i18n import english_header, message


def wants_english() -> bool:
    if not has_request_context():
        return False
    # The environ, as werkzeug's `headers.get` reads it, without its KeyError when absent.
    return english_header(request.environ.get("HTTP_ACCEPT_LANGUAGE", ""))


def t(key: str, **params: Any) -> str:
    """The message `key` in the current request's language."""
    return message(key, wants_english(), **params)
