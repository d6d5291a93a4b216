from __future__ import annotations

import pytest
from helpers import DEMO_KEY, Api, LiveServer

# The first run: the app (in process) and the server (its own process) start on a
# database with no schema and migrate it, as on a new install. Every other test's
# database is a copy of one migrated before (tests/helpers.py).
pytestmark = pytest.mark.empty_database


def test_status_in_process(api: Api) -> None:
    r = api.get("/v1/status")
    assert r.status == 200 and r.code == 0
    assert r.data["database"] == "ok"


def test_live_server_demo(live: LiveServer) -> None:
    r = live.api.get("/v1/agents/demo", key=DEMO_KEY)
    assert r.status == 200, r.body
    assert r.data["agent_id"] == "demo"
