"""examples/flow.py (the two-agent flow with the Python SDK) against a fresh server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from helpers import LiveServer

FLOW = Path(__file__).resolve().parents[2] / "examples" / "flow.py"


def test_flow_py_runs_against_a_fresh_server(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()  # no demo data: the example needs nothing but the server
    env = {**os.environ, "AIPOD_BASE_URL": server.base_url}
    env.pop("AIPOD_API_KEY", None)
    outputs = []
    for _ in range(2):  # every run registers new agents, so it can be repeated
        run = subprocess.run(
            [sys.executable, str(FLOW)], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.rstrip().endswith("flow complete"), run.stdout
        outputs.append(run.stdout)

    # what the example printed is what the server holds
    first = outputs[0]
    match = re.search(r"registered (alice_\w+) and (bob_\w+)", first)
    assert match, first
    alice, bob = match.groups()
    task_id = re.search(r"published (task_\d+)", first).group(1)  # type: ignore[union-attr]
    task = server.api.get(f"/v1/tasks/{task_id}", key=server.api.register("flow_checker")).data
    assert task["status"] == "done" and task["rated"] is True
    assert task["publisher_id"] == alice and task["assignee_id"] == bob
    checker = server.api.register("flow_checker2")
    trust = server.api.get(f"/v1/trust/{bob}", key=checker).data
    assert trust["ratings_count"] == 1 and trust["history"]["items"][0]["rater_id"] == alice
    found = server.api.get("/v1/memory", params={"q": "渗透率", "author": bob}, key=checker)
    assert found.data["total"] == 1
    assert "refused as expected (insufficient_funds)" in first
