"""Each endpoint's SQL statements, their query plans and their cost, per dataset size.

    python bench/plans.py --db bench/.data/aipod_10000.db --db bench/.data/aipod_1000000.db

Why a p99 grows with the data (issue 18: p99 at 1M rows ≤ 1.5x p99 at 10k) is usually
one statement: a full scan, a COUNT over everything, an OFFSET walk, a sort without an
index. This finds it without a load generator. Per dataset (a scratch copy of a
`bench/load.py` file), the application is created in process and each endpoint of
`bench/run.py` is called once (after a warm-up call) with `sqlite3`'s trace callback on
every connection, which records every statement exactly as SQLite runs it (the prepared
hot statements of `core/prepared.py` bypass SQLAlchemy's events, not this). Then each
read statement is run again on its own connection and timed (best of `--repeat`, CPU
time of this thread, rows fetched), and every statement's `EXPLAIN QUERY PLAN` is printed,
flagged where it scans a table (`SCAN` without an index search) or sorts in a temporary
B-tree. The last table puts the sizes side by side: per endpoint the statements' summed
cost at each size and the ratio of the largest to the smallest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from inproc import _environ  # noqa: E402  (bench/ is on sys.path)

PUBLISH = json.dumps({"title": "bench", "description": "load", "budget": 0.01})


def endpoints(meta: dict[str, Any]) -> list[tuple[str, list[tuple[str, str, str | None]]]]:
    """(name, [(method, path, body), ...]): the requests of one call of the endpoint."""
    cap = urllib.parse.quote(meta["capability"])
    tag = urllib.parse.quote(meta["tag"])
    mid = meta["agents"] // 2
    pool = meta["cycle_first_seq"] + meta["cycle_pool"] - 1
    return [
        ("GET /v1/agents/{id}", [("GET", f"/v1/agents/agent_{mid:07d}", None)]),
        ("GET /v1/agents?capability=", [("GET", f"/v1/agents?capability={cap}", None)]),
        ("GET /v1/tasks?status=open", [("GET", "/v1/tasks?status=open", None)]),
        ("GET /v1/wallet", [("GET", "/v1/wallet", None)]),
        ("GET /v1/memory?tag=", [("GET", f"/v1/memory?tag={tag}", None)]),
        ("POST /v1/tasks", [("POST", "/v1/tasks", PUBLISH)]),
        (
            "PUT accept+complete",
            [
                ("PUT", f"/v1/tasks/task_{pool:03d}/accept", None),
                ("PUT", f"/v1/tasks/task_{pool:03d}/complete", '{"deliverables": {"r": 1}}'),
            ],
        ),
    ]


_SKIP = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.I)


def capture(db: Path, meta: dict[str, Any], key: str) -> dict[str, list[str]]:
    """Each endpoint's statements (expanded SQL), in a fresh process's app."""
    from sqlalchemy import Engine, event

    traced: list[str] = []
    recording = [False]

    def trace(sql: str) -> None:
        if recording[0] and not _SKIP.match(sql):
            traced.append(sql)

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.set_trace_callback(trace)

    os.environ.update(
        AIPOD_DATABASE_URL=f"sqlite:///{db}",
        AIPOD_DEMO="false",
        AIPOD_RATE_LIMIT="100000000/minute",
        AIPOD_LOG_LEVEL="WARNING",
    )
    import threading

    threading.Thread.start = lambda self: None  # type: ignore[method-assign]  # no sweeps
    from aipod_api.app import create_app
    from aipod_api.settings import Settings

    app = create_app(Settings())
    wsgi = app.wsgi_app
    out: dict[str, list[str]] = {}

    def call(method: str, path: str, body: str | None) -> None:
        status: list[str] = []

        def sr(s: str, _h: Any, _e: Any = None) -> None:
            status.append(s)

        for _ in wsgi(_environ(method, path, key=key, body=body)(), sr):
            pass
        if not status[0].startswith("2"):
            raise RuntimeError(f"{method} {path}: {status[0]}")

    for name, requests in endpoints(meta):
        if not name.startswith("PUT"):
            for req in requests:  # warm-up: key cached, statements prepared
                call(*req)
        traced.clear()
        recording[0] = True
        for req in requests:
            call(*req)
        recording[0] = False
        out[name] = list(traced)
    return out


def plan(conn: sqlite3.Connection, sql: str) -> list[str]:
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    except sqlite3.Error as exc:
        return [f"(no plan: {exc})"]


def flags(lines: list[str]) -> str:
    """FULL SCAN: a table read whole; index scan: an index read whole (or until a LIMIT);
    sort: a temporary B-tree. Scans of a subquery's own rows (CO-ROUTINE, MATERIALIZE)
    are not flagged: their statement's other lines say what they read."""
    marks = []
    derived = {
        line.split()[1] for line in lines if line.startswith(("CO-ROUTINE ", "MATERIALIZE "))
    }
    for line in lines:
        words = line.split()
        if words[:1] == ["SCAN"] and len(words) > 1 and words[1] not in derived:
            if "CONSTANT" in line:
                pass
            elif "USING" in line:
                marks.append("index scan")
            else:
                marks.append("FULL SCAN")
        if "TEMP B-TREE" in line:
            marks.append("sort")
    return ", ".join(dict.fromkeys(marks))


