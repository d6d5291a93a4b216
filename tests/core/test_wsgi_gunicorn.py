"""`aipod_api.wsgi:app` serves under gunicorn, configured by AIPOD_* variables."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import free_port


def test_gunicorn_serves_the_wsgi_app(database_url: str, tmp_path: Path) -> None:
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("gunicorn is not installed in this environment (dev extra)")
    port = free_port()
    env = dict(os.environ, AIPOD_DATABASE_URL=database_url, AIPOD_DEMO="1")
    env.pop("AIPOD_REDIS_URL", None)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-w",
            "1",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "aipod_api.wsgi:app",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/v1/status", timeout=2)
                break
            except requests.RequestException:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["code"] == 0
        r = requests.get(
            f"http://127.0.0.1:{port}/v1/agents/demo",
            headers={"Authorization": "Bearer fg_live_demo_xxxxxxxxxxxx"},
            timeout=5,
        )
        assert r.status_code == 200 and r.json()["data"]["agent_id"] == "demo"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
