"""A 401 says which case it is and how to fix it, never echoing the key (issue 17 item 4)."""

from __future__ import annotations

import pytest
from helpers import DEMO_KEY, Api

EXPECTED = "Authorization: Bearer <api_key>"
UNKNOWN_KEY = "fg_live_" + "Q" * 32
CHALLENGE = 'Bearer realm="aipod_api"'

# reason -> (zh, en, WWW-Authenticate)
CASES: dict[str, tuple[str, str, str]] = {
    "missing": (
        "缺少 API Key:请在请求头中携带 Authorization: Bearer <api_key>",
        "No API key: send the header Authorization: Bearer <api_key>",
        CHALLENGE,
    ),
    "x_api_key": (
        "不支持 X-API-Key 请求头:请改用 Authorization: Bearer <api_key>",
        "The X-API-Key header is not supported: send Authorization: Bearer <api_key>",
        CHALLENGE,
    ),
    "no_bearer": (
        "Authorization 请求头缺少 Bearer 前缀:应为 Authorization: Bearer <api_key>",
        "The Authorization header lacks the Bearer prefix: send Authorization: Bearer <api_key>",
        CHALLENGE,
    ),
    "scheme": (
        "Authorization 请求头只支持 Bearer 方案:应为 Authorization: Bearer <api_key>",
        "The Authorization header must use the Bearer scheme: Authorization: Bearer <api_key>",
        CHALLENGE,
    ),
    "malformed": (
        "API Key 格式不正确(应为 fg_live_ 加 32 位字母或数字):Authorization: Bearer <api_key>",
        "Malformed API key (expected fg_live_ and 32 letters or digits): "
        "Authorization: Bearer <api_key>",
        CHALLENGE + ', error="invalid_token", error_description="The API key is malformed"',
    ),
    "unknown": (
        "API Key 不存在或已被撤销:请在 Authorization: Bearer <api_key> 中使用有效的 Key"
        "(POST /v1/auth/login 可签发新 Key)",
        "Unknown or revoked API key: send a valid one as Authorization: Bearer <api_key> "
        "(POST /v1/auth/login issues a new key)",
        CHALLENGE
        + ', error="invalid_token", error_description="The API key is unknown or revoked"',
    ),
}

# (headers sent, the reason expected, the secret that must never come back)
REQUESTS: list[tuple[dict[str, str], str, str | None]] = [
    ({}, "missing", None),
    ({"Authorization": "   "}, "missing", None),
    ({"X-API-Key": DEMO_KEY}, "x_api_key", DEMO_KEY),
    ({"x-api-key": UNKNOWN_KEY}, "x_api_key", UNKNOWN_KEY),
    ({"Authorization": DEMO_KEY}, "no_bearer", DEMO_KEY),
    ({"Authorization": UNKNOWN_KEY}, "no_bearer", UNKNOWN_KEY),
    ({"Authorization": "Basic ZGVtbzpkZW1v"}, "scheme", "ZGVtbzpkZW1v"),
    ({"Authorization": "Token " + DEMO_KEY}, "scheme", DEMO_KEY),
    ({"Authorization": "Bearer"}, "malformed", None),
    ({"Authorization": "Bearer s3cr3t-token-value"}, "malformed", "s3cr3t-token-value"),
    ({"Authorization": "Bearer <api_key>"}, "malformed", None),
    ({"Authorization": "Bearer Bearer " + DEMO_KEY}, "malformed", DEMO_KEY),
    ({"Authorization": "Bearer " + UNKNOWN_KEY}, "unknown", UNKNOWN_KEY),
    # an X-API-Key next to a wrong Authorization: the Authorization header is what counts
    ({"Authorization": "Bearer " + UNKNOWN_KEY, "X-API-Key": DEMO_KEY}, "unknown", UNKNOWN_KEY),
]


@pytest.mark.parametrize(("headers", "reason", "secret"), REQUESTS)
@pytest.mark.parametrize("english", [False, True])
def test_401_names_the_case_and_the_fix(
    demo_api: Api, headers: dict[str, str], reason: str, secret: str | None, english: bool
) -> None:
    sent = dict(headers)
    if english:
        sent["Accept-Language"] = "en"
    r = demo_api.get("/v1/agents/me", headers=sent)
    zh, en, challenge = CASES[reason]
    assert r.status == 401 and r.code == 401, r.body
    assert r.message == (en if english else zh)
    assert EXPECTED in r.message
    assert r.data == {"reason": reason, "expected": EXPECTED}
    assert r.headers["WWW-Authenticate"] == challenge
    if secret is not None:
        assert secret not in str(r.body) and secret not in str(dict(r.headers))


def test_revoked_key_is_reported_as_unknown(api: Api) -> None:
    key = api.register("revokes")
    extra = api.post("/v1/auth/keys", key=key, json={"label": "spare"}).data
    assert api.delete(f"/v1/auth/keys/{extra['key_id']}", key=key).status == 200
    r = api.get("/v1/wallet", key=extra["api_key"], headers={"Accept-Language": "en"})
    assert r.status == 401
    assert r.data["reason"] == "unknown" and r.message == CASES["unknown"][1]
    assert extra["api_key"] not in str(r.body)


def test_the_right_header_still_works(demo_api: Api) -> None:
    for value in ("Bearer " + DEMO_KEY, "bearer " + DEMO_KEY, "  Bearer   " + DEMO_KEY + "  "):
        r = demo_api.get("/v1/agents/me", headers={"Authorization": value})
        assert r.status == 200 and r.data["agent_id"] == "demo", value
        assert "WWW-Authenticate" not in r.headers
