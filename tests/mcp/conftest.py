"""MCP test fixtures: a live aipod API server, agents on it, and the MCP server's process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import LiveServer, free_port

from aipod_api.sdk import Client


@dataclass
class Agent:
    agent_id: str
    key: str
    client: Client  # the plain SDK, to compare the tools' answers with the API's


@pytest.fixture
def aipod(start_server: Callable[..., LiveServer]) -> LiveServer:
    """A real aipod API server on a fresh database (no demo data)."""
    return start_server()


@pytest.fixture
def register(aipod: LiveServer) -> Callable[..., Agent]:
    def make(username: str, capabilities: list[str] | None = None) -> Agent:
        key = aipod.api.register(username, capabilities=capabilities or [])
        client = Client(key, base_url=aipod.base_url)
        return Agent(username.lower(), key, client)

    return make


@dataclass
class McpHttp:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"MCP server exited early:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"MCP server did not start:\n{log_path.read_text()}")
        time.sleep(0.1)


@pytest.fixture
def mcp_http(aipod: LiveServer, tmp_path: Path) -> Iterator[McpHttp]:
    """`python -m aipod_api.mcp --transport http` in front of the live API server."""
    port = free_port()
    log_path = tmp_path / "mcp-http.log"
    env = dict(os.environ)
    env.pop("AIPOD_API_KEY", None)
    env.update({"AIPOD_BASE_URL": aipod.base_url, "AIPOD_LOG_LEVEL": "WARNING"})
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aipod_api.mcp", "--transport", "http", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        _wait_for_port(port, proc, log_path)
        yield McpHttp(f"http://127.0.0.1:{port}/mcp", proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