def runs(sqls: list[str]) -> list[tuple[str, int]]:
    """Consecutive repeats folded: SQLite's trace reports a statement again for each
    trigger program it runs."""
    out: list[tuple[str, int]] = []
    for sql in sqls:
        if out and out[-1][0] == sql:
            out[-1] = (sql, out[-1][1] + 1)
        else:
            out.append((sql, 1))
    return out


def cost_us(conn: sqlite3.Connection, sql: str, repeat: int) -> tuple[float, int]:
    """Best-of-`repeat` CPU µs to run a read statement and fetch its rows; rows."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        t0 = time.thread_time()
        rows = len(conn.execute(sql).fetchall())
        best = min(best, time.thread_time() - t0)
    return best * 1e6, rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, action="append", required=True, help="a bench/load.py file")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--only", help="comma-separated substrings of endpoint names")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:  # one dataset, in a fresh process (the app is created once per process)
        db = args.db[0]
        meta = json.loads(Path(str(db).removesuffix(".scratch") + ".json").read_text())
        print(json.dumps(capture(db, meta, meta["users"][0]["key"])))
        return 0
    only = [o for o in (args.only or "").split(",") if o]
    totals: dict[str, dict[int, float]] = {}
    sizes = []
    for src in args.db:
        meta = json.loads(Path(str(src) + ".json").read_text())
        n = meta["size"]
        sizes.append(n)
        with tempfile.TemporaryDirectory(prefix="aipod-plans-") as tmp:
            db = Path(tmp) / f"{src.name}.scratch"
            shutil.copyfile(src, db)
            Path(str(db).removesuffix(".scratch") + ".json").write_text(json.dumps(meta))
            import subprocess

            done = subprocess.run(
                [sys.executable, __file__, "--child", "--db", str(db)],
                check=True,
                capture_output=True,
                text=True,
            )
            statements: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            print(f"\n## {n:,} rows ({src})")
            for name, sqls in statements.items():
                if only and not any(o in name for o in only):
                    continue
                total = 0.0
                print(f"\n### {name}: {len(runs(sqls))} statements")
                for sql, times in runs(sqls):
                    lines = plan(conn, sql)
                    head = " ".join(sql.split())
                    is_read = head.upper().startswith(("SELECT", "WITH"))
                    if is_read:
                        us, rows = cost_us(conn, sql, args.repeat)
                        total += us
                        cost = f"{us:8.1f} µs {rows:5d} rows"
                    else:
                        cost = "   (write: not run)"
                    again = f" (traced {times}x: triggers)" if times > 1 else ""
                    print(f"- {cost}  {flags(lines) or '-'}{again}  {head[:160]}")
                    for line in lines:
                        print(f"      {line}")
                totals.setdefault(name, {})[n] = total
            conn.close()
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        print(f"\n## reads' statements, summed CPU µs: {hi:,} vs {lo:,} rows\n")
        print(f"| endpoint | {lo:,} µs | {hi:,} µs | ratio |")
        print("|---|---:|---:|---:|")
        for name, by in totals.items():
            a, b = by.get(lo, 0.0), by.get(hi, 0.0)
            ratio = f"{b / a:.2f}" if a else ""
            print(f"| {name} | {a:.1f} | {b:.1f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
