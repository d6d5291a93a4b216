"""The message catalogue: every key in both languages, every field error in our own words.

- Every key of `core.i18n.MESSAGES` (after every domain registered its own) has a Chinese
  and an English template with the same placeholders; Chinese ones are Chinese, English
  ones contain no Chinese.
- Every pydantic error type that our request models produce, found by feeding each field
  of each request model a battery of hostile values, has our own wording in both
  languages: no pydantic English in either, no English "or" in Chinese.
- The issue's examples over HTTP: a status literal, the username rule, a bound.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import string
from typing import Any

import pytest
from flask import Flask
from helpers import Api
from pydantic import BaseModel, ValidationError

import aipod_api
from aipod_api.app import DOMAINS
from aipod_api.core import errors
from aipod_api.core.i18n import MESSAGES
from aipod_api.core.types import Body, Query

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
# Words that stay in Latin letters in Chinese text: formats and protocol terms.
TECH_TERMS = {"JSON", "ISO", "Unicode", "URL", "http", "https", "API", "Key", "ID", "null"}
PYDANTIC_PHRASES = (
    "Input should",
    "String should",
    "Value error",
    "Field required",
    "Extra inputs",
)
# Error types answered by dedicated catalogue keys rather than `field_error.<type>`.
SPECIAL = {"missing", "extra_forbidden", "value_error"}


def _load_domains() -> None:
    for domain in DOMAINS:
        importlib.import_module(f"aipod_api.{domain}.views")


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_key_has_both_languages() -> None:
    _load_domains()
    assert len(MESSAGES) > 50
    for key, pair in MESSAGES.items():
        assert isinstance(pair, tuple) and len(pair) == 2, key
        zh, en = pair
        assert zh.strip() and en.strip(), key
        assert CJK.search(zh), f"{key}: the Chinese text has no Chinese: {zh!r}"
        assert not CJK.search(en), f"{key}: the English text has Chinese: {en!r}"
        assert _placeholders(zh) == _placeholders(en), key
        assert not re.search(r"\bor\b", zh), f"{key}: English 'or' in Chinese: {zh!r}"
    for kind in errors.FIELD_ERRORS:
        assert f"field_error.{kind}" in MESSAGES
    for rule in set(errors.PATTERN_RULES.values()):
        assert f"field_rule.{rule}" in MESSAGES


def _request_models() -> list[type[BaseModel]]:
    _load_domains()
    found: list[type[BaseModel]] = []
    for info in pkgutil.walk_packages(aipod_api.__path__, "aipod_api."):
        if not info.name.endswith(".schemas"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name and issubclass(obj, Body | Query):
                found.append(obj)
    return found


HOSTILE: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1.5,
    10**30,
    "9" * 5000,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x",
    "a b c",
    "中文名字",
    "abc",
    "a" * 25_000,
    "not-a-date",
    "2020-13-45T99:00:00",
    "1.234",
    "-5",
    "true",
    "yes",
    "\ud800",
    [],
    [1],
    ["x"] * 120,
    ["a" * 100],
    [{"a": 1}],
    {},
    {"a": 1},
    {"a": {"b": [1, 2, {"c": None}]}},
)


def _produced_errors() -> list[tuple[type[BaseModel], dict[str, Any]]]:
    """(model, error) for every error the hostile values produce."""
    out: list[tuple[type[BaseModel], dict[str, Any]]] = []
    for model in _request_models():
        payloads: list[Any] = [[], "x", 1, {"no_such_field": 1}]
        payloads += [{name: value} for name in model.model_fields for value in HOSTILE]
        for payload in payloads:
            try:
                model.model_validate(payload)
            except ValidationError as exc:
                for err in exc.errors(include_url=False, include_input=False):
                    out.append((model, dict(err)))
    return out


def _zh_leftover_words(message: str, names: set[str]) -> set[str]:
    text = message
    for name in sorted(names, key=len, reverse=True):  # field names stay as they are
        text = text.replace(name, " ")
    text = re.sub(r"'[^']*'", " ", text)  # quoted values (literals, the caller's input)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # character classes such as [a-z0-9_.-]
    return {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in TECH_TERMS}


def test_every_pydantic_error_we_produce_has_both_languages() -> None:
    produced = _produced_errors()
    kinds = {err["type"] for _, err in produced}
    # The battery reaches the common kinds; each must be worded by us, not by default.
    assert {"missing", "extra_forbidden", "string_type", "literal_error"} <= kinds
    assert "string_pattern_mismatch" in kinds
    unworded = sorted(kinds - SPECIAL - set(errors.FIELD_ERRORS))
    assert unworded == [], f"add these pydantic error types to FIELD_ERRORS: {unworded}"

    app = Flask(__name__)
    for model, err in produced:
        field = errors._field_name(err["loc"])
        where = f"{model.__name__}.{field} {err['type']}"
        for lang, english in (("zh-CN", False), ("en", True)):
            with app.test_request_context(headers={"Accept-Language": lang}):
                message = errors._error_message(err, field, english)  # type: ignore[arg-type]
            assert not any(p in message for p in PYDANTIC_PHRASES), (where, message)
            assert "{" not in message or "[" in message, (where, message)  # no raw template
            if english:
                assert not CJK.search(message), (where, message)
            else:
                assert CJK.search(message), (where, message)
                names = {field, *model.model_fields}
                assert _zh_leftover_words(message, names) == set(), (where, message)
    patterns = {
        str(err["ctx"]["pattern"])
        for _, err in produced
        if err["type"] == "string_pattern_mismatch" and err.get("ctx")
    }
    assert patterns <= set(errors.PATTERN_RULES), "name each pattern's rule in PATTERN_RULES"


def _errors(r: Any) -> dict[str, str]:
    return {e["field"]: e["message"] for e in r.data["errors"]}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_issue_examples_over_http(api: Api, lang: str) -> None:
    key = api.register("msg_checker")
    hdr = {"Accept-Language": lang}
    english = lang == "en"

    r = api.get("/v1/tasks", key=key, params={"status": "bogus"}, headers=hdr)
    assert r.status == 400, r.body
    msg = _errors(r)["status"]
    assert "'open', 'progress', 'done', 'submitted', 'disputed', 'cancelled', 'expired'" in msg
    assert " or " not in msg
    assert msg == (
        "Invalid field status: must be one of: 'open', 'progress', 'done', 'submitted', "
        "'disputed', 'cancelled', 'expired'"
        if english
        else "字段 status 无效: 必须是以下之一: 'open', 'progress', 'done', 'submitted', "
        "'disputed', 'cancelled', 'expired'"
    )

    r = api.post(
        "/v1/auth/register",
        json={"username": "bad name!", "email": "x@example.com"},
        headers=hdr,
    )
    assert r.status == 400, r.body
    assert r.message == (
        "Invalid field username: must be 3–32 letters, digits, _ or -"
        if english
        else "字段 username 无效: 须为 3–32 位字母、数字、_ 或 -"
    )

    r = api.get("/v1/agents", key=key, params={"page_size": "1000"}, headers=hdr)
    assert r.status == 400, r.body
    expected = "Invalid field page_size: must be at most 100"
    assert r.message == (expected if english else "字段 page_size 无效: 不能大于 100")
