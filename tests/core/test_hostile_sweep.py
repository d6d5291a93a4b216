"""Throw malformed and hostile values at every operation's fields and query parameters.

The operations come from the app's own OpenAPI document, so a new endpoint is swept
automatically. Every answer must be a JSON envelope with a status below 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from helpers import DEMO_KEY, Api

HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -0.0,
    1.005,
    2**63,
    10**30,
    1e308,
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "x" * 70_000,
    "😀" * 40,
    "' OR 1=1 --",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "1e999",
    "NaN",
    "-1",
    "2026-02-30T25:61:00",
    [],
    [None],
    ["x" * 100] * 60,
    [{"a": 1}],
    {},
    {"$gt": ""},
]

HOSTILE_QUERY = [
    "",
    "abc",
    "-1",
    "0",
    "1e9",
    "99999999999999999999999",
    "NaN",
    "inf",
    "true",
    "\u0000",
    "x" * 5000,
    "%",
    "_",
    "'\"",
    "新能源" * 100,
]

HOSTILE_PATH = ["%00", "..", "x" * 300, "%E6%96%B0", "task_000", "task_99999999999999999999", "-1"]

RAW_BODIES = [b"{", b"[]", b'"str"', b"123", b"null", b"\xff\xfe", b'{"a": NaN}', b"{" * 5000]


def _assert_envelope(r: Any, context: str) -> None:
    assert r.status < 500, f"{context}: {r.status} {r.body}"
    if r.status == 200 and context.startswith("GET /v1/events/stream "):
        # Server-Sent Events, by design (its refusals are envelopes like any other)
        assert r.headers["Content-Type"].startswith("text/event-stream"), context
        return
    assert isinstance(r.body, dict), f"{context}: not JSON"
    if r.status >= 400:
        from aipod_api.core.errors import ERROR_CODES

        assert set(r.body) == {"code", "error", "message", "data", "timestamp"}, context
        assert r.body["code"] == r.status, context
        assert r.body["error"] in ERROR_CODES, context
    elif context.split(" ")[1:2] and context.split(" ")[1].endswith("/agent-card.json"):
        # An A2A agent card is the A2A document itself, not an envelope (tests/a2a).
        assert {"name", "supportedInterfaces", "skills", "capabilities"} <= set(r.body), context
    else:
        assert set(r.body) == {"code", "message", "data", "timestamp"}, context


def _operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    spec = api.get("/v1/openapi.json").body
    assert spec is not None and "paths" in spec
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                ops.append((method.upper(), path, op))
    return ops


def _schema_props(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return list(schema.get("properties", {}).keys())


def _fill_path(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def test_hostile_values_never_500(make_app: Callable[..., Any]) -> None:
    # An accepted event stream (served here by the plain-WSGI fallback) ends at once.
    api = Api(test_client=make_app(demo=True, event_wsgi_stream_s=0.01).test_client())
    spec = api.get("/v1/openapi.json").body
    ops = _operations(api)
    assert len(ops) >= 8
    for method, path, op in ops:
        concrete = _fill_path(path, "demo" if "agent_id" in path else "x_001")
        # hostile path parameters
        if "{" in path:
            for value in HOSTILE_PATH:
                r = api.request(method, _fill_path(path, value), key=DEMO_KEY, json={})
                _assert_envelope(r, f"{method} {path} path={value!r}")
        # hostile query parameters
        for param in op.get("parameters", []):
            if param.get("in") != "query":
                continue
            for value in HOSTILE_QUERY:
                r = api.request(method, concrete, key=DEMO_KEY, params={param["name"]: value})
                _assert_envelope(r, f"{method} {path} ?{param['name']}={value[:20]!r}")
        r = api.request(method, concrete, key=DEMO_KEY, params={"unknown_param": "1"})
        _assert_envelope(r, f"{method} {path} unknown query")
        if method in ("POST", "PUT", "PATCH"):
            for raw in RAW_BODIES:
                r = api.request(method, concrete, key=DEMO_KEY, data=raw)
                _assert_envelope(r, f"{method} {path} raw={raw[:10]!r}")
                assert r.status in (400, 401, 404, 403, 409), (method, path, raw[:10], r.body)
            for prop in _schema_props(spec, op):
                for value in HOSTILE:
                    r = api.request(method, concrete, key=DEMO_KEY, json={prop: value})
                    _assert_envelope(r, f"{method} {path} {prop}={str(value)[:30]!r}")
            r = api.request(method, concrete, key=DEMO_KEY, json={"__proto__": {"x": 1}})
            _assert_envelope(r, f"{method} {path} __proto__")


def test_hostile_headers(demo_api: Api) -> None:
    for auth in [
        "Bearer",
        "Bearer ",
        "Basic abc",
        "bearer " + DEMO_KEY + "x",
        "Bearer " + "é" * 40,
    ]:
        r = demo_api.get("/v1/agents", headers={"Authorization": auth})
        _assert_envelope(r, auth)
        assert r.status == 401
    r = demo_api.get("/v1/agents", key=DEMO_KEY, headers={"Accept-Language": "\u00ff" * 500})
    _assert_envelope(r, "accept-language")
    r = demo_api.get("/v1/status", headers={"X-Request-Id": "evil header;drop"})
    _assert_envelope(r, "request id")
    assert r.headers["X-Request-Id"] != "evil header;drop"
