"""The JavaScript/TypeScript client (clients/js), driven from pytest so that `.ci/run` runs it.

- its generated types (src/openapi.ts) match the current app's OpenAPI document, and the
  committed build (dist/) matches src/;
- the published types accept what the API accepts and refuse what it refuses (tsc);
- its node:test suites pass against a fresh real server (AIPOD_BASE_URL).

Skipped, with the reason, where Node.js >= 18 is not installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import requests
from helpers import LiveServer
from jsnode import JS_CLIENT, npm_ci, run_node, tap_summary

# Every suite of clients/js/test (what `npm test` runs).
NODE_SUITES = sorted(str(p.relative_to(JS_CLIENT)) for p in JS_CLIENT.glob("test/*.test.mjs"))


@pytest.fixture
def js_client() -> None:
    npm_ci(JS_CLIENT)


def _ok(result: object) -> None:
    returncode = getattr(result, "returncode", None)
    output = f"{getattr(result, 'stdout', '')}\n{getattr(result, 'stderr', '')}"
    assert returncode == 0, output[-8000:]


@pytest.mark.usefixtures("js_client")
def test_generated_types_match_the_openapi_document() -> None:
    # Regenerates src/openapi.ts from GET /v1/openapi.json of the current code (in process,
    # scripts/openapi_document.py) and compares; fails with the first differing line.
    result = run_node(
        ["scripts/generate.mjs", "--check"], cwd=JS_CLIENT, env={"PYTHON": sys.executable}
    )
    _ok(result)
    assert "matches the current OpenAPI document" in result.stdout


@pytest.mark.usefixtures("js_client")
def test_committed_build_matches_the_sources() -> None:
    result = run_node(["scripts/check-dist.mjs"], cwd=JS_CLIENT)
    _ok(result)
    assert "dist/ matches the build of src/" in result.stdout


@pytest.mark.usefixtures("js_client")
def test_published_types_and_formatting() -> None:
    # test/types.ts type-checks against dist/index.d.ts, and each of its @ts-expect-error
    # lines (a missing `on_time`, an unknown status, ...) really is a type error.
    _ok(run_node(["node_modules/typescript/bin/tsc", "-p", "test/tsconfig.json"], cwd=JS_CLIENT))
    _ok(run_node(["node_modules/prettier/bin/prettier.cjs", "--check", "."], cwd=JS_CLIENT))


@pytest.mark.usefixtures("js_client")
def test_node_suites_against_a_live_server(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    result = run_node(
        ["--test", "--test-reporter=tap", *NODE_SUITES],
        cwd=JS_CLIENT,
        env={"AIPOD_BASE_URL": server.base_url, "AIPOD_API_KEY": ""},
    )
    _ok(result)
    summary = tap_summary(result.stdout)
    assert summary.get("fail") == 0, result.stdout[-8000:]
    assert summary.get("skipped") == 0 and summary.get("todo") == 0, result.stdout[-8000:]
    assert len(NODE_SUITES) == 4, NODE_SUITES
    assert summary.get("tests", 0) >= 22 and summary["pass"] == summary["tests"], summary
    assert "\nnot ok" not in result.stdout


def test_a_browser_may_send_the_clients_headers(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    response = requests.options(
        f"{server.base_url}/v1/tasks",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
        timeout=30,
    )
    assert response.status_code == 200
    listed = response.headers["Access-Control-Allow-Headers"]
    allowed = {name.strip().lower() for name in listed.split(",")}
    assert {"authorization", "content-type", "accept-language", "idempotency-key"} <= allowed
