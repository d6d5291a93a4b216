"""examples/flow.sh (curl) and examples/flow.mjs (the JS client), each run as a user would
against a fresh real server, so that the examples cannot rot.

Both print the same story; the money lines are exact (the signup credit is 1000, the
budget 300, nothing else moves).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable

import pytest
from helpers import LiveServer
from jsnode import EXAMPLES, npm_ci, run_node


def _check_story(stdout: str) -> None:
    lines = stdout.splitlines()
    assert len(lines) == 11, stdout
    head = re.fullmatch(r"registered (alice_\d+) and (bob_\d+)", lines[0])
    assert head, lines[0]
    alice, bob = head.groups()
    task = re.fullmatch(r"published (task_\d+) \(budget 300, held in escrow\)", lines[1])
    assert task, lines[1]
    task_id = task.group(1)
    assert lines[2] == f"{bob} found {task_id}"
    assert lines[3] == f"{bob} accepted {task_id}: progress"
    assert lines[4] == f"{bob} completed {task_id}: done"
    assert re.fullmatch(rf"{alice} rated {bob}: trust score 0\.\d+", lines[5]), lines[5]
    assert lines[6] == f"wallet {alice}: balance 700 escrow 0 earned 0 spent 300"
    assert lines[7] == f"wallet {bob}: balance 1300 escrow 0 earned 300 spent 0"
    assert lines[8] == f"{bob} was paid 300"
    memory = re.fullmatch(rf"{alice} wrote (mem_\d+)", lines[9])
    assert memory, lines[9]
    assert lines[10] == f"{bob} searched 渗透率 and found {memory.group(1)}"


def test_flow_sh(start_server: Callable[..., LiveServer]) -> None:
    for tool in ("bash", "curl", "python3"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed: examples/flow.sh needs bash, curl and python3")
    server = start_server()
    env = {**os.environ, "AIPOD_BASE_URL": server.base_url}
    result = subprocess.run(
        ["bash", str(EXAMPLES / "flow.sh")],
        env=env,
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    _check_story(result.stdout)
    # The server is left consistent: a second run on it works too (unique usernames).
    again = subprocess.run(
        ["bash", str(EXAMPLES / "flow.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    _check_story(again.stdout)


def test_flow_sh_stops_at_the_first_error(start_server: Callable[..., LiveServer]) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    # A server whose new agents get no credits: the 300-credit task cannot be funded, so
    # the flow must stop right there, with the API's machine code and message.
    server = start_server(env={"AIPOD_SIGNUP_CREDIT": "0"})
    result = subprocess.run(
        ["bash", str(EXAMPLES / "flow.sh")],
        env={**os.environ, "AIPOD_BASE_URL": server.base_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stdout.startswith("registered ") and "published" not in result.stdout
    assert "error 409 insufficient_funds: " in result.stderr, result.stderr


def test_flow_mjs(start_server: Callable[..., LiveServer]) -> None:
    npm_ci(EXAMPLES)  # links clients/js as the package `aipod-api` (nothing downloaded)
    server = start_server()
    env = {"AIPOD_BASE_URL": server.base_url, "AIPOD_API_KEY": ""}
    result = run_node(["flow.mjs"], cwd=EXAMPLES, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    _check_story(result.stdout)
    again = run_node(["flow.mjs"], cwd=EXAMPLES, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    _check_story(again.stdout)


def test_flow_mjs_stops_at_the_first_error(start_server: Callable[..., LiveServer]) -> None:
    npm_ci(EXAMPLES)
    server = start_server(env={"AIPOD_SIGNUP_CREDIT": "0"})
    result = run_node(["flow.mjs"], cwd=EXAMPLES, env={"AIPOD_BASE_URL": server.base_url})
    assert result.returncode == 1
    assert result.stdout.startswith("registered ") and "published" not in result.stdout
    assert result.stderr.startswith("InsufficientFundsError 409 insufficient_funds: "), (
        result.stderr
    )
