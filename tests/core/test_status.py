"""GET /v1/status: 200 when storage answers, 503 in the envelope when it does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import Api

from aipod_api.core.db import make_engine


def test_status_ok(api: Api) -> None:
    r = api.get("/v1/status")
    assert r.status == 200 and r.code == 0
    assert r.data["status"] == "ok" and r.data["database"] == "ok"
    assert r.data["storage"] in ("sqlite", "postgresql")
    assert isinstance(r.data["uptime_s"], int) and r.data["version"]


def test_status_503_when_storage_unreachable(make_app: Callable[..., Any], tmp_path: Path) -> None:
    app = make_app()
    state = app.extensions["aipod"]
    healthy = state.engine
    # Point the running app at a database that cannot be opened.
    state.engine = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        r = Api(test_client=app.test_client()).get("/v1/status")
    finally:
        state.engine.dispose()
        state.engine = healthy
    assert r.status == 503 and r.code == 503
    assert r.data["database"] == "error" and r.data["status"] != "ok"
    assert "Traceback" not in str(r.body)
