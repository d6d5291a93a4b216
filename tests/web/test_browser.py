"""The documentation page in a real browser: Debian's Chromium driven by Playwright.

Opens `/` on a real server with the demo data, runs the status and list-agents try-it
examples and checks their JSON answers appear on the page. Saves a screenshot to
`artifacts/docs-console.png` (git-ignored). No browser is downloaded: Chromium comes
from Debian's package (installed with apt-get when missing and possible, else skipped;
with `AIPOD_REQUIRE_BROWSER=1`, as in CI, a missing browser fails instead).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
from helpers import DEMO_KEY, LiveServer

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _skip(reason: str) -> NoReturn:
    if os.environ.get("AIPOD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (AIPOD_REQUIRE_BROWSER=1) but: {reason}")
    pytest.skip(reason)


def _ensure_chromium() -> str | None:
    """Install Debian's chromium if missing and possible; the reason to skip otherwise."""
    if os.path.exists(CHROMIUM):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and cannot be installed (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {done.stderr[-500:]}"
    return None if os.path.exists(CHROMIUM) else f"{CHROMIUM} still missing after apt-get"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - dev extras not installed
        _skip(f"the playwright package is not installed: {exc}")
    reason = _ensure_chromium()
    if reason:
        _skip(reason)
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        except Exception as exc:
            _skip(f"Chromium at {CHROMIUM} does not start: {exc}")
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.timeout(1200)  # the first run may apt-get install chromium
def test_try_it_console_shows_real_answers(browser: Any, live: LiveServer) -> None:
    origin = urlsplit(live.base_url).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    console_errors: list[str] = []
    page.on("pageerror", lambda err: console_errors.append(str(err)))
    try:
        page.goto(f"{live.base_url}/", wait_until="networkidle")
        assert page.locator("#api-key").input_value() == DEMO_KEY  # prefilled in demo mode
        output = page.locator("#console-output")

        page.locator('[data-try="GET /v1/status"]').first.click()
        page.wait_for_selector('#console-status[data-status="200"]', timeout=15_000)
        status_text = output.inner_text()
        assert '"code": 0' in status_text
        assert '"status": "ok"' in status_text

        page.locator('[data-try="GET /v1/agents"]').first.click()
        # The attribute is removed while the request is in flight, then set again.
        page.wait_for_function(
            "() => { const s = document.querySelector('#console-status');"
            " const o = document.querySelector('#console-output');"
            " return s.getAttribute('data-status') === '200'"
            " && o.textContent.includes('ai_analyst_001'); }",
            timeout=15_000,
        )
        agents_text = output.inner_text()
        assert '"code": 0' in agents_text
        assert '"agent_id": "ai_analyst_001"' in agents_text
        assert '"items": [' in agents_text
        assert page.locator("#path").input_value().startswith("/v1/agents")

        page.locator("#console").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "docs-console.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 0
    finally:
        context.close()

    assert console_errors == []
    foreign = [u for u in requested if urlsplit(u).scheme not in ("data", "blob")]
    foreign = [u for u in foreign if urlsplit(u).netloc != origin]
    assert foreign == [], "the page must not load anything from other hosts"
    assert any(u.endswith("/v1/status") for u in requested)
    assert any("/v1/agents" in u for u in requested)
