"""The documentation page in a real browser: Debian's Chromium driven by Playwright.

Opens `/` on a real server with the demo data, runs the status and list-agents try-it
examples and checks their JSON answers appear on the page; checks the page at desktop and
phone widths in Chinese and English (no code block or button cut off or wrapped, examples
on the page's own origin, the sidebar following the section on screen, the browser's
language chosen unless the user chose); the copy-as-curl button and the memory search
example. Saves screenshots to `artifacts/` (git-ignored). No browser is downloaded: Chromium comes
from Debian's package (installed with apt-get when missing and possible, else skipped;
with `AIPOD_REQUIRE_BROWSER=1`, as in CI, a missing browser fails instead).
"""

from __future__ import annotations

import json
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


WIDTHS = ((1280, 900), (390, 844))
LOCALES = (("zh-CN", "zh"), ("en-US", "en"))

# Every visible code block fits its box (wraps rather than hides past the edge).
OVERFLOWING_CODE = """() => Array.from(document.querySelectorAll('pre'))
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => (e.closest('[id]') || {}).id + ': ' + e.scrollWidth + ' > ' + e.clientWidth)"""
# Line boxes of an element's text: 1 when it does not wrap.
LINE_COUNT = """(el) => { const r = document.createRange(); r.selectNodeContents(el);
  return new Set(Array.from(r.getClientRects()).filter(x => x.width > 0)
    .map(x => Math.round(x.top))).size; }"""
ACTIVE = """() => Array.from(document.querySelectorAll('.sidebar a.active'))
  .map(a => a.getAttribute('href'))"""
# Scroll so that the Tasks heading sits `offset` px below the sticky bars.
SCROLL_TASKS_TO = """(offset) => { const pad = parseFloat(getComputedStyle(document.documentElement)
  .scrollPaddingTop) || 0; const top = document.getElementById('tasks').getBoundingClientRect().top;
  window.scrollBy(0, top - pad - offset); }"""


def _active(page: Any, expected: list[str]) -> list[str]:
    """The highlighted sidebar links once they show `expected`, or after 5 s what they
    show then (the highlight follows on an animation frame after a smooth scroll: under
    load that takes longer than any fixed pause)."""
    seen: list[str] = []
    for _ in range(50):
        page.wait_for_timeout(100)
        seen = list(page.evaluate(ACTIVE))
        if seen == expected:
            break
    return seen


def _tap(page: Any, selector: str) -> None:
    """Follow a sidebar link: scrolled into view, then activated by the element itself.

    Not a click at coordinates: on a phone the sidebar is a horizontal strip that the page
    scrolls to keep the highlighted link in view, and Playwright's scroll-into-view of a
    link inside that sticky strip can scroll the window, move the highlight and so the
    strip, between its aim and its click, which then lands on a neighbouring link (seen
    under load: '#run-locally' and '#rate-limits' hit instead of '#overview'). What is under
    test here is where the page goes and what it highlights once a link is followed."""
    link = page.locator(selector)
    link.scroll_into_view_if_needed()
    link.evaluate("a => a.click()")


@pytest.mark.timeout(600)
def test_page_at_two_widths_in_both_languages(browser: Any, live: LiveServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    for (width, height), (locale, lang) in ((w, loc) for w in WIDTHS for loc in LOCALES):
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        page = context.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))
        where = f"{width}px {locale}"
        try:
            page.goto(f"{live.base_url}/", wait_until="networkidle")
            # The browser's language, with nothing chosen yet.
            assert page.evaluate("document.documentElement.dataset.lang") == lang, where
            assert page.get_attribute(f"#lang-{lang}", "aria-pressed") == "true", where
            heading = page.locator("#overview h1").inner_text()
            assert heading.startswith("API 文档" if lang == "zh" else "API documentation")
            page.screenshot(path=str(ARTIFACTS / f"docs-{width}-{lang}-top.png"))

            # Nothing cut off or wrapped: code blocks, the page, the language buttons.
            assert page.evaluate(OVERFLOWING_CODE) == [], where
            assert page.evaluate("document.documentElement.scrollWidth") <= width, where
            for button in ("#lang-zh", "#lang-en"):
                assert page.locator(button).evaluate(LINE_COUNT) == 1, (where, button)

            # The examples name this page's origin, not the default localhost:5001 (which
            # only the "run it locally" section keeps).
            examples = page.evaluate(
                "() => Array.from(document.querySelectorAll('main pre.code'))"
                ".filter(p => !p.closest('#run-locally')).map(p => p.textContent).join('\\n')"
            )
            assert "localhost:5001" not in examples, where
            assert f"curl {live.base_url}/v1/status" in examples, where
            assert "localhost:5001" in page.locator("#run-locally").inner_text()

            # The sidebar follows: a picked section, then the one scrolled to.
            for section in ("agents", "tasks", "memory", "errors", "run-locally", "overview"):
                _tap(page, f".sidebar a[href='#{section}']")
                assert _active(page, [f"#{section}"]) == [f"#{section}"], (where, section)
            page.mouse.wheel(0, 40)  # the user scrolls: no longer a picked section
            page.evaluate(SCROLL_TASKS_TO, 30)  # the end of AI agents still shows above
            assert _active(page, ["#tasks"]) == ["#tasks"], where
            page.screenshot(path=str(ARTIFACTS / f"docs-{width}-{lang}-tasks.png"))
            page.evaluate(SCROLL_TASKS_TO, int(height * 0.6))  # Tasks starts low down
            assert _active(page, ["#agents"]) == ["#agents"], where
        finally:
            context.close()
    assert errors == []


@pytest.mark.timeout(600)
def test_copy_as_curl_language_choice_and_search_example(browser: Any, live: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.base_url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(f"{live.base_url}/", wait_until="networkidle")
        assert page.evaluate("document.documentElement.dataset.lang") == "en"
        # The user picks Chinese: it sticks over the browser's English.
        page.click("#lang-zh")
        page.reload(wait_until="networkidle")
        assert page.evaluate("document.documentElement.dataset.lang") == "zh"

        button = page.locator("#copy-curl")
        assert button.inner_text() == "复制为 curl"
        page.locator('[data-try="GET /v1/agents"]').first.click()
        page.wait_for_selector('#console-status[data-status="200"]', timeout=15_000)
        button.click()
        page.wait_for_function(
            "() => document.querySelector('#copy-curl').textContent === '已复制'", timeout=5_000
        )
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith(f"curl '{live.base_url}/v1/agents'"), copied
        assert f"Authorization: Bearer {DEMO_KEY}" in copied
        page.wait_for_function(
            "() => document.querySelector('#copy-curl .zh') !== null", timeout=5_000
        )
        assert button.inner_text() == "复制为 curl"  # not "复制为 curlCopy as curl"
        page.click("#lang-en")
        assert button.inner_text() == "Copy as curl"

        # The memory search example finds the fresh demo data.
        search = page.locator('[data-try^="GET /v1/memory?q="]')
        assert search.count() == 1
        search.click()
        page.wait_for_function(
            "() => document.querySelector('#console-status').getAttribute('data-status') === '200'"
            " && document.querySelector('#console-output').textContent.includes('total')",
            timeout=15_000,
        )
        answer = json.loads(page.locator("#console-output").inner_text())
        assert answer["code"] == 0 and answer["data"]["total"] >= 1, answer
        query = search.get_attribute("data-try").split("q=", 1)[1]
        assert all(query in m["content"] for m in answer["data"]["items"])
    finally:
        context.close()
    assert errors == []
