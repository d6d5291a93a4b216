"""Every error response carries a stable machine code from the one table (ERROR_CODES)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from helpers import Api

from aipod_api.core.errors import ERROR_CODES, ApiError

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("agents", "auth", "memory", "tasks", "trust", "wallet")


def _subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def test_every_error_class_has_a_registered_code() -> None:
    for domain in DOMAINS:
        importlib.import_module(f"aipod_api.{domain}.service")
    classes = _subclasses(ApiError)
    assert len(classes) > 20
    for cls in classes:
        code = cls.error_code or cls.key
        assert code in ERROR_CODES, f"{cls.__module__}.{cls.__name__}: {code!r}"
        status = ERROR_CODES[code][0]
        assert status == cls.status or cls.error_code is None, (cls, status)


def test_codes_are_machine_shaped_and_statuses_are_errors() -> None:
    for code, (status, description) in ERROR_CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert 400 <= status <= 599, code
        assert description and description[0].isupper(), code


def test_readme_table_lists_exactly_the_codes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| (\d{3}) \|", readme, flags=re.M)
    assert {code: int(status) for code, status in rows} == {
        code: status for code, (status, _) in ERROR_CODES.items()
    }


def test_responses_carry_the_code_never_localised(api: Api) -> None:
    key = api.register("coder")
    for lang in ("zh", "en"):
        h = {"Accept-Language": lang}
        cases = [
            (api.get("/v1/agents", headers=h), 401, "invalid_api_key"),
            (api.get("/v1/nope", key=key, headers=h), 404, "route_not_found"),
            (api.request("PATCH", "/v1/wallet", key=key, headers=h), 405, "method_not_allowed"),
            (api.get("/v1/agents/ghost", key=key, headers=h), 404, "agent_not_found"),
            (api.get("/v1/tasks?page_size=abc", key=key, headers=h), 400, "validation_failed"),
            (
                api.post("/v1/tasks", key=key, json={"budget": 1}, headers=h),
                400,
                "validation_failed",
            ),
            (api.post("/v1/tasks", key=key, data=b"{", headers=h), 400, "invalid_json"),
            (
                api.post("/v1/tasks", key=key, json={"title": "x", "budget": 10**6}, headers=h),
                409,
                "insufficient_funds",
            ),
            (
                api.post(
                    "/v1/auth/login", json={"username": "coder", "password": "x" * 8}, headers=h
                ),
                401,
                "invalid_credentials",
            ),
        ]
        for resp, status, code in cases:
            assert resp.status == status, resp.body
            assert resp.body["error"] == code, resp.body
    ok = api.get("/v1/wallet", key=key)
    assert ok.status == 200 and "error" not in ok.body
