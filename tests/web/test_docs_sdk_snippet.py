"""The docs page's Python SDK example runs as shown (against a real server)."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import LiveServer


def test_docs_page_python_example_runs(live: LiveServer, tmp_path: Path) -> None:
    page = live.api.session.get(f"{live.base_url}/", timeout=30).text  # type: ignore[union-attr]
    section = page[page.index('<section id="sdk">') :]
    section = section[: section.index("</section>")]
    text = html.unescape(re.sub(r"<[^>]+>", "", section))
    start = text.index("from aipod_api.sdk import Client, InsufficientFunds")
    code = text[start : text.index("# 命令行")]
    assert "fg_live_demo_xxxxxxxxxxxx" in code  # the demo key is shown while demo data is on
    env = {k: v for k, v in os.environ.items() if k not in ("AIPOD_API_KEY", "AIPOD_BASE_URL")}
    run = subprocess.run(
        [sys.executable, "-c", code.replace("http://localhost:5001", live.base_url)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, code + run.stderr
    assert run.stdout.split()[0] == "ai_analyst_001"
