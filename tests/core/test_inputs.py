"""What a request may carry (core/inputs.py): declared query parameters and body fields
on every route, bounded JSON nesting, U+0000, exact money, representable instants."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from helpers import Api
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from aipod_api.core.errors import FieldError
from aipod_api.core.inputs import (
    MAX_JSON_DEPTH,
    EndpointInputs,
    check_structure,
    deep_field,
    parse_body,
)
from aipod_api.core.types import MAX_MONEY, Money, to_cents

# --- unknown query parameters and body fields: every route -------------------------------

SKIP_METHODS = {"HEAD", "OPTIONS"}
PATH_VALUES = {"filename": "docs.css"}


def _routes(app: Any) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        values = {arg: PATH_VALUES.get(arg, "zz_1") for arg in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - SKIP_METHODS):
            found.append((method, url, rule.endpoint))
    return found


def _error_fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in (body.get("data") or {}).get("errors", [])]


@pytest.fixture
def keyed(make_app: Callable[..., Any]) -> tuple[Any, Api, str]:
    app = make_app()
    api = Api(test_client=app.test_client())
    return app, api, api.register("walker")


def test_every_route_refuses_an_unknown_query_parameter(keyed: tuple[Any, Api, str]) -> None:
    app, api, key = keyed
    routes = _routes(app)
    assert len(routes) >= 25  # the walk really covers the API
    for method, url, endpoint in routes:
        r = api.request(method, url, key=key, params={"zz_unknown": "1"})
        assert r.status == 400, (method, url, endpoint, r.status, r.body)
        assert r.code == 400 and "zz_unknown" in _error_fields(r.body), (method, url, r.body)
        assert "zz_unknown" in r.message


def test_every_route_refuses_an_unknown_body_field(keyed: tuple[Any, Api, str]) -> None:
    app, api, key = keyed
    for method, url, endpoint in _routes(app):
        r = api.request(method, url, key=key, json={"zz_unknown": True})
        assert r.status == 400, (method, url, endpoint, r.status, r.body)
        assert "zz_unknown" in _error_fields(r.body), (method, url, r.body)


def test_unauthenticated_callers_still_get_401_first(keyed: tuple[Any, Api, str]) -> None:
    _app, api, _key = keyed
    r = api.get("/v1/wallet", params={"agent_id": "x"})
    assert r.status == 401
    r = api.put("/v1/tasks/task_001/cancel", json={"force": True})
    assert r.status == 401


def test_the_reported_cases(keyed: tuple[Any, Api, str]) -> None:
    _app, api, key = keyed
    task = api.post("/v1/tasks", key=key, json={"title": "t", "budget": 5}).data["task_id"]
    memory = api.post("/v1/memory", key=key, json={"content": "c"}).data["memory_id"]
    worker = api.register("walker_worker")
    for path in ("/v1/wallet", "/v1/agents/me", f"/v1/tasks/{task}", f"/v1/memory/{memory}"):
        r = api.get(path, key=key, params={"agent_id": "x"})
        assert r.status == 400 and _error_fields(r.body) == ["agent_id"], (path, r.body)
    r = api.put(f"/v1/tasks/{task}/accept", key=worker, json={"note": "hi"})
    assert r.status == 400 and _error_fields(r.body) == ["note"], r.body
    for method, path in (("PUT", f"/v1/tasks/{task}/cancel"), ("DELETE", f"/v1/memory/{memory}")):
        r = api.request(
            method, path, key=key, json={"force": True}, headers={"Accept-Language": "en"}
        )
        assert r.status == 400 and _error_fields(r.body) == ["force"], r.body
        assert r.message == "This endpoint takes no body fields: force"
    # Nothing was changed by the refused requests.
    assert api.get(f"/v1/tasks/{task}", key=key).data["status"] == "open"
    assert api.get(f"/v1/memory/{memory}", key=key).status == 200


def test_declared_inputs_and_empty_bodies_still_work(keyed: tuple[Any, Api, str]) -> None:
    _app, api, key = keyed
    task = api.post("/v1/tasks", key=key, json={"title": "t", "budget": 5}).data["task_id"]
    worker = api.register("walker_worker")
    assert api.get("/v1/tasks", key=key, params={"page": 1, "status": "open"}).status == 200
    assert api.get("/", params={"lang": "en"}).status == 200
    assert api.get("/v1/status").status == 200
    r = api.put(f"/v1/tasks/{task}/accept", key=worker, json={})  # `{}` carries no field
    assert r.status == 200, r.body
    r = api.get("/v1/wallet", key=key, data=b"  ")
    assert r.status == 200
    r = api.get("/v1/wallet", key=key, data=b"[1]")
    assert r.status == 400 and _error_fields(r.body) == ["body"]


# --- nesting depth -------------------------------------------------------------------------


def _nested(levels: int) -> str:
    """A JSON value nested `levels` containers deep (objects and arrays alternating)."""
    opening = "".join('{"a":' if i % 2 else "[" for i in range(levels))
    closing = "".join("}" if i % 2 else "]" for i in reversed(range(levels)))
    return opening + "1" + closing


@pytest.fixture
def in_progress(make_app: Callable[..., Any]) -> tuple[Api, str, str, str]:
    api = Api(test_client=make_app().test_client())
    publisher, worker = api.register("deep_pub"), api.register("deep_worker")
    task = api.post("/v1/tasks", key=publisher, json={"title": "t", "budget": 5}).data["task_id"]
    assert api.put(f"/v1/tasks/{task}/accept", key=worker).status == 200
    return api, publisher, worker, task


@pytest.mark.parametrize("levels", [250, 256, 990, 100_000])
def test_deep_bodies_are_400_naming_the_field(
    in_progress: tuple[Api, str, str, str], levels: int
) -> None:
    api, publisher, worker, task = in_progress
    deep = _nested(levels)
    raw = '{"quality_notes": "n", "deliverables": {"x": ' + deep + "}}"
    r = api.put(
        f"/v1/tasks/{task}/complete",
        key=worker,
        data=raw,
        headers={"Content-Type": "application/json", "Accept-Language": "en"},
    )
    assert r.status == 400, r.body
    assert _error_fields(r.body) == ["deliverables"]
    assert f"at most {MAX_JSON_DEPTH} levels" in r.message
    # Unauthenticated: a public route answers 400, a protected one 401 — never 500.
    r = api.post(
        "/v1/auth/register", data='{"username": ' + deep + "}", headers={"Content-Type": "x"}
    )
    assert r.status == 400 and _error_fields(r.body) == ["username"], r.body
    r = api.put(f"/v1/tasks/{task}/complete", data=raw)
    assert r.status == 401
    r = api.post("/v1/auth/login", data=deep)  # a deep array as the whole body
    assert r.status == 400 and r.code == 400
    # Nothing was stored: the task is still in progress and lists fine for both sides.
    for key in (publisher, worker):
        listed = api.get("/v1/tasks", key=key)
        assert listed.status == 200 and listed.data["items"][0]["status"] == "progress"


def test_the_deepest_allowed_body_is_stored_and_read_back(
    in_progress: tuple[Api, str, str, str],
) -> None:
    api, publisher, worker, task = in_progress
    # body (1) > deliverables (2) > ... : the value under "x" may hold 30 more levels.
    ok = '{"deliverables": {"x": ' + _nested(MAX_JSON_DEPTH - 2) + "}}"
    too_deep = '{"deliverables": {"x": ' + _nested(MAX_JSON_DEPTH - 1) + "}}"
    headers = {"Content-Type": "application/json"}
    r = api.put(f"/v1/tasks/{task}/complete", key=worker, data=too_deep, headers=headers)
    assert r.status == 400 and _error_fields(r.body) == ["deliverables"]
    r = api.put(f"/v1/tasks/{task}/complete", key=worker, data=ok, headers=headers)
    assert r.status == 200, r.body
    for key in (publisher, worker):
        listed = api.get("/v1/tasks", key=key)
        assert listed.status == 200 and listed.data["items"][0]["status"] == "done"
        assert api.get(f"/v1/tasks/{task}", key=key).data["deliverables"]["x"][0]["a"]


def test_nul_anywhere_is_named_by_its_path(in_progress: tuple[Api, str, str, str]) -> None:
    api, _publisher, worker, task = in_progress
    body = {"deliverables": {"a": [{"b": "ok"}, {"c": "x\u0000y"}]}}
    r = api.put(f"/v1/tasks/{task}/complete", key=worker, json=body)
    assert r.status == 400 and _error_fields(r.body) == ["deliverables.a[1].c"], r.body
    r = api.put(f"/v1/tasks/{task}/complete", key=worker, json={"deliverables": {"k\u0000": 1}})
    assert r.status == 400 and _error_fields(r.body) == ["deliverables.k"], r.body


def test_the_structure_walk_is_iterative() -> None:
    import sys

    # Far deeper than the interpreter's recursion limit: still a clean FieldError.
    levels = sys.getrecursionlimit() * 3
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    with pytest.raises(FieldError) as err:
        check_structure({"deep": value}, b"[" * levels)
    assert err.value.field == "deep" and err.value.key == "too_deep"
    wide = {f"k{i}": [{"v": "x"}] * 50 for i in range(200)}
    check_structure(wide, b"[{" * 10_000)  # wide but shallow: fine
    assert deep_field(b'{"a": "[[[[", "b\\"": {"c": ' + b"[" * 40) == 'b"'


# --- money and instants ---------------------------------------------------------------------

TASK_INPUTS = EndpointInputs(frozenset(), frozenset({"title", "budget"}), ("budget",))


def test_money_is_read_exactly(keyed: tuple[Any, Api, str]) -> None:
    _app, api, key = keyed
    headers = {"Content-Type": "application/json"}
    for literal in ("0.0100000000000000001", "1.005", "12.3400000000000000001", "1e-3"):
        raw = '{"title": "t", "budget": ' + literal + "}"
        r = api.post("/v1/tasks", key=key, data=raw, headers=headers)
        assert r.status == 400 and _error_fields(r.body) == ["budget"], (literal, r.body)
    for literal, expected in (("0.01", 0.01), ("12.50", 12.5), ("1e2", 100), ("7", 7)):
        raw = '{"title": "t", "budget": ' + literal + "}"
        r = api.post("/v1/tasks", key=key, data=raw, headers=headers)
        assert r.status == 201 and r.data["budget"] == expected, (literal, r.body)
    assert api.get("/v1/wallet", key=key).data["escrow"] == 119.51


def test_an_unrepresentable_deadline_is_400(keyed: tuple[Any, Api, str]) -> None:
    _app, api, key = keyed
    for deadline in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        r = api.post("/v1/tasks", key=key, json={"title": "t", "budget": 1, "deadline": deadline})
        assert r.status == 400 and _error_fields(r.body) == ["deadline"], r.body
    r = api.post(
        "/v1/tasks", key=key, json={"title": "t", "budget": 1, "deadline": "9999-12-31T23:59:59Z"}
    )
    assert r.status == 201 and r.data["deadline"] == "9999-12-31T23:59:59Z"


_MONEY = TypeAdapter(Money)


def _expected(literal: str) -> Decimal | None:
    exact = Decimal(literal)
    if exact < 0 or exact > MAX_MONEY or exact != exact.quantize(Decimal("0.01")):
        return None
    return exact


@settings(max_examples=300, deadline=None)
@given(
    whole=st.integers(min_value=0, max_value=2_000_000_000),
    fraction=st.text(alphabet="0123456789", max_size=25),
    exponent=st.one_of(st.none(), st.integers(min_value=-5, max_value=5)),
    sign=st.sampled_from(["", "-"]),
)
def test_property_money_literals_are_judged_on_their_exact_value(
    whole: int, fraction: str, exponent: int | None, sign: str
) -> None:
    literal = f"{sign}{whole}" + (f".{fraction}" if fraction else "")
    if exponent is not None:
        literal += f"e{exponent}"
    raw = ('{"title": "t", "budget": ' + literal + "}").encode()
    body = parse_body(raw, TASK_INPUTS)
    assert body is not None
    expected = _expected(literal)
    try:
        amount = _MONEY.validate_python(body["budget"])
    except ValidationError:
        assert expected is None, literal
    else:
        assert expected is not None and amount == expected, literal
        assert to_cents(amount) == int(expected * 100)
