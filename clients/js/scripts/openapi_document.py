"""Print the API's OpenAPI document (GET /v1/openapi.json of the current code), in process.

Used by `npm run generate` (scripts/generate.mjs) and by the test that fails when
src/openapi.ts is stale (tests/clients/test_js_client.py). Needs the project installed
(`pip install -e .`); the app runs on a throwaway SQLite database.

    python clients/js/scripts/openapi_document.py OUTPUT.json
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path


def document() -> dict[str, object]:
    from aipod_api.app import create_app
    from aipod_api.settings import Settings

    logging.disable(logging.INFO)  # migrations log at INFO; keep the output clean
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/openapi.db", demo=False)
        app = create_app(settings)
        try:
            response = app.test_client().get("/v1/openapi.json")
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/openapi.json answered {response.status_code}")
            body = response.get_json()
        finally:
            state = app.extensions["aipod"]
            state.sweeper.stop()
            state.engine.dispose()
    if not isinstance(body, dict):
        raise SystemExit("GET /v1/openapi.json did not return a JSON object")
    return body


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: openapi_document.py OUTPUT.json")
    text = json.dumps(document(), ensure_ascii=False, indent=2) + "\n"
    Path(sys.argv[1]).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
