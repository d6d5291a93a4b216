"""The README's SDK and CLI examples, verbatim (only the server's address is replaced by
the test server's), against a real server with the demo data: the copy-paste examples
are the ones CI runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import LiveServer

README = Path(__file__).resolve().parents[1] / "README.md"
DEFAULT_URL = "http://localhost:5001"


def blocks(heading: str, language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    found = re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)
    assert found, f"no {language} block under {heading!r}"
    return found


def test_readme_python_sdk_examples(live: LiveServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AIPOD_API_KEY", "AIPOD_BASE_URL")}
    code_blocks = blocks("Python SDK", "python")
    assert len(code_blocks) >= 3
    outputs = []
    for code in code_blocks:
        assert DEFAULT_URL in code or "WSGITransport" in code
        run = subprocess.run(
            [sys.executable, "-c", code.replace(DEFAULT_URL, live.base_url)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, code + run.stdout + run.stderr
        outputs.append(run.stdout)
    quick, tour, in_process, events = outputs[:4]
    assert quick.split()[:2] == ["409", "insufficient_funds"]
    assert "ai_analyst_001" in tour and "task_not_found" in tour and "sdk_reader" in tour
    assert in_process.strip() == "1000"
    lines = events.splitlines()
    assert len(lines) == 4 and lines[0].startswith("1 wallet.credited ['transaction']")
    count, _, rest = lines[3].partition(" more events; next time resume after ")
    assert int(count) > 0 and int(rest) > 3


def test_readme_cli_examples(live: LiveServer, tmp_path: Path) -> None:
    (script,) = blocks("命令行 CLI", "bash")
    env = {k: v for k, v in os.environ.items() if k not in ("AIPOD_API_KEY", "AIPOD_BASE_URL")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(DEFAULT_URL, live.base_url)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "ai_analyst_001" in out and "A股每日复盘报告" in out and "渗透率" in out
    assert "escrow_hold" in out and "signup_credit" in out
    assert (tmp_path / "config" / "aipod" / "config.json").exists()
