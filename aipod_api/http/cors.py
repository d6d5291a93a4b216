"""Cross-origin access for browser callers (`fetch` from another origin).

Authentication is a bearer header, never a cookie, so allowing any origin exposes
nothing a script could not already do with a key it holds; `AIPOD_CORS_ORIGINS` can
narrow it to a comma-separated list, or turn it off (empty). Preflight (`OPTIONS`)
requests need no key and are answered here, in the envelope, with the allowed methods.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

from aipod_api.http.envelope import envelope

ALLOW_HEADERS = "Authorization, Content-Type, Accept-Language, X-Request-Id, Idempotency-Key"
EXPOSE_HEADERS = (
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Request-Id, "
    "Idempotent-Replayed, WWW-Authenticate"
)


def origin_matcher(origins: str) -> Callable[[str | None], str | None]:
    """The `Access-Control-Allow-Origin` value for a request's `Origin`, or None."""
    allowed = {o.strip() for o in origins.split(",") if o.strip()}
    any_origin = "*" in allowed

    def match(origin: str | None) -> str | None:
        if not origin or not allowed:
            return None
        if any_origin:
            return "*"
        return origin if origin in allowed else None

    return match


def install(app: Flask, *, origins: str) -> None:
    match = origin_matcher(origins)

    def _origin_header() -> str | None:
        return match(request.environ.get("HTTP_ORIGIN"))

    @app.before_request
    def _preflight() -> Response | None:
        if request.method != "OPTIONS" or request.url_rule is None:
            return None
        adapter = app.url_map.bind_to_environ(request.environ)
        methods = sorted(set(adapter.allowed_methods(request.path)) | {"OPTIONS"})
        resp = envelope({"allow": methods})
        resp.headers["Allow"] = ", ".join(methods)
        if _origin_header() is not None:
            resp.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
            resp.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            resp.headers["Access-Control-Max-Age"] = "600"
        return resp

    @app.after_request
    def _cors_headers(response: Response) -> Response:
        origin = _origin_header()
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            if origin != "*":
                response.headers["Vary"] = "Origin"
        return response
