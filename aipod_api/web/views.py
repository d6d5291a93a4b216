"""The HTML documentation page (`/`, `/docs`) and the OpenAPI document."""

from __future__ import annotations

import orjson
from flask import Flask, Response, render_template

from aipod_api import __version__
from aipod_api.auth.service import DEMO_KEY
from aipod_api.core.context import state
from aipod_api.core.i18n import wants_english
from aipod_api.core.inputs import accepts_query
from aipod_api.core.openapi import build_document


def register(app: Flask) -> None:
    @accepts_query("lang")  # read by docs.js: ?lang=en|zh
    def docs_page() -> Response:
        demo_key = DEMO_KEY if state().settings.demo else None
        html = render_template(
            "docs.html",
            version=__version__,
            demo_key=demo_key,
            # The curl examples use the demo key only where it works.
            example_key=demo_key or "YOUR_API_KEY",
            # The browser's Accept-Language picks the first paint's language; the page's
            # script then prefers the user's own choice (kept in localStorage).
            lang_default="en" if wants_english() else "zh",
        )
        resp = Response(html, mimetype="text/html")
        resp.vary.add("Accept-Language")
        return resp

    app.add_url_rule("/", "docs_home", docs_page)
    app.add_url_rule("/docs", "docs_page", docs_page)

    body: list[bytes] = []

    def openapi_json() -> Response:
        # Built from the routes and their models on the first request (every blueprint is
        # registered by then), then served from memory.
        if not body:
            body.append(orjson.dumps(build_document(app)))
        return Response(body[0], mimetype="application/json")

    app.add_url_rule("/v1/openapi.json", "openapi_json", openapi_json)
