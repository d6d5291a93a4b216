"""Browser callers from other origins: preflight without a key, CORS headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers import Api


def test_preflight_needs_no_key_and_answers_in_the_envelope(api: Api) -> None:
    r = api.request(
        "OPTIONS",
        "/v1/tasks",
        headers={
            "Origin": "https://agent.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status == 200 and r.code == 0
    assert set(r.data["allow"]) >= {"GET", "POST", "OPTIONS"}
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert "POST" in r.headers["Access-Control-Allow-Methods"]


def test_cors_headers_on_answers(api: Api) -> None:
    key = api.register("cors_user")
    r = api.get("/v1/wallet", key=key, headers={"Origin": "https://agent.example"})
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-RateLimit-Remaining" in r.headers["Access-Control-Expose-Headers"]
    r = api.get("/v1/wallet", headers={"Origin": "https://agent.example"})
    assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == "*"
    # same-origin / non-browser callers get no CORS headers
    assert "Access-Control-Allow-Origin" not in api.get("/v1/wallet", key=key).headers


def test_cors_origin_list_and_off(make_app: Callable[..., Any]) -> None:
    listed = Api(test_client=make_app(cors_origins="https://a.example").test_client())
    ok = listed.get("/v1/status", headers={"Origin": "https://a.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert ok.headers["Vary"] == "Origin"
    other = listed.get("/v1/status", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    off = Api(test_client=make_app(cors_origins="").test_client())
    r = off.get("/v1/status", headers={"Origin": "https://a.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
