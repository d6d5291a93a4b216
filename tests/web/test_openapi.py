"""The OpenAPI document at /v1/openapi.json: valid, complete, generated from the routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from helpers import DEMO_KEY, Api
from openapi_spec_validator import validate

from aipod_api.core.openapi import REQUEST_EXAMPLES, rule_to_template
from aipod_api.http import guard

METHODS = ("get", "put", "post", "delete", "patch")
PATH_PARAMS = {"agent_id", "task_id", "memory_id", "key_id", "webhook_id", "delivery_id"}
ENVELOPE_FIELDS = {"code", "message", "data", "timestamp"}
# Webhook test events and replays are queued for the delivery worker.
ACCEPTED_OPERATIONS = {
    ("post", "/v1/webhooks/{webhook_id}/test"),
    ("post", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"),
}
# A2A agent cards: their 200 is the A2A document itself (not an envelope), 304 has no body.
CARD_OPERATIONS = {
    ("get", "/.well-known/agent-card.json"),
    ("get", "/v1/agents/{agent_id}/agent-card.json"),
}


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Flask:
    return make_app(demo=True)  # type: ignore[no-any-return]


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    r = app.test_client().get("/v1/openapi.json")  # no key needed
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    body = r.get_json()
    assert isinstance(body, dict)
    return body


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(method, path template) of every Flask route under /v1 (and /.well-known) except the
    document itself."""
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/v1/", "/.well-known/")) or rule.rule == "/v1/openapi.json":
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            out.add((method.lower(), rule_to_template(rule.rule)))
    return out


def undocumented(app: Flask, spec: dict[str, Any]) -> set[tuple[str, str]]:
    documented = {(m, p) for m, p, _ in operations(spec)}
    return api_routes(app) - documented


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def is_public(method: str, path: str) -> bool:
    public_rules = {rule_to_template(rule) for rule in guard.PUBLIC_RULES}
    return path in guard.PUBLIC_PATHS or path in guard.UNLIMITED_PATHS or path in public_rules


def test_spec_validates_as_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on an invalid document
    assert spec["servers"] and spec["servers"][0]["url"]
    assert spec["components"]["securitySchemes"]["bearer"]["type"] == "http"
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_route_is_in_the_spec_and_nothing_else(app: Flask, spec: dict[str, Any]) -> None:
    routes = api_routes(app)
    documented = {(m, p) for m, p, _ in operations(spec)}
    assert routes - documented == set(), "routes missing from /v1/openapi.json"
    assert documented - routes == set(), "operations in the spec without a route"
    assert len(documented) >= 20


def test_a_route_added_without_a_model_is_caught(make_app: Callable[..., Any]) -> None:
    """The check above really fails for a route that bypasses the OpenAPI machinery."""
    app = make_app()
    app.add_url_rule("/v1/undocumented/<thing_id>", "undocumented", lambda thing_id: "")
    spec = app.test_client().get("/v1/openapi.json").get_json()
    assert undocumented(app, spec) == {("get", "/v1/undocumented/{thing_id}")}


