"""Per-request work done once: a small, documented patch of flask-openapi3 4.x.

flask-openapi3 stays the validator and the source of the OpenAPI document. Its
`_validate_query` (flask_openapi3/request.py) calls `model.model_json_schema()` on every
request only to learn which fields are arrays; pydantic rebuilds the whole JSON schema
each time (hundreds of microseconds for a paginated query model). `install()` replaces it
with the same algorithm reading a per-model-class plan: those properties, and which query
parameter each field reads (its `_get_value` / `_get_list_value` decide that from the
field's alias and `populate_by_name` on every call). The validated model, the errors and
the extra-key handling are unchanged (tests/core/test_private_internals.py compares the
two on every query model).
"""

from __future__ import annotations

import threading
from typing import Any

from flask import request
from flask_openapi3 import request as oa_request
from pydantic import BaseModel

# The function replaced, kept for tests/core/test_private_internals.py (flask-openapi3 is
# pinned exactly in pyproject.toml; that test fails when the upstream function changes).
UPSTREAM_VALIDATE_QUERY: Any = getattr(oa_request, "_validate_query", None)
_properties: dict[type[BaseModel], dict[str, Any]] = {}
_lock = threading.Lock()
_installed = False


def query_properties(model: type[BaseModel]) -> dict[str, Any]:
    """`model.model_json_schema()["properties"]`, computed once per model class."""
    props = _properties.get(model)
    if props is None:
        props = model.model_json_schema().get("properties", {})
        with _lock:
            _properties[model] = props
    return props


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(
        m.get("type") == "array" for m in schema.get("anyOf", [])
    )


# Per query model: for each field, (key in the validated dict, the query parameter read
# first, the one read when that is absent or empty or None, is an array, has type null) —
# what flask-openapi3's `_get_value` / `_get_list_value` decide from the field's alias and
# `populate_by_name` on every request, decided once.
_Plan = tuple[tuple[str, str, str | None, bool, bool], ...]
_plans: dict[type[BaseModel], _Plan] = {}


def _plan(query: type[BaseModel]) -> _Plan:
    found = _plans.get(query)
    if found is not None:
        return found
    model_properties = query_properties(query)
    by_name = bool(query.model_config.get("populate_by_name"))
    steps = []
    for model_field_key, model_field_value in query.model_fields.items():
        alias = model_field_value.alias
        model_field_schema = model_properties.get(alias or model_field_key)
        assert model_field_schema is not None
        key = alias or model_field_key
        fallback = model_field_key if alias and by_name else None
        steps.append(
            (
                key,
                key,
                fallback,
                _is_array(model_field_schema),
                model_field_schema.get("type") == "null",
            )
        )
    plan = tuple(steps)
    with _lock:
        _plans[query] = plan
    return plan


def _validate_query(query: type[BaseModel], func_kwargs: dict[str, Any]) -> None:
    """flask_openapi3.request._validate_query (4.x) with the schema lookup cached."""
    request_args = request.args
    query_dict: dict[str, Any] = {}
    for key, first, fallback, is_array, is_null in _plan(query):
        if is_array:
            value: Any = request_args.getlist(first)
            if not value and fallback is not None:
                value = request_args.getlist(fallback)
        else:
            value = request_args.get(first)
            if not value and fallback is not None:
                value = request_args.get(fallback)
        if value is not None and value != []:
            query_dict[key] = value
        if is_null:
            query_dict[key] = value
    for key, value in request_args.items():
        if key not in query_dict:
            query_dict[key] = value
    func_kwargs["query"] = query.model_validate(obj=query_dict)


def install() -> None:
    """Patch flask-openapi3 once per process (idempotent)."""
    global _installed
    if _installed:
        return
    if not hasattr(oa_request, "_validate_query"):  # pragma: no cover - another major version
        raise RuntimeError("flask-openapi3 changed: review aipod_api/http/fastpath.py")
    oa_request._validate_query = _validate_query
    _installed = True
