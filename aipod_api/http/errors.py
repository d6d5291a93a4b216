"""The one place that maps every error to the envelope, in the request's language.

`ApiError`s (core/errors.py and the domains' subclasses) carry their status, machine
code, message key and parameters; pydantic validation errors, werkzeug HTTP errors and
unexpected exceptions are mapped here too.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from aipod_api.core.errors import ERROR_CODES, ApiError, validation_payload
from aipod_api.http.envelope import envelope
from aipod_api.http.i18n import t, wants_english

log = logging.getLogger("aipod_api")


def error_response(exc: ApiError) -> Response:
    """An `ApiError` as its envelope, with its headers."""
    message, data = exc.render(wants_english())
    resp = envelope(data, message=message, code=exc.status, status=exc.status, error=exc.code_name)
    for name, value in exc.headers.items():
        resp.headers[name] = value
    return resp


def validation_error_response(exc: ValidationError) -> Response:
    """flask-openapi3's validation_error_callback: a 400 in the envelope."""
    message, data = validation_payload(exc, wants_english())
    return envelope(data, message=message, code=400, status=400, error="validation_failed")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        error = exc.code_name
        if error not in ERROR_CODES:
            log.error("error code %r is not in ERROR_CODES", error)
            if app.config.get("AIPOD_TESTING"):
                raise AssertionError(f"unregistered error code {error!r}")
        return error_response(exc)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        return validation_error_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if isinstance(exc.response, Response) and exc.response.mimetype == "application/json":
            # flask-openapi3 aborts with our own validation response
            return exc.response
        status = exc.code or 500
        if status == 404:
            message, error = t("route_not_found", path=request.path), "route_not_found"
        elif status == 405:
            message, error = t("method_not_allowed", method=request.method), "method_not_allowed"
        elif status == 413:
            message = t("too_large", limit=app.config.get("MAX_CONTENT_LENGTH"))
            error = "payload_too_large"
        elif status == 400:
            message, error = t("bad_request"), "bad_request"
        else:
            message, error = t("http_error"), "http_error"
        resp = envelope(None, message=message, code=status, status=status, error=error)
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            resp.headers["Allow"] = ", ".join(valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        request_id = getattr(g, "request_id", "-")
        log.exception("unhandled error (request %s)", request_id)
        return envelope(
            None,
            message=t("internal_error", request_id=request_id),
            code=500,
            status=500,
            error="internal_error",
        )
