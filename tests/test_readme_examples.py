"""The README's quick start as a newcomer runs it, against real servers on a SQLite file:

1. a fresh start, then the README's curl block (in bash, as written) and its SDK snippet
   change the demo data;
2. `--reset-demo` restores exactly the first-run state (every table, timestamps and random
   secrets aside) — refused while the server still has the file open;
3. after `--reset-demo`, the curl block runs twice in a row and the SDK snippet twice:
   everything succeeds except the second run's `task_001` accept and complete (409, the
   one-shot the README names), and the demo's balance never runs out.

SQLite only (`--reset-demo` is for the embedded database); the PostgreSQL refusal is in
tests/test_server.py.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKEND, DEMO_KEY, LiveServer, invariants, stop_server

README = Path(__file__).resolve().parents[1] / "README.md"
README_ORIGIN = "http://localhost:5001"
# Columns that differ between two first starts: times, salted hashes, random keys.
VOLATILE = {
    "created_at",
    "updated_at",
    "accepted_at",
    "completed_at",
    "closed_at",
    "last_used_at",
    "revoked_at",
    "password_hash",
    "key_hash",
    "prefix",
    "trust_at",  # trust aggregates are kept as of a time (migration 0008)
    "trust_due",
    "at",  # task_history (migration 0009)
    "submitted_at",
    "review_due",
    "disputed_at",
}

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="--reset-demo is SQLite only")


def readme_block(heading: str, lang: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    match = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no {lang} block after {heading!r}"
    return match.group(1)


ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _stable(table: str, column: str, value: Any) -> Any:
    """An event's payload embeds the resource with its (volatile) ISO times."""
    if table == "events" and column == "data" and isinstance(value, str):
        return ISO_INSTANT.sub("<time>", value)
    return value


def snapshot(db: Path) -> dict[str, list[str]]:
    """Every row of every table (not FTS virtual tables, whose shadow tables are included),
    without the volatile columns."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, list[str]] = {}
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
        ).fetchall()
        for (name,) in names:
            cur = conn.execute(f'SELECT * FROM "{name}"')
            cols = [d[0] for d in cur.description]
            keep = [i for i, col in enumerate(cols) if col not in VOLATILE]
            rows = sorted(
                repr({cols[i]: _stable(name, cols[i], row[i]) for i in keep}) for row in cur
            )
            out[name] = rows
        return out
    finally:
        conn.close()


def run_curl_block(base_url: str, log: Path) -> list[tuple[str, dict[str, Any]]]:
    """Run the README's curl block in bash; (method path, envelope) for every curl."""
    script = readme_block("## 快速上手 Quick start", "bash")
    calls = re.findall(r'curl (?:-X (\w+) )?"?' + re.escape(README_ORIGIN) + r'([^\s"]*)', script)
    assert len(calls) >= 20, calls
    log.unlink(missing_ok=True)
    # Each curl's body also goes to a log, one JSON document per line.
    prelude = (
        f'curl() {{ command curl -sS --max-time 60 "$@" | tee -a "{log}"; echo >> "{log}"; }}\n'
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + script.replace(README_ORIGIN, base_url)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bodies = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    assert len(bodies) == len(calls), (calls, bodies)
    return [(f"{m or 'GET'} {p}", b) for (m, p), b in zip(calls, bodies, strict=True)]


def run_sdk_snippet(base_url: str) -> str:
    code = readme_block("## Python SDK", "python").replace(README_ORIGIN, base_url)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def reset(db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aipod_api.server", "--reset-demo", "--migrate-only"],
        env={**os.environ, "AIPOD_DATABASE_URL": f"sqlite:///{db}", "AIPOD_DEMO": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wallet(live: LiveServer) -> dict[str, Any]:
    r = live.api.get("/v1/wallet", key=DEMO_KEY)
    assert r.status == 200, r.body
    return dict(r.data)


@pytest.mark.timeout(600)
def test_reset_demo_then_the_readme_twice(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    db = tmp_path / "demo.db"
    url = f"sqlite:///{db}"
    log = tmp_path / "curl.jsonl"

    # 1. First start; the newcomer's first hour changes the demo data.
    live = start_server(demo=True, db_url=url)
    fresh = snapshot(db)
    assert wallet(live)["balance"] == 1000
    first = run_curl_block(live.base_url, log)
    assert all(body["code"] == 0 for _, body in first), first
    run_sdk_snippet(live.base_url)
    live.api.post("/v1/tasks", key=DEMO_KEY, json={"title": "left in escrow", "budget": 1000})
    assert wallet(live)["escrow"] == 1000
    changed = snapshot(db)
    assert changed != fresh
    assert len(changed["agents"]) == len(fresh["agents"]) + 1  # the README registered one

    # 2. Refused while the server has the file open; done once it is stopped.
    busy = reset(db, tmp_path)
    assert busy.returncode == 2 and "in use by another process" in busy.stderr, busy
    assert snapshot(db) == changed
    stop_server(live)
    done = reset(db, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo data reset to its initial state now" in done.stdout
    assert snapshot(db) == fresh
    assert invariants(url) == []
    assert not list(tmp_path.glob("demo.db.reset-tmp*"))

    # 3. Serve with --reset-demo (reset again, then start): the README runs twice.
    live = start_server(
        demo=True, db_url=url, args=["--reset-demo"], env={"AIPOD_LOG_LEVEL": "INFO"}
    )
    assert "demo data reset to its initial state now" in live.log()
    assert (wallet(live)["balance"], wallet(live)["escrow"]) == (1000, 0)
    for run in (1, 2):
        results = run_curl_block(live.base_url, log)
        for call, body in results:
            one_shot = call.startswith("PUT /v1/tasks/task_001/")
            expected = 409 if (run == 2 and one_shot) else 0
            assert body["code"] == expected, (run, call, body)
        calls = [call for call, _ in results]
        assert "PUT /v1/tasks/$T/cancel" in calls
        memory = dict(results)["GET /v1/memory?q=渗透率"]["data"]
        assert memory["total"] == run  # the block writes one such memory per run
        # 1000 + 200 for task_001; the published task was cancelled, nothing is held.
        assert (wallet(live)["balance"], wallet(live)["escrow"]) == (1200, 0)
    for _ in (1, 2):
        out = run_sdk_snippet(live.base_url)
        assert re.fullmatch(r"409 insufficient_funds 余额不足 1200 1000000 [0-9a-f]{16}\n", out), (
            out
        )
    assert (wallet(live)["balance"], wallet(live)["escrow"]) == (1200, 0)
    assert invariants(url) == []