def test_path_parameters_are_named_per_contract(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        names = set(re.findall(r"{([^}]+)}", path))
        assert names <= PATH_PARAMS, (method, path)
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == names, (method, path)
        for p in op.get("parameters", []):
            if p["in"] == "path":
                assert p["required"] is True


def test_every_operation_is_described_and_enveloped(spec: dict[str, Any]) -> None:
    ids = []
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        ids.append(op["operationId"])
        responses = op["responses"]
        ok = [s for s in responses if s.startswith("2")]
        assert len(ok) == 1, where
        if (method, path) in ACCEPTED_OPERATIONS:
            assert ok == ["202"], where  # queued work: the answer precedes the effect
        elif method == "post" and path not in ("/v1/auth/login", "/v1/trust/rate"):
            assert ok == ["201"], where
        for status, response in responses.items():
            if (method, path) in CARD_OPERATIONS and status in ("200", "304"):
                continue  # checked in tests/a2a
            if (method, path) == ("get", "/v1/events/stream") and status == "200":
                assert set(response["content"]) == {"text/event-stream"}, where
                continue  # Server-Sent Events; its errors are enveloped as everywhere
            schema = response["content"]["application/json"]["schema"]
            obj = resolve(spec, schema)
            assert obj.get("type") == "object", (where, status)  # never an array
            assert set(obj["properties"]) >= ENVELOPE_FIELDS, (where, status)
            assert set(obj["required"]) >= ENVELOPE_FIELDS, (where, status)
        if "400" in responses:
            schema = responses["400"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ValidationErrorEnvelope"}, where
        if op.get("requestBody"):
            assert "400" in responses and "413" in responses, where
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_security_401_and_429(spec: dict[str, Any]) -> None:
    public = set()
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        if is_public(method, path):
            public.add((method, path))
            assert op["security"] == [], where
        else:
            assert op["security"] == [{"bearer": []}], where
            assert "401" in op["responses"], where
        if path in guard.UNLIMITED_PATHS:
            assert "429" not in op["responses"], where
        else:
            assert "429" in op["responses"], where
            assert "Retry-After" in op["responses"]["429"]["headers"], where
        if "{" in path:
            assert "404" in op["responses"], where
    assert public == {
        ("get", "/v1/status"),
        ("post", "/v1/auth/register"),
        ("post", "/v1/auth/login"),
        *CARD_OPERATIONS,
    }


def test_seed_examples_are_in_the_spec(spec: dict[str, Any]) -> None:
    for (method, path), example in REQUEST_EXAMPLES.items():
        op = spec["paths"].get(path, {}).get(method)
        if op is None:  # a domain not registered in this build
            continue
        media = op["requestBody"]["content"]["application/json"]
        assert media["examples"]["seed"]["value"] == example["value"], (method, path)
    body = spec["paths"]["/v1/auth/register"]["post"]["requestBody"]
    assert body["content"]["application/json"]["examples"]["seed"]["value"]["username"] == "my_node"
    agent_id = spec["paths"]["/v1/agents/{agent_id}"]["get"]["parameters"][0]
    assert agent_id["example"] == "demo"


def test_seed_examples_work_against_the_demo_data(app: Flask, spec: dict[str, Any]) -> None:
    """Each request-body example, sent in the seed's order, is accepted (never a 400)."""
    api = Api(test_client=app.test_client())

    def example(method: str, path: str) -> Any:
        return REQUEST_EXAMPLES[(method, path)]["value"]

    def send(method: str, path: str, template: str, key: str | None = DEMO_KEY) -> int:
        if template not in spec["paths"]:
            pytest.skip(f"{template} is not registered in this build")
        r = api.request(method.upper(), path, key=key, json=example(method, template))
        return r.status

    assert send("post", "/v1/auth/register", "/v1/auth/register", key=None) == 201
    assert send("post", "/v1/auth/login", "/v1/auth/login", key=None) == 200
    assert send("put", "/v1/agents/demo", "/v1/agents/{agent_id}") == 200
    assert send("post", "/v1/tasks", "/v1/tasks") == 201
    assert api.put("/v1/tasks/task_001/accept", key=DEMO_KEY).status == 200
    assert send("put", "/v1/tasks/task_001/complete", "/v1/tasks/{task_id}/complete") == 200
    assert send("post", "/v1/auth/keys", "/v1/auth/keys") == 201
    # The seed's self-rating is refused by design (CONTRACT §4 Trust).
    assert send("post", "/v1/trust/rate", "/v1/trust/rate") == 403
    assert send("post", "/v1/memory", "/v1/memory") == 201


def test_document_is_built_once(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/v1/openapi.json").data
    assert client.get("/v1/openapi.json").data == first
    assert app.extensions["aipod_openapi"]["openapi"] == "3.1.0"


def test_every_write_accepts_an_idempotency_key(spec: dict[str, Any]) -> None:
    writes = 0
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        headers = [p for p in op.get("parameters", []) if p["in"] == "header"]
        if method not in ("post", "put", "delete", "patch"):
            assert not any(p["name"] == "Idempotency-Key" for p in headers), where
            continue
        writes += 1
        [param] = [p for p in headers if p["name"] == "Idempotency-Key"]
        assert param["required"] is False, where
        assert param["schema"]["maxLength"] == 255, where
        responses = op["responses"]
        assert "409" in responses and "422" in responses, where
        ok = next(s for s in responses if s.startswith("2"))
        assert "Idempotent-Replayed" in responses[ok]["headers"], where
        for status in ("400", "422", "429"):
            assert "Idempotent-Replayed" not in responses[status].get("headers", {}), where
    assert writes >= 12
