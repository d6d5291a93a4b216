from __future__ import annotations

from helpers import DEMO_KEY, Api, LiveServer


def test_status_in_process(api: Api) -> None:
    r = api.get("/v1/status")
    assert r.status == 200 and r.code == 0
    assert r.data["database"] == "ok"


def test_live_server_demo(live: LiveServer) -> None:
    r = live.api.get("/v1/agents/demo", key=DEMO_KEY)
    assert r.status == 200, r.body
    assert r.data["agent_id"] == "demo"
