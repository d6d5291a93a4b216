"""Demo off means off: after a restart with `--no-demo` the demo account can neither log
in nor use any key, the demo key included (issue 11 item 12)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from helpers import DEMO_KEY, Api, LiveServer, stop_server

DISABLED_ZH = "演示账号已停用:服务器未开启演示数据(--no-demo / AIPOD_DEMO=0)"
DISABLED_EN = (
    "The demo account is disabled: this server runs without demo data (--no-demo / AIPOD_DEMO=0)"
)


def _login(base: str, username: str, password: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{base}/v1/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=60,
    )


def test_restart_with_no_demo_disables_the_demo_account(
    start_server: Callable[..., LiveServer],
) -> None:
    on = start_server(demo=True)
    r = _login(on.base_url, "demo", "demo")
    assert r.status_code == 200, r.text
    login_key = r.json()["data"]["api_key"]
    assert on.api.get("/v1/agents/me", key=login_key).data["agent_id"] == "demo"
    user_key = on.api.register("regular", password="regular-pass")
    stop_server(on)

    off = start_server(demo=False, args=["--no-demo"])
    for key in (DEMO_KEY, login_key):
        for english in (False, True):
            r = requests.get(
                f"{off.base_url}/v1/agents/me",
                headers={
                    "Authorization": f"Bearer {key}",
                    **({"Accept-Language": "en"} if english else {}),
                },
                timeout=60,
            )
            body = r.json()
            assert r.status_code == 401 and body["code"] == 401, r.text
            assert body["message"] == (DISABLED_EN if english else DISABLED_ZH)
            assert body["data"]["reason"] == "demo_disabled"
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
            assert key not in r.text
    r = _login(off.base_url, "demo", "demo")
    assert r.status_code == 401 and r.json()["message"] == DISABLED_ZH, r.text
    r = _login(off.base_url, "DEMO", "demo", **{"Accept-Language": "en"})
    assert r.status_code == 401 and r.json()["message"] == DISABLED_EN, r.text
    # everyone else is unaffected
    assert off.api.get("/v1/agents/me", key=user_key).status == 200
    assert _login(off.base_url, "regular", "regular-pass").status_code == 200
    # the demo account is still visible (its tasks and memories stay), just not usable
    assert off.api.get("/v1/agents/demo", key=user_key).status == 200

    # and on again: the same account and keys work again
    stop_server(off)
    again = start_server(demo=True)
    assert again.api.get("/v1/agents/me", key=login_key).status == 200
    assert _login(again.base_url, "demo", "demo").status_code == 200


def test_a_user_named_demo_without_demo_data_is_not_the_demo_account(
    make_app: Callable[..., Any],
) -> None:
    api = Api(test_client=make_app(demo=False).test_client())
    key = api.register("demo", password="my-own-password")
    assert api.get("/v1/agents/me", key=key).data["agent_id"] == "demo"
    r = api.post("/v1/auth/login", json={"username": "demo", "password": "my-own-password"})
    assert r.status == 200, r.body
    r = api.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    assert r.status == 401 and r.message == "用户名或密码错误"
