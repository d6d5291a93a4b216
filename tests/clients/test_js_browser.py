"""The JavaScript client in a real browser (Debian's Chromium driven by Playwright).

A page on another origin (a small HTTP server on 127.0.0.1 serving clients/js/dist)
imports the client as an ES module and calls a real API server across origins (CORS),
as a web app would. Skipped where Chromium or Playwright is missing (tests/web/
test_browser.py installs Chromium in CI, on its first run after this test).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import LiveServer
from jsnode import JS_CLIENT

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>aipod-api in a browser</title>
<script type="module">
  import { AipodClient, NotFoundError } from "./dist/index.js";
  const config = JSON.parse(document.getElementById("config").textContent);
  const client = new AipodClient({ ...config, maxRetries: 0 });
  const out = { secureContext: window.isSecureContext };
  async function step(name, run) {
    try {
      out[name] = await run();
    } catch (err) {
      out[name] = { thrown: err.name, error: err.error ?? null, message: err.message,
                    requestId: err.requestId ?? null, notFound: err instanceof NotFoundError };
    }
  }
  await step("me", async () => (await client.agents.me()).agent_id);
  await step("iterated", async () => {
    const ids = [];
    for await (const agent of client.agents.iterate({ page_size: 1 })) ids.push(agent.agent_id);
    return ids;
  });
  await step("missing", () => client.tasks.get("task_does_not_exist"));
  if (config.write) {
    await step("published", async () => (await client.tasks.create(config.write)).budget);
  }
  window.__result = out;
</script>
<script type="application/json" id="config">CONFIG</script>
"""


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - dev extras not installed
        pytest.skip(f"the playwright package is not installed: {exc}")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (tests/web/test_browser.py installs it)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _serve_page(config: dict[str, Any]) -> ThreadingHTTPServer:
    page = PAGE.replace("CONFIG", json.dumps(config)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                body, kind = page, "text/html; charset=utf-8"
            else:
                target = (JS_CLIENT / self.path.lstrip("/")).resolve()
                if not target.is_relative_to(JS_CLIENT / "dist") or not target.is_file():
                    self.send_error(404)
                    return
                body, kind = target.read_bytes(), "text/javascript; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _run_page(browser: Any, config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    server = _serve_page(config)
    context = browser.new_context()
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    try:
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_function("() => window.__result !== undefined", timeout=30_000)
        return page.evaluate("window.__result"), page_errors
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def _agent(server: LiveServer, username: str) -> str:
    return server.api.register(username)


def test_client_reads_across_origins_in_a_browser(
    browser: Any, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server()
    key = _agent(server, "browser_reader")
    for name in ("browser_a", "browser_b"):
        _agent(server, name)
    config = {"baseUrl": server.base_url, "apiKey": key, "language": "en"}
    result, page_errors = _run_page(browser, config)
    assert page_errors == []
    assert result["me"] == "browser_reader"
    assert sorted(result["iterated"]) == ["browser_a", "browser_b", "browser_reader"]
    missing = result["missing"]
    assert missing["thrown"] == "NotFoundError" and missing["notFound"] is True
    assert missing["error"] == "task_not_found"
    assert missing["message"] == "Task not found: task_does_not_exist"
    assert missing["requestId"], "X-Request-Id is exposed to the page (CORS)"


def test_client_writes_across_origins_in_a_browser(
    browser: Any, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server()
    key = _agent(server, "browser_writer")
    config = {"baseUrl": server.base_url, "apiKey": key, "write": {"title": "t", "budget": 7}}
    result, page_errors = _run_page(browser, config)
    assert page_errors == []
    assert result["published"] == 7, result["published"]
    wallet = server.api.get("/v1/wallet", key=key)
    assert wallet.data["escrow"] == 7
