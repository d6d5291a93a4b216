"""The HTML documentation page (`/`, `/docs`) and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response, render_template

from aipod_api import __version__
from aipod_api.auth.service import DEMO_KEY
from aipod_api.core.inputs import accepts_query
from aipod_api.core.openapi import build_document
from aipod_api.events import outbox
from aipod_api.http.context import reads, state
from aipod_api.http.i18n import wants_english
from aipod_api.tasks import flows


def task_lifecycle(life: flows.Lifecycle) -> dict[str, Any]:
    """The docs page's view of the transition table: the statuses along the paid path
    (`open → progress → done`), the other final ones, and every edge."""
    paid = {t.target for t in life.transitions if t.effect is flows.SETTLE}
    finals = [s for s in life.statuses if s in life.final]
    return {
        "statuses": life.statuses,
        "path": [s for s in life.statuses if s not in life.final]
        + [s for s in finals if s in paid],
        "other": [s for s in finals if s not in paid],
        "paid": paid,
        "transitions": life.transitions,
    }


def event_types(life: flows.Lifecycle) -> list[str]:
    """Every event type, the task lifecycle's first in the table's order."""
    return [*life.event_types, *(t for t in outbox.TYPES if t not in life.event_types)]


def register(app: Flask) -> None:
    @accepts_query("lang")  # read by docs.js: ?lang=en|zh
    @reads
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
            lifecycle=task_lifecycle(flows.LIFECYCLE),
            event_types=event_types(flows.LIFECYCLE),
        )
        resp = Response(html, mimetype="text/html")
        resp.vary.add("Accept-Language")
        return resp

    app.add_url_rule("/", "docs_home", docs_page)
    app.add_url_rule("/docs", "docs_page", docs_page)

    body: list[bytes] = []

    @reads
    def openapi_json() -> Response:
        # Built from the routes and their models on the first request (every blueprint is
        # registered by then), then served from memory.
        if not body:
            body.append(orjson.dumps(build_document(app)))
        return Response(body[0], mimetype="application/json")

    app.add_url_rule("/v1/openapi.json", "openapi_json", openapi_json)
