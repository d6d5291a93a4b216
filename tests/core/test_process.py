"""Process faults (issue 11 items 13-14): no orphan workers, one server per port.

Real server processes: `kill -9` of the main process must take its workers down with it
(granian runs the app in a worker process even with `--workers 1`, so this applies on
SQLite too; `--workers 2` needs Redis, so it runs on the PostgreSQL + Redis pass), and a
second server on a port already served must refuse to start with a message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from helpers import LiveServer, free_port

from aipod_api.core.process import PortInUse, claim_port

BACKEND = os.environ.get("AIPOD_TEST_BACKEND", "sqlite").lower()
WORKERS = 1 if BACKEND == "sqlite" else 2
DEADLINE_S = 60  # bound on waiting for an event; never an assertion about speed


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _server_env(database_url: str, redis_url: str | None, port: int) -> dict[str, str]:
    env = dict(
        os.environ,
        AIPOD_DATABASE_URL=database_url,
        AIPOD_PORT=str(port),
        AIPOD_HOST="127.0.0.1",
        AIPOD_DEMO="0",
        AIPOD_LOG_LEVEL="WARNING",
    )
    env.pop("AIPOD_REDIS_URL", None)
    if redis_url:
        env["AIPOD_REDIS_URL"] = redis_url
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_main_process_is_killed(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(args=["--workers", str(WORKERS)])
    main = server.process.pid
    deadline = time.monotonic() + DEADLINE_S
    workers = _children(main)
    while len(workers) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = _children(main)
    assert len(workers) == WORKERS, workers
    assert requests.get(f"{server.base_url}/v1/status", timeout=10).status_code == 200

    os.kill(main, signal.SIGKILL)
    server.process.wait(timeout=DEADLINE_S)
    try:
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), f"orphan workers: {workers}"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.base_url}/v1/status", timeout=10)
    finally:  # never leave an orphan behind, even when the test fails
        with contextlib.suppress(ProcessLookupError):
            os.killpg(main, signal.SIGKILL)


def test_a_second_server_on_a_served_port_refuses_to_start(
    start_server: Callable[..., LiveServer],
    database_url: str,
    redis_url: str | None,
    tmp_path: Path,
) -> None:
    first = start_server()
    port = int(first.base_url.rsplit(":", 1)[1])
    second = subprocess.run(
        [sys.executable, "-m", "aipod_api.server"],
        env=_server_env(database_url, redis_url, port),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode != 0
    assert f"port {port}" in second.stderr and "in use" in second.stderr, second.stderr
    # Only the first server answers: one account per username, one database.
    statuses = [
        requests.post(
            f"{first.base_url}/v1/auth/register",
            json={"username": "only_once", "email": "once@example.com"},
            timeout=10,
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [201, 409, 409, 409, 409, 409]


def test_a_port_held_by_another_program_is_refused(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    for reuse_port in (False, True):  # a plain listener, and one that shares like granian
        holder = socket.socket()
        if reuse_port:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        try:
            result = subprocess.run(
                [sys.executable, "-m", "aipod_api.server"],
                env=_server_env(database_url, redis_url, port),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            holder.close()
        assert result.returncode == 1, result.stderr
        assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_two_servers_started_together_leave_one_serving(
    database_url: str, redis_url: str | None, tmp_path: Path
) -> None:
    port = free_port()
    env = _server_env(database_url, redis_url, port)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "aipod_api.server"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + DEADLINE_S * 2
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        refused = [p for p in procs if p.poll() is not None]
        assert len(refused) == 1, "exactly one of the two must refuse"
        assert refused[0].returncode == 1
        assert refused[0].stderr is not None and "in use" in refused[0].stderr.read()
        status = None
        while status is None and time.monotonic() < deadline:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/v1/status", timeout=5).status_code
            except requests.ConnectionError:
                time.sleep(0.2)
        assert status == 200
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)


def test_claim_port_in_process() -> None:
    port = free_port()
    claim = claim_port("127.0.0.1", port)
    try:
        if sys.platform.startswith("linux"):
            with pytest.raises(PortInUse, match="another aipod_api server"):
                claim_port("127.0.0.1", port)
    finally:
        if claim is not None:
            claim.close()
    again = claim_port("127.0.0.1", port)  # released with the socket
    if again is not None:
        again.close()
    assert claim_port("127.0.0.1", 0) is None  # an ephemeral port cannot be taken
