"""SQL statements per write request, counted at the driver: a deterministic write-path cost.

    python bench/statements.py [--rounds 3] [--log accept] [--database-url URL]

Builds the app in process (`create_app`, background threads off) on a fresh SQLite file
(or `--database-url`: an empty PostgreSQL database, whose tables it drops first),
registers a publisher and a contractor through the API, and then, `--rounds` times,
publishes a task and takes it through accept + complete (no review window), and a second
one through accept + complete (submitted) + approve. Every statement the database driver
receives is counted (SQLite: the connection's trace callback, which also reports each
statement a trigger runs, as a repeat of the outer statement: those are counted apart;
PostgreSQL: psycopg's `Cursor.execute` and `executemany`, one per row), by kind, and the
last round's count per request is printed (an `executemany` counts one per row: the
driver runs the statement once per row). `--log NAME` prints the
statements of the requests whose name contains NAME. `--idempotency` sends a new
`Idempotency-Key` with every write.

The prepared statements (core/prepared.py) run on the DB-API cursor, so SQLAlchemy's
`before_cursor_execute` does not see them; counting at the driver does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

STATEMENTS: list[str] = []


def _kind(sql: str) -> str:
    s = sql.lstrip().lower()
    if s.startswith("--"):
        return "trigger"
    word = s.split(None, 1)[0] if s else ""
    if word in ("begin", "commit", "rollback", "savepoint", "release"):
        return "tx"
    return word if word not in ("", ";") else "ping"  # the pool's pre-ping (PostgreSQL)


def _trace_sqlite() -> None:
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        if hasattr(dbapi_conn, "set_trace_callback"):
            dbapi_conn.set_trace_callback(STATEMENTS.append)

    event.listen(Pool, "connect", on_connect)


def _trace_psycopg() -> None:
    import psycopg

    for cls in (psycopg.Cursor, psycopg.ClientCursor):
        original = cls.execute

        def execute(self: Any, query: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            STATEMENTS.append(query if isinstance(query, str) else str(query))
            return _original(self, query, *args, **kw)

        cls.execute = execute  # type: ignore[method-assign]
    original_many = psycopg.Cursor.executemany

    def executemany(self: Any, query: Any, params: Any, **kw: Any) -> Any:
        params = list(params)
        STATEMENTS.extend([query if isinstance(query, str) else str(query)] * len(params))
        return original_many(self, query, params, **kw)

    psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--log", help="print the statements of requests whose name contains this")
    p.add_argument("--database-url", help="default: a fresh SQLite file")
    p.add_argument("--idempotency", action="store_true", help="an Idempotency-Key per write")
    p.add_argument("--json", type=Path, help="also write the counts here")
    args = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="aipod-statements-")
    url = args.database_url or f"sqlite:///{tmp}/statements.db"
    sqlite = not url.startswith("postgresql")
    if not sqlite:
        _reset_postgres(url)
        _trace_psycopg()
    else:
        _trace_sqlite()
    os.environ.update(
        AIPOD_DATABASE_URL=url,
        AIPOD_DEMO="false",
        AIPOD_RATE_LIMIT="100000000/minute",
        AIPOD_REGISTER_LIMIT="1000000/day",
        AIPOD_LOG_LEVEL="WARNING",
        AIPOD_REVIEW_SECONDS="0",
    )
    os.environ.pop("AIPOD_REDIS_URL", None)
    # No background threads (sweep, WAL checkpoint, webhook worker): only requests count.
    threading.Thread.start = lambda self: None  # type: ignore[method-assign]

    from aipod_api.app import create_app
    from aipod_api.settings import Settings

    app = create_app(Settings())
    client = app.test_client()

    def call(method: str, path: str, key: str | None = None, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if args.idempotency and method != "GET" and key:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        resp = client.open(path, method=method, headers=headers, json=body)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.get_data(True)}")
        return resp.get_json()["data"]

    def agent(name: str, caps: list[str]) -> str:
        data = call(
            "POST",
            "/v1/auth/register",
            body={"username": name, "email": f"{name}@example.com", "capabilities": caps},
        )
        return str(data["api_key"])

    publisher = agent("stmt_publisher", ["writing"])
    contractor = agent("stmt_contractor", ["writing"])
    for key in (publisher, contractor):  # warm the key cache
        call("GET", "/v1/wallet", key)

    counts: dict[str, Counter[str]] = {}
    logs: dict[str, list[str]] = {}

    def measured(name: str, method: str, path: str, key: str, body: Any = None) -> Any:
        STATEMENTS.clear()
        data = call(method, path, key, body)
        counts[name] = Counter(
            # SQLite's trace reports each statement a trigger runs as its outer statement
            # again (Python's callback gets the outer statement's SQL).
            "trigger" if sqlite and i and s == STATEMENTS[i - 1] else _kind(s)
            for i, s in enumerate(STATEMENTS)
        )
        logs[name] = list(STATEMENTS)
        return data

    publish = {"title": "statements", "description": "count", "budget": 1.5}
    names = (
        "POST /v1/tasks",
        "PUT accept",
        "PUT complete (paid)",
        "POST /v1/tasks (review)",
        "PUT accept (review)",
        "PUT complete (submitted)",
        "PUT approve",
    )
    for _ in range(args.rounds):
        t = measured(names[0], "POST", "/v1/tasks", publisher, publish)["task_id"]
        measured(names[1], "PUT", f"/v1/tasks/{t}/accept", contractor)
        done = measured(
            names[2], "PUT", f"/v1/tasks/{t}/complete", contractor, {"deliverables": {"a": 1}}
        )
        assert done["status"] == "done", done
        body = {**publish, "review_seconds": 3600}
        t = measured(names[3], "POST", "/v1/tasks", publisher, body)["task_id"]
        measured(names[4], "PUT", f"/v1/tasks/{t}/accept", contractor)
        sub = measured(
            names[5], "PUT", f"/v1/tasks/{t}/complete", contractor, {"deliverables": {"a": 1}}
        )
        assert sub["status"] == "submitted", sub
        approved = measured(names[6], "PUT", f"/v1/tasks/{t}/approve", publisher)
        assert approved["status"] == "done", approved

    kinds = ["select", "insert", "update", "delete", "trigger", "tx", "ping"]
    other = sorted({k for c in counts.values() for k in c} - set(kinds))
    kinds += other
    backend = url.split(":", 1)[0]
    print(f"statements per request ({backend}, round {args.rounds} of {args.rounds})")
    print(f"{'request':<26}{'total':>6}  " + "".join(f"{k:>8}" for k in kinds))
    for name in names:
        c = counts[name]
        total = sum(v for k, v in c.items() if k not in ("trigger", "ping"))
        print(f"{name:<26}{total:>6}  " + "".join(f"{c.get(k, 0):>8}" for k in kinds))
    print(
        "total: statements the driver ran for the request (an executemany: one per row),"
        " trigger statements and the pool's pre-ping not included; PostgreSQL's BEGIN and"
        " COMMIT are the driver's own (not counted)"
    )
    if args.log:
        for name in names:
            if args.log in name:
                print(f"\n--- {name}")
                for i, sql in enumerate(logs[name], 1):
                    print(f"{i:3} {' '.join(sql.split())[:200]}")
    if args.json:
        args.json.write_text(json.dumps({n: dict(counts[n]) for n in names}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
