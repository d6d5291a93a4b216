"""What a request may carry, per endpoint, and the JSON body parse that enforces it.

One rule for every route (README, "Unknown query parameters and body fields"): the query
parameters an endpoint accepts are the fields of its declared query model — none when it
declares none — and the body fields are those of its body model; a route without a body
model takes no body (an empty one, or `{}`). Both are derived once per endpoint from the
view function's signature, the annotations flask-openapi3 itself reads (`query: Model`,
`body: Model`); a plain Flask view may list the query names it reads with
`accepts_query`.

The body parse (`parse_body`) is iterative and bounded before anything recursive runs:

- nesting deeper than `MAX_JSON_DEPTH` levels (the top-level object is level 1) is a 400
  naming the top-level field. Nothing deeper is ever stored, so every later read stays
  far below orjson's 255-level serialisation limit; bodies deeper than orjson's own
  parse limit (1,024) get the same answer, located by a flat token scan.
- a U+0000 anywhere (key or string) is a 400 naming its path.
- money fields (the `Money` type) are read exactly: orjson reads a number with a
  fraction as a binary float (`0.0100000000000000001` would become `0.01`), so when a
  money field holds a float the body is read again with `decimal.Decimal` for numbers,
  and that field takes the exact value. Bodies without a fractional money amount pay
  nothing for this.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, BeforeValidator

from aipod_api.core.errors import BadRequest, FieldError
from aipod_api.core.i18n import register_messages

MAX_JSON_DEPTH = 32
QUERY_ATTR = "__aipod_query__"

register_messages(
    {
        "too_deep": (
            "字段 {field} 嵌套过深(最多 {limit} 层)",
            "Field {field} is nested too deeply (at most {limit} levels)",
        ),
        "no_body_expected": (
            "此接口不接受请求体字段: {field}",
            "This endpoint takes no body fields: {field}",
        ),
    }
)


@dataclass(frozen=True)
class EndpointInputs:
    """The query parameter names and body fields one endpoint accepts."""

    query_names: frozenset[str]
    body_fields: frozenset[str] | None  # None: the endpoint has no body model
    money_fields: tuple[str, ...] = ()


NO_INPUTS = EndpointInputs(frozenset(), None)


def accepts_query(*names: str) -> Callable[[Any], Any]:
    """Declare the query parameters a plain (non-flask-openapi3) view reads."""

    def mark(view: Any) -> Any:
        setattr(view, QUERY_ATTR, frozenset(names))
        return view

    return mark


def _is_money(annotation: Any, metadata: list[Any]) -> bool:
    from aipod_api.core.types import _to_money

    for item in metadata:
        if isinstance(item, BeforeValidator) and item.func is _to_money:
            return True
    return any(
        _is_money(arg, list(getattr(arg, "__metadata__", ())))
        for arg in typing.get_args(annotation)
    )


def _model(hints: dict[str, Any], name: str) -> type[BaseModel] | None:
    found = hints.get(name)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def inputs_of(view: Any) -> EndpointInputs:
    """The inputs a view accepts, from its `query` / `body` annotations."""
    func = inspect.unwrap(view)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # a view without resolvable annotations declares nothing
        hints = {}
    query = _model(hints, "query")
    body = _model(hints, "body")
    names = set(getattr(func, QUERY_ATTR, ()))
    if query is not None:
        names.update(query.model_fields)
    if body is None:
        return EndpointInputs(frozenset(names), None)
    money = tuple(
        name
        for name, field in body.model_fields.items()
        if _is_money(field.annotation, list(field.metadata))
    )
    return EndpointInputs(frozenset(names), frozenset(body.model_fields), money)


def endpoint_inputs(app: Any, endpoint: str | None) -> EndpointInputs:
    """`inputs_of` the endpoint's view, computed once per endpoint and app."""
    cache: dict[str | None, EndpointInputs] = app.extensions.setdefault("aipod_inputs", {})
    found = cache.get(endpoint)
    if found is None:
        view = app.view_functions.get(endpoint) if endpoint is not None else None
        found = cache[endpoint] = NO_INPUTS if view is None else inputs_of(view)
    return found


