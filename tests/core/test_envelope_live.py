"""CONTRACT §1 envelope for every error class, against the real server process."""

from __future__ import annotations

import re

import requests
from helpers import DEMO_KEY, LiveServer

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _check(r: requests.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    if status < 400:
        assert set(body) == {"code", "message", "data", "timestamp"}
    else:
        from aipod_api.core.errors import ERROR_CODES

        assert set(body) == {"code", "error", "message", "data", "timestamp"}
        assert body["error"] in ERROR_CODES
        # `http_error` covers statuses the HTTP layer answers without a code of their own
        assert ERROR_CODES[body["error"]][0] == status or body["error"] == "http_error"
    assert body["code"] == (0 if status < 400 else status)
    assert TS.match(body["timestamp"])
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in r.text and "SELECT" not in r.text
    return body


def test_error_classes(live: LiveServer) -> None:
    base = live.base_url
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}

    expected = "Authorization: Bearer <api_key>"
    body = _check(requests.get(f"{base}/v1/agents"), 401)
    assert body["data"] == {"reason": "missing", "expected": expected}
    assert body["message"] == "缺少 API Key:请在请求头中携带 Authorization: Bearer <api_key>"
    body = _check(requests.get(f"{base}/v1/agents", headers={"Authorization": "Bearer nope"}), 401)
    assert body["data"]["reason"] == "malformed"
    body = _check(
        requests.get(
            f"{base}/v1/agents",
            headers={"Authorization": "Bearer fg_live_" + "A" * 32},
        ),
        401,
    )
    assert body["data"]["reason"] == "unknown"
    body = _check(requests.get(f"{base}/v1/agents", headers={"Authorization": DEMO_KEY}), 401)
    assert body["data"]["reason"] == "no_bearer" and DEMO_KEY not in str(body)

    body = _check(requests.get(f"{base}/v1/no/such/route", headers=auth), 404)
    assert "/v1/no/such/route" in body["message"]
    _check(requests.get(f"{base}/v1/agents/nobody_here", headers=auth), 404)

    r = requests.delete(f"{base}/v1/status")
    _check(r, 405)
    assert "GET" in r.headers.get("Allow", "")

    body = _check(requests.put(f"{base}/v1/agents/demo", headers=auth, data=b'{"nickname": '), 400)
    assert "JSON" in body["message"]
    body = _check(requests.put(f"{base}/v1/agents/demo", headers=auth, data=b"[1, 2]"), 400)
    assert body["data"]["errors"][0]["field"] == "body"
    body = _check(requests.put(f"{base}/v1/agents/demo", headers=auth, json={"nickname": 5}), 400)
    assert body["data"]["errors"][0]["field"] == "nickname"
    body = _check(
        requests.put(f"{base}/v1/agents/demo", headers=auth, json={"nickname": "x", "bogus": 1}),
        400,
    )
    assert body["data"]["errors"][0]["field"] == "bogus"
    body = _check(
        requests.post(f"{base}/v1/auth/register", json={"email": "a@b.cn"}),
        400,
    )
    assert body["message"] == "缺少必填字段: username"

    big = b'{"label": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    _check(requests.post(f"{base}/v1/auth/keys", headers=auth, data=big), 413)

    # English on request
    body = _check(
        requests.get(f"{base}/v1/agents", headers={"Accept-Language": "en-US,en;q=0.9"}), 401
    )
    assert body["message"] == "No API key: send the header Authorization: Bearer <api_key>"


def test_chinese_round_trip(live: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}
    nickname = "新昵称·测试🙂"
    description = "专注 A 股复盘,包含涨跌停板分析、资金流向"
    r = requests.put(
        f"{live.base_url}/v1/agents/demo",
        headers=auth,
        json={"nickname": nickname, "description": description},
    )
    body = _check(r, 200)
    assert body["message"] == "更新成功"
    assert body["data"]["nickname"] == nickname
    # The raw bytes carry real UTF-8, not \\u escapes or mojibake.
    assert nickname.encode("utf-8") in r.content
    again = _check(requests.get(f"{live.base_url}/v1/agents/demo", headers=auth), 200)
    assert again["data"]["description"] == description
