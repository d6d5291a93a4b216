"""The documentation page at / and /docs, in-process."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from helpers import DEMO_KEY, Api

SECTIONS = (
    "overview",
    "quickstart",
    "envelope",
    "auth",
    "agents",
    "tasks",
    "memory",
    "trust",
    "wallet",
    "events",
    "webhooks",
    "sdk",
    "rate-limits",
    "errors",
    "run-locally",
    "console",
)
CONSOLE_IDS = ("api-key", "method", "path", "body", "send", "console-output", "console-status")


class Refs(HTMLParser):
    """Collects ids and every URL the page would load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[str] = []
        self.tries: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name in ("src", "href", "action", "srcset", "poster", "data"):
                self.urls.append(value)
            elif name == "data-try":
                self.tries.add(value)


def parse(html: str) -> Refs:
    refs = Refs()
    refs.feed(html)
    return refs


def is_external(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data")


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_page_has_the_seed_sections_and_the_console(demo_api: Api, path: str) -> None:
    assert demo_api.test_client is not None
    r = demo_api.test_client.get(path)  # no key needed
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    refs = parse(html)
    for section in (*SECTIONS, *CONSOLE_IDS, "lang-zh", "lang-en"):
        assert section in refs.ids, section
    assert {"GET /v1/status", "GET /v1/agents"} <= refs.tries
    assert 'lang="zh' in html  # Chinese by default, English on the switch
    for text in ("快速开始", "响应格式", "错误码", "速率限制", "/v1/openapi.json"):
        assert text in html


def test_page_loads_nothing_from_other_hosts(demo_api: Api) -> None:
    assert demo_api.test_client is not None
    client = demo_api.test_client
    refs = parse(client.get("/").get_data(as_text=True))
    external = [u for u in refs.urls if is_external(u)]
    assert external == []
    local = [u for u in refs.urls if u.startswith("/") and not u.startswith("//")]
    assert "/static/docs.css" in local and "/static/docs.js" in local
    for url in local:
        assert client.get(url).status_code == 200, url
    for asset in ("/static/docs.css", "/static/docs.js"):
        text = client.get(asset).get_data(as_text=True)
        assert not re.search(r"(url\(|@import|fetch\(|src=)\s*['\"]?(https?:)?//", text), asset


def test_demo_key_only_in_demo_mode(demo_api: Api, api: Api) -> None:
    assert demo_api.test_client is not None and api.test_client is not None
    with_demo = demo_api.test_client.get("/").get_data(as_text=True)
    assert DEMO_KEY in with_demo
    # The console's key field is prefilled from the page's config (see test_browser.py).
    assert f'"demoKey": "{DEMO_KEY}"' in with_demo
    without = api.test_client.get("/docs").get_data(as_text=True)
    assert DEMO_KEY not in without


def test_openapi_link_needs_no_key(api: Api) -> None:
    r = api.get("/v1/openapi.json")
    assert r.status == 200
    assert r.body["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    ("accept", "lang"),
    [("en-US,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("", "zh")],
)
def test_first_paint_follows_accept_language(api: Api, accept: str, lang: str) -> None:
    assert api.test_client is not None
    headers = {"Accept-Language": accept} if accept else {}
    r = api.test_client.get("/", headers=headers)
    html = r.get_data(as_text=True)
    assert f'data-lang="{lang}"' in html
    assert f'"langDefault": "{lang}"' in html
    assert "Accept-Language" in r.headers.get("Vary", "")  # caches keep the languages apart


def test_page_explains_idempotency_keys(demo_api: Api) -> None:
    assert demo_api.test_client is not None
    html = demo_api.test_client.get("/docs").get_data(as_text=True)
    assert "idempotency" in parse(html).ids
    for text in ("Idempotency-Key", "Idempotent-Replayed", "idempotency_key_reused"):
        assert text in html


def _lifecycle_rows(html: str) -> list[tuple[str, str]]:
    table = re.search(r'<table class="codes lifecycle".*?</table>', html, flags=re.S)
    assert table is not None
    return re.findall(r"<tr><td>(.*?)</td><td><code>(\w+)</code>", table.group(0))


def test_the_task_lifecycle_is_rendered_from_the_table(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.test_flows import with_review

    from aipod_api.tasks import flows

    assert api.test_client is not None
    html = api.test_client.get("/").get_data(as_text=True)
    expected = [(f"{t.source or '—'} → {t.target}", t.action) for t in flows.TRANSITIONS]
    assert _lifecycle_rows(html) == expected
    assert "status=" + "|".join(flows.STATUSES) in html
    # A table with another state is what the page shows.
    monkeypatch.setattr(flows, "LIFECYCLE", with_review())
    html = api.test_client.get("/").get_data(as_text=True)
    rows = _lifecycle_rows(html)
    assert ("progress → review", "complete") in rows and ("review → done", "approve") in rows
    assert '<span class="st">review</span>' in html
    assert "status=open|progress|review|cancelled|expired|done" in html


def test_every_event_type_is_documented(api: Api) -> None:
    """The docs page lists the registered types (rendered from the registry); the README's
    events table names each one."""
    from pathlib import Path

    from aipod_api.events import outbox

    assert api.test_client is not None
    html = api.test_client.get("/").get_data(as_text=True)
    section = re.search(r'<section id="events">.*?</section>', html, flags=re.S)
    assert section is not None
    listed = re.findall(r"<code>([a-z_]+\.[a-z_]+)</code>", section.group(0))
    assert set(outbox.TYPES) <= set(listed), set(outbox.TYPES) - set(listed)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [t for t in outbox.TYPES if f"`{t}`" not in readme]
    assert missing == []