# --- the body ------------------------------------------------------------------------

_NUL_ESCAPE = b"\\u0000"  # the only way a JSON text can hold U+0000
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?|[\[\]{}]', re.DOTALL)


def _path(node: Any) -> str:
    """A linked (parent, key) path node -> `a.b[2].c`."""
    keys: list[Any] = []
    while node is not None:
        node, key = node
        keys.append(key)
    path = ""
    for key in reversed(keys):
        if isinstance(key, int):
            path += f"[{key}]"
        else:
            path = f"{path}.{key}" if path else str(key)
    return path


def _top_field(node: Any) -> str:
    key: Any = None
    while node is not None:
        node, key = node
    return str(key) if key is not None else "body"


def shown(name: str, limit: int = 64) -> str:
    """A client-chosen name as echoed in an error message: bounded in length."""
    return name if len(name) <= limit else name[:limit] + "…"


def _too_deep(field: str) -> FieldError:
    return FieldError(field, "too_deep", limit=MAX_JSON_DEPTH)


def check_structure(body: dict[str, Any], raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Depth and U+0000, in one iterative walk (never recursion, whatever the input).

    Skipped outright when the raw text shows neither can fail: no `\\u0000` escape and
    no more brackets than the depth limit."""
    check_nul = _NUL_ESCAPE in raw
    if not check_nul and raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    stack: list[tuple[Any, Any, int]] = [(body, None, 1)]
    while stack:
        value, node, depth = stack.pop()
        if depth > max_depth:
            raise _too_deep(shown(_top_field(node)))
        if isinstance(value, dict):
            children: list[tuple[Any, Any, int]] = []
            for key, item in value.items():
                child = (node, key)
                if check_nul and "\x00" in key:
                    raise FieldError(_path(child).replace("\x00", ""), "nul_in_string")
                if isinstance(item, str):
                    if check_nul and "\x00" in item:
                        raise FieldError(_path(child), "nul_in_string")
                elif isinstance(item, dict | list):
                    children.append((item, child, depth + 1))
        else:
            children = []
            for index, item in enumerate(value):
                child = (node, index)
                if isinstance(item, str):
                    if check_nul and "\x00" in item:
                        raise FieldError(_path(child), "nul_in_string")
                elif isinstance(item, dict | list):
                    children.append((item, child, depth + 1))
        stack.extend(reversed(children))  # document order


def deep_field(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> str:
    """The top-level field under which `raw` first nests deeper than `max_depth`, found
    by a flat scan of string and bracket tokens (for texts no parser should recurse
    into)."""
    depth = 0
    key = "body"
    for match in _TOKENS.finditer(raw):
        token = match.group()
        first = token[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return key
        elif first in (b"]", b"}"):
            depth -= 1
        elif match.group(1) is not None and depth == 1:
            literal = token[: match.start(1) - match.start()]
            try:
                key = str(orjson.loads(literal))
            except orjson.JSONDecodeError:
                key = literal[1:-1].decode("utf-8", "replace")
    return key


def _exact_money(body: dict[str, Any], raw: bytes, fields: tuple[str, ...]) -> None:
    """Replace float money values by their exact decimal reading of the raw text."""
    try:  # depth already bounded by check_structure; orjson accepted the text
        exact = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise BadRequest("invalid_json") from None
    for name in fields:
        if type(body.get(name)) is float:
            body[name] = exact[name]


def parse_body(raw: bytes, inputs: EndpointInputs) -> dict[str, Any] | None:
    """The request body as a dict (None when empty), or a 400 naming what is wrong."""
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise _too_deep(shown(deep_field(raw))) from None
        raise BadRequest("invalid_json") from None
    if not isinstance(body, dict):
        raise FieldError("body", "body_not_object")
    check_structure(body, raw)
    allowed = inputs.body_fields
    if allowed is None:
        if body:
            raise FieldError(shown(next(iter(body))), "no_body_expected")
        return body
    for name in body:
        if name not in allowed:
            raise FieldError(shown(name), "unknown_field")
    money = inputs.money_fields
    if money and any(type(body.get(name)) is float for name in money):
        _exact_money(body, raw, money)
    return body
