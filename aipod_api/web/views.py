"""The HTML documentation page (`/`, `/docs`) and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response, render_template

from aipod_api import __version__
from aipod_api.auth.service import DEMO_KEY
from aipod_api.core.context import state


def register(app: Flask) -> None:
    def docs_page() -> str:
        demo_key = DEMO_KEY if state().settings.demo else None
        return render_template(
            "docs.html", version=__version__, demo_key=demo_key, lang_default="zh"
        )

    app.add_url_rule("/", "docs_home", docs_page)
    app.add_url_rule("/docs", "docs_page", docs_page)

    def openapi_json() -> Response:
        spec: dict[str, Any] = app.api_doc  # type: ignore[attr-defined]
        return Response(orjson.dumps(spec), mimetype="application/json")

    app.add_url_rule("/v1/openapi.json", "openapi_json", openapi_json)
