"""Hostile inputs against the real server process: deep JSON, unknown parameters, an
unrepresentable deadline and an inexact amount are 400 in the envelope, never 500."""

from __future__ import annotations

from collections.abc import Callable

import requests
from helpers import LiveServer


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _check_400(r: requests.Response, field: str) -> None:
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    assert body["code"] == 400 and set(body) == {"code", "error", "message", "data", "timestamp"}
    assert body["error"] == "validation_failed"
    assert [e["field"] for e in body["data"]["errors"]] == [field], body


def test_hostile_inputs_are_400_on_the_real_server(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server()
    base = server.base_url
    json_headers = {"Content-Type": "application/json"}
    for levels in (250, 256, 990, 100_000):
        raw = '{"username": "deep_user", "email": "d@example.com", "nickname": ' + _nested(levels)
        r = requests.post(f"{base}/v1/auth/register", data=raw + "}", headers=json_headers)
        _check_400(r, "nickname")
    key = server.api.register("live_inputs")
    auth = {"Authorization": f"Bearer {key}", **json_headers}
    r = requests.get(f"{base}/v1/wallet", params={"agent_id": "someone"}, headers=auth)
    _check_400(r, "agent_id")
    r = requests.post(
        f"{base}/v1/tasks",
        data='{"title": "t", "budget": 0.0100000000000000001}',
        headers=auth,
    )
    _check_400(r, "budget")
    r = requests.post(
        f"{base}/v1/tasks",
        json={"title": "t", "budget": 1, "deadline": "9999-12-31T23:59:59-23:59"},
        headers=auth,
    )
    _check_400(r, "deadline")
    assert requests.get(f"{base}/v1/wallet", headers=auth).json()["data"]["escrow"] == 0
    assert "Traceback" not in server.log()
