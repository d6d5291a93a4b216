"""Bulk-load a benchmark dataset into a fresh SQLite file.

`python bench/load.py --size 1000000 --out bench/.data/aipod_1000000.db`

At `--size N`: N agents (3 capabilities each, one API key each), N ordinary tasks
(10% open, 5% in progress, 75% done, 10% cancelled) plus a pool of open tasks for the
accept+complete cycle, N memories (2 tags each, 10% "participants" only) when the memory
module is present, and a valid double-entry ledger: a signup credit per agent and the
escrow hold / payment / refund of every task, with balanced entries, running balances,
statement lines and the accounts' counters all consistent (CONTRACT §5).

The schema comes from the application's own migrations (`prepare_database`); rows are
written with SQLAlchemy Core `executemany` in large transactions. A JSON sidecar
(`<out>.json`) lists the benchmark callers' plain API keys and what the load generator
needs (capabilities, tags, the cycle pool's task seqs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, Table, insert, text

from aipod_api.auth.service import hash_key
from aipod_api.bootstrap import prepare_database
from aipod_api.core.db import make_null_pool_engine
from aipod_api.core.tables import (
    accounts,
    agent_capabilities,
    agents,
    api_keys,
    ledger_entries,
    ledger_transactions,
    statement_lines,
    task_capabilities,
    tasks,
)

LOADER_VERSION = 1
CHUNK = 50_000
SIGNUP_CENTS = 100_000  # 1000 credits, the default signup credit
BENCH_USERS = 64  # agents 1..64 are the load generator's callers
CYCLE_POOL = 20_000  # open tasks, no required capability, for accept+complete
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

CAPABILITIES = [
    "stock_analysis", "text_generation", "coding", "translation", "summarization",
    "data_cleaning", "image_captioning", "speech_to_text", "sentiment", "forecasting",
    "web_search", "sql", "python", "rust", "legal_review", "medical_qa", "math",
    "planning", "scheduling", "crawling", "ocr", "tagging", "classification", "ranking",
    "recommendation", "chat", "qa", "report_writing", "market_data", "risk_scoring",
    "fraud_detection", "compliance", "audit", "accounting", "tax", "hr", "recruiting",
    "marketing", "seo", "copywriting",
]  # fmt: skip
TAGS = [f"标签{i:02d}" for i in range(50)] + [f"topic_{i:02d}" for i in range(49)] + ["新能源"]
CONTENTS = [
    "2026年Q1新能源渗透率超过40%,比亚迪领先",
    "A股每日复盘:涨跌停板分析、资金流向、板块表现",
    "Quarterly report: revenue up 12%, margin stable, guidance unchanged.",
    "模型评测记录:中文摘要任务 ROUGE-L 0.41,英文 0.45",
    "Meeting notes: agreed on the API contract v1 and the escrow flow.",
    "数据清洗规则:去重、空值填充、异常值截断(3σ)",
    "Shared prompt library for report writing, version 7.",
    "风控评分模型上线,误报率下降 18%",
]


def plain_key(i: int) -> str:
    digest = hashlib.blake2b(f"aipod-bench-{i}".encode(), digest_size=32).digest()
    return "fg_live_" + "".join(_B62[b % 62] for b in digest)


def agent_id(i: int) -> str:
    return f"agent_{i:07d}"


def _insert(engine: Engine, table: Table, rows: Iterator[dict[str, Any]], label: str) -> int:
    """executemany in CHUNK-sized batches, one transaction per batch."""
    total = 0
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal total
        if batch:
            with engine.begin() as conn:
                conn.execute(insert(table), batch)
            total += len(batch)
            batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            flush()
    flush()
    print(f"  {label:<22} {total:>10,} rows  {time.perf_counter() - started:6.1f} s", flush=True)
    return total


def _raw_insert(engine: Engine, sql: str, rows: Iterator[dict[str, Any]], label: str) -> None:
    started = time.perf_counter()
    total = 0
    batch: list[dict[str, Any]] = []
    stmt = text(sql)
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            with engine.begin() as conn:
                conn.execute(stmt, batch)
            total += len(batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(stmt, batch)
        total += len(batch)
    print(f"  {label:<22} {total:>10,} rows  {time.perf_counter() - started:6.1f} s", flush=True)


class Ledger:
    """Builds balanced ledger rows in memory with running balances (ids assigned here)."""

    def __init__(self, n_agents: int) -> None:
        self.balance = [0] * (n_agents + 2)  # by account_id; 1 = issuance
        self.held = [0] * (n_agents + 2)
        self.earned = [0] * (n_agents + 2)
        self.spent = [0] * (n_agents + 2)
        self.escrow: dict[int, int] = {}  # account_id -> balance (escrow accounts)
        self.tx: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []

    def _bal(self, account: int) -> int:
        return self.escrow[account] if account in self.escrow else self.balance[account]

    def _set(self, account: int, value: int) -> None:
        if account in self.escrow:
            self.escrow[account] = value
        else:
            self.balance[account] = value

    def transfer(
        self, tx_type: str, debit: int, credit: int, cents: int, task_seq: int | None, now: int
    ) -> tuple[int, int, int]:
        d = self._bal(debit) - cents
        if debit != 1 and d < 0:
            raise RuntimeError(f"account {debit} would go negative")
        c = self._bal(credit) + cents
        self._set(debit, d)
        self._set(credit, c)
        seq = len(self.tx) + 1
        self.tx.append({"seq": seq, "type": tx_type, "task_seq": task_seq, "created_at": now})
        self.entries.append(
            {"tx_seq": seq, "account_id": debit, "amount_cents": -cents, "balance_after_cents": d}
        )
        self.entries.append(
            {"tx_seq": seq, "account_id": credit, "amount_cents": cents, "balance_after_cents": c}
        )
        return seq, d, c

    def line(
        self,
        agent: str,
        tx_seq: int,
        tx_type: str,
        cents: int,
        after: int,
        task_seq: int | None,
        counterparty: str | None,
        now: int,
    ) -> None:
        self.lines.append(
            {
                "agent_id": agent,
                "tx_seq": tx_seq,
                "type": tx_type,
                "amount_cents": cents,
                "balance_after_cents": after,
                "task_seq": task_seq,
                "counterparty_id": counterparty,
                "created_at": now,
            }
        )


def load(out: Path, n: int) -> dict[str, Any]:
    if out.exists():
        out.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(out) + suffix).unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{out.resolve()}"
    engine = make_null_pool_engine(url)
    prepare_database(engine, with_demo=False, signup_credit_cents=SIGNUP_CENTS)

    @_on_connect(engine)
    def _fast(dbapi_conn: Any) -> None:  # bulk load only: durability is not needed here
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-262144")
        cur.close()

    t0 = time.perf_counter()
    base = int(time.time()) - 86_400 * 30
    print(f"loading {n:,} agents/tasks/memories into {out}", flush=True)

    def agent_rows() -> Iterator[dict[str, Any]]:
        for i in range(1, n + 1):
            aid = agent_id(i)
            caps = [CAPABILITIES[(i * k) % len(CAPABILITIES)] for k in (1, 3, 7)]
            caps = list(dict.fromkeys(caps))
            yield {
                "seq": i,
                "agent_id": aid,
                "username": aid,
                "email": f"{aid}@bench.example",
                "email_norm": f"{aid}@bench.example",
                "nickname": f"节点 {i}",
                "description": "benchmark agent",
                "endpoint": None,
                "capabilities": orjson.dumps(caps).decode(),
                "password_hash": None,
                "trust_score": ((i * 7919) % 10_000) / 10_000,
                "ratings_count": 0,
                "tasks_completed": 0,
                "created_at": base + i // 100,
                "updated_at": base + i // 100,
            }

    def cap_rows() -> Iterator[dict[str, Any]]:
        for i in range(1, n + 1):
            caps = [CAPABILITIES[(i * k) % len(CAPABILITIES)] for k in (1, 3, 7)]
            for pos, cap in enumerate(dict.fromkeys(caps)):
                yield {"agent_id": agent_id(i), "capability": cap, "position": pos}

    def key_rows() -> Iterator[dict[str, Any]]:
        for i in range(1, n + 1):
            plain = plain_key(i)
            yield {
                "seq": i,
                "agent_id": agent_id(i),
                "key_hash": hash_key(plain),
                "prefix": plain[:12],
                "label": "bench",
                "created_at": base,
                "last_used_at": None,
                "revoked_at": None,
            }

    _insert(engine, agents, agent_rows(), "agents")
    _insert(engine, agent_capabilities, cap_rows(), "agent_capabilities")
    _insert(engine, api_keys, key_rows(), "api_keys")

    # --- ledger + tasks, built in memory in chronological order ----------------------
    ledger = Ledger(n)
    for i in range(1, n + 1):  # account_id 1 + i is agent i's account
        seq, _, after = ledger.transfer("signup_credit", 1, 1 + i, SIGNUP_CENTS, None, base)
        ledger.line(agent_id(i), seq, "signup_credit", SIGNUP_CENTS, after, None, None, base)
    task_rows: list[dict[str, Any]] = []
    task_caps: list[dict[str, Any]] = []
    escrow_rows: list[dict[str, Any]] = []
    deadline = int(time.time()) + 86_400 * 365
    n_tasks = n + CYCLE_POOL
    pool_first = n + 1
    pool_publisher = n  # never one of the bench callers (n > BENCH_USERS)
    for t in range(1, n_tasks + 1):
        now = base + 60 + t // 50
        pooled = t >= pool_first
        pub = pool_publisher if pooled else (t - 1) % n + 1
        asg = pub % n + 1
        budget = 1 if pooled else 100 * (t % 50 + 1)
        kind = t % 20
        status = "open" if pooled or kind < 2 else "progress" if kind == 2 else "cancelled"
        if not pooled and kind >= 5:
            status = "done"
        caps = (
            [] if pooled else [CAPABILITIES[(t * k) % len(CAPABILITIES)] for k in (1, 5)][: t % 3]
        )
        caps = list(dict.fromkeys(caps))
        escrow_id = n + 1 + t  # after issuance (1) and the n agent accounts (2..n+1)
        ledger.escrow[escrow_id] = 0
        pub_acct, asg_acct = 1 + pub, 1 + asg
        seq, after, _ = ledger.transfer("escrow_hold", pub_acct, escrow_id, budget, t, now)
        ledger.held[pub_acct] += budget
        ledger.line(agent_id(pub), seq, "escrow_hold", -budget, after, t, None, now)
        assignee = None
        if status in ("progress", "done"):
            assignee = agent_id(asg)
        if status == "done":
            seq, _, after = ledger.transfer("task_payment", escrow_id, asg_acct, budget, t, now)
            ledger.held[pub_acct] -= budget
            ledger.spent[pub_acct] += budget
            ledger.earned[asg_acct] += budget
            ledger.line(agent_id(asg), seq, "task_payment", budget, after, t, agent_id(pub), now)
            ledger.line(
                agent_id(pub),
                seq,
                "task_settlement",
                -budget,
                ledger.balance[pub_acct],
                t,
                agent_id(asg),
                now,
            )
        elif status == "cancelled":
            seq, _, after = ledger.transfer("escrow_refund", escrow_id, pub_acct, budget, t, now)
            ledger.held[pub_acct] -= budget
            ledger.line(agent_id(pub), seq, "escrow_refund", budget, after, t, None, now)
        escrow_rows.append(
            {
                "account_id": escrow_id,
                "kind": "escrow",
                "agent_id": None,
                "task_seq": t,
                "balance_cents": ledger.escrow.pop(escrow_id),
                "held_cents": 0,
                "earned_cents": 0,
                "spent_cents": 0,
            }
        )
        task_rows.append(
            {
                "seq": t,
                "title": f"基准任务 {t}" if not pooled else f"cycle task {t}",
                "description": "benchmark task",
                "required_capabilities": orjson.dumps(caps).decode(),
                "budget_cents": budget,
                "deadline": deadline if t % 4 else None,
                "status": status,
                "publisher_id": agent_id(pub),
                "assignee_id": assignee,
                "created_at": now,
                "accepted_at": now if assignee else None,
                "completed_at": now if status == "done" else None,
                "closed_at": now if status in ("done", "cancelled") else None,
                "deliverables": '{"report": "ok"}' if status == "done" else None,
                "quality_notes": None,
                "rated": False,
            }
        )
        task_caps.extend(
            {"task_seq": t, "capability": c, "position": p} for p, c in enumerate(caps)
        )

    def account_rows() -> Iterator[dict[str, Any]]:
        for i in range(1, n + 1):
            a = 1 + i
            yield {
                "account_id": a,
                "kind": "agent",
                "agent_id": agent_id(i),
                "task_seq": None,
                "balance_cents": ledger.balance[a],
                "held_cents": ledger.held[a],
                "earned_cents": ledger.earned[a],
                "spent_cents": ledger.spent[a],
            }
        yield from escrow_rows

    with engine.begin() as conn:  # the migrations created the issuance account (id 1)
        conn.execute(
            text(
                "UPDATE accounts SET balance_cents = :b WHERE account_id = 1 AND kind = 'issuance'"
            ),
            {"b": ledger.balance[1]},
        )
    _insert(engine, accounts, account_rows(), "accounts")
    _insert(engine, tasks, iter(task_rows), "tasks")
    _insert(engine, task_capabilities, iter(task_caps), "task_capabilities")
    _insert(engine, ledger_transactions, iter(ledger.tx), "ledger_transactions")
    _insert(engine, ledger_entries, iter(ledger.entries), "ledger_entries")
    _insert(engine, statement_lines, iter(ledger.lines), "statement_lines")
    n_tx = len(ledger.tx)

    memory_loaded = _load_memories(engine, n, base)

    with engine.begin() as conn:
        total = conn.execute(text("SELECT SUM(balance_cents) FROM accounts")).scalar_one()
        if int(total) != 0:
            raise RuntimeError(f"ledger does not balance: {total}")
    engine.dispose()
    elapsed = time.perf_counter() - t0
    print(f"loaded in {elapsed:.0f} s ({out.stat().st_size / 1e6:.0f} MB)", flush=True)
    meta = {
        "loader_version": LOADER_VERSION,
        "size": n,
        "agents": n,
        "tasks": n_tasks,
        "transactions": n_tx,
        "memories": n if memory_loaded else 0,
        "load_seconds": round(elapsed, 1),
        "users": [{"agent_id": agent_id(i), "key": plain_key(i)} for i in range(1, 65)],
        "capability": CAPABILITIES[3],
        "tag": TAGS[7],
        "cycle_first_seq": pool_first,
        "cycle_pool": CYCLE_POOL,
    }
    Path(str(out) + ".json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    return meta


def _load_memories(engine: Engine, n: int, base: int) -> bool:
    try:
        from aipod_api.memory.tables import (
            memories,
            memory_access,
            memory_participants,
            memory_tags,
        )
    except ImportError:
        print("  memories: aipod_api.memory.tables not present yet; skipped", flush=True)
        return False

    def spec(m: int) -> tuple[str, list[str], list[str], str]:
        author = agent_id((m - 1) % n + 1)
        tags = list(dict.fromkeys([TAGS[m % len(TAGS)], TAGS[(m * 7 + 3) % len(TAGS)]]))
        participants: list[str] = []
        if m % 5 == 0:
            participants = [agent_id(m % n + 1), agent_id((m + 1) % n + 1)]
        visibility = "participants" if m % 10 == 0 else "public"
        return author, tags, list(dict.fromkeys(participants)), visibility

    def memory_rows() -> Iterator[dict[str, Any]]:
        for m in range(1, n + 1):
            author, tags, parts, vis = spec(m)
            yield {
                "seq": m,
                "content": CONTENTS[m % len(CONTENTS)],
                "participants": orjson.dumps(parts).decode(),
                "tags": orjson.dumps(tags).decode(),
                "author_id": author,
                "visibility": vis,
                "created_at": base + 120 + m // 50,
            }

    def tag_rows() -> Iterator[dict[str, Any]]:
        for m in range(1, n + 1):
            _, tags, _, vis = spec(m)
            for tag in tags:
                yield {"tag": tag, "memory_seq": m, "public": vis == "public"}

    def participant_rows() -> Iterator[dict[str, Any]]:
        for m in range(1, n + 1):
            _, _, parts, vis = spec(m)
            for p in parts:
                yield {"agent_id": p, "memory_seq": m, "public": vis == "public"}

    def access_rows() -> Iterator[dict[str, Any]]:
        for m in range(1, n + 1):
            author, _, parts, vis = spec(m)
            if vis != "public":
                for a in dict.fromkeys([author, *parts]):
                    yield {"memory_seq": m, "agent_id": a}

    _insert(engine, memories, memory_rows(), "memories")
    _insert(engine, memory_tags, tag_rows(), "memory_tags")
    _insert(engine, memory_participants, participant_rows(), "memory_participants")
    _insert(engine, memory_access, access_rows(), "memory_access")
    try:
        from aipod_api.memory import search
    except ImportError:
        return True
    documents: Callable[[str], tuple[str, str]] | None = getattr(
        getattr(search, "SqliteSearch", None), "documents", None
    )
    if documents is None:
        print("  memory search index: no SqliteSearch.documents; skipped", flush=True)
        return True
    docs = [documents(c) for c in CONTENTS]
    # Since issue 11 the search index holds public memories only (migration 0006).
    import inspect

    public_only = "public" in inspect.signature(search.SqliteSearch.index).parameters
    indexed = [m for m in range(1, n + 1) if not public_only or spec(m)[3] == "public"]
    _raw_insert(
        engine,
        f"INSERT INTO {search.FTS_TABLE} (rowid, body) VALUES (:seq, :body)",
        ({"seq": m, "body": docs[m % len(CONTENTS)][0]} for m in indexed),
        "memory_fts",
    )
    _raw_insert(
        engine,
        f"INSERT INTO {search.GRAMS_TABLE} (rowid, grams) VALUES (:seq, :grams)",
        ({"seq": m, "grams": docs[m % len(CONTENTS)][1]} for m in indexed),
        "memory_grams",
    )
    return True


def _on_connect(engine: Engine) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    from sqlalchemy import event

    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        event.listen(engine, "connect", lambda dbapi_conn, _rec: fn(dbapi_conn))
        return fn

    return register


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, required=True, help="agents = tasks = memories")
    p.add_argument("--out", type=Path, required=True, help="SQLite file to (re)create")
    args = p.parse_args(argv)
    if args.size <= BENCH_USERS:
        print(f"--size must be > {BENCH_USERS}", file=sys.stderr)
        return 2
    os.environ.setdefault("AIPOD_LOG_LEVEL", "WARNING")
    load(args.out, args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
