"""Shared-memory benchmark: filter and search latency through the HTTP API at scale.

    python bench/memory_bench.py --sizes 10000,1000000

For each size: a fresh SQLite file is migrated and bulk-loaded directly with SQLAlchemy
Core (memories with realistic Chinese content, tags from a few hundred, participants
from a few thousand agents, ~5% participants-only), then the real server is started as
users start it (`python -m aipod_api.server --database-url ... --no-demo`), an agent is
registered through the API, and each query type is timed with a sequential keep-alive
loop. Prints p50/p99 per query and size, and the ratio largest/smallest size.

    python bench/memory_bench.py --sizes 10000 --hidden 10000

`--hidden N` (issue 11): after measuring a size, N private ("participants") memories of
other agents, every one containing 的 and matching the popular tag, are added, and the
same queries are timed again by an agent that may see none of them — before/after,
side by side. Run it against an older checkout (`PYTHONPATH=<checkout>`) for the
figures before the fix; the loader indexes private memories the way that code expects.
Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import event, insert, text

from aipod_api.core import migrate
from aipod_api.core.db import make_engine, make_null_pool_engine, transaction
from aipod_api.core.tables import agents
from aipod_api.memory.search import SqliteSearch
from aipod_api.memory.tables import memories, memory_access, memory_participants, memory_tags

# --- corpus generator ----------------------------------------------------------------

_WORDS_TEXT = """
    新能源 汽车 电池 动力电池 储能 光伏 风电 氢能 充电桩 渗透率 销量 市场份额 同比 环比
    增长 下降 比亚迪 宁德时代 特斯拉 蔚来 理想 小鹏 吉利 长城 隆基 通威 阳光电源 锂价
    碳酸锂 硅料 组件 逆变器 政策 补贴 出口 海外 欧洲 东南亚 产能 过剩 库存 价格战
    毛利率 净利润 营收 估值 市盈率 板块 行情 研报 分析师 机构 基金 持仓 加仓 减仓
    北向资金 成交额 涨停 跌停 回调 反弹 支撑位 压力位 均线 季度 年度 预测 预期 超预期
    不及预期 数据 统计 调研 报告 会议 纪要 客户 订单 交付 供应链 芯片 半导体 算力
    人工智能 大模型 数据中心 云计算 机器人 自动驾驶 智能座舱 激光雷达 软件 平台 生态 宏观 利率 通胀
    汇率 美元 人民币 央行 降准 降息 社融 信贷 消费 投资 出口额 进口 制造业 服务业
    钢铁 煤炭 石油 天然气 电力 电网 特高压 核电 水电 火电 碳排放 碳中和 绿电 绿证
    交易 市场 用户 体验 品牌 渠道 门店 线上 线下 营销 广告 流量 转化率 留存
    复购 客单价 毛利 成本 费用
"""
_LATIN_TEXT = """
    EV BYD CATL Tesla GWh TWh PV ESG AI GPU API Q1 Q2 Q3
    Q4 YoY MoM capex EBITDA PE ROE battery solar market share growth outlook
"""
WORDS = _WORDS_TEXT.split()
LATIN = _LATIN_TEXT.split()
FILLER = list("的了在和是与及对将已为有也但而并或")
PUNCT = [*",。;:、", " "]


def _zipf_weights(n: int, s: float = 1.05) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


class Corpus:
    def __init__(self, seed: int, n_tags: int = 300, n_agents: int = 3000) -> None:
        self.rng = random.Random(seed)
        vocab = list(WORDS)
        self.rng.shuffle(vocab)
        self.vocab = vocab
        self.cum_vocab = _cumulative(_zipf_weights(len(vocab), 0.9))
        self.tags = ["新能源", "市场数据", *[f"{w}" for w in vocab[:150]]]
        self.tags += [f"topic_{i:03d}" for i in range(n_tags - len(self.tags))]
        self.cum_tags = _cumulative(_zipf_weights(len(self.tags)))
        self.agents = [f"agent_{i:05d}" for i in range(n_agents)]

    def content(self) -> str:
        rng = self.rng
        parts: list[str] = []
        for _ in range(rng.randint(8, 30)):
            roll = rng.random()
            if roll < 0.08:
                parts.append(rng.choice(LATIN))
            elif roll < 0.14:
                parts.append(
                    f"{rng.randint(1, 2000)}{rng.choice(['%', '亿元', '万辆', 'GWh', ''])}"
                )
            else:
                parts.append(rng.choices(self.vocab, cum_weights=self.cum_vocab)[0])
            if rng.random() < 0.3:
                parts.append(rng.choice(FILLER))
            if rng.random() < 0.15:
                parts.append(rng.choice(PUNCT))
        return "".join(parts)

    def tag_list(self) -> list[str]:
        k = self.rng.choice((0, 1, 2, 2, 3, 3, 4))
        return list(dict.fromkeys(self.rng.choices(self.tags, cum_weights=self.cum_tags, k=k)))

    def participant_list(self) -> list[str]:
        k = self.rng.choice((0, 0, 1, 1, 2, 3))
        return list(dict.fromkeys(self.rng.choices(self.agents, k=k)))


def _cumulative(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


# --- bulk load -------------------------------------------------------------------------


def _indexes_private() -> bool:
    """Whether this checkout's search index holds private memories too (before issue 11's
    fix every memory was indexed; since then only public ones are)."""
    import inspect

    return "public" not in inspect.signature(SqliteSearch.index).parameters


def bulk_load(url: str, size: int, *, batch: int = 20_000, seed: int = 7) -> Corpus:
    import orjson

    engine = make_null_pool_engine(url)
    migrate.upgrade(engine)
    corpus = Corpus(seed)
    search = SqliteSearch()
    now = int(time.time()) - size
    with transaction(engine, write=True) as conn:
        conn.execute(
            insert(agents),
            [
                {
                    "agent_id": a,
                    "username": a,
                    "email": f"{a}@bench.local",
                    "email_norm": f"{a}@bench.local",
                    "nickname": a,
                    "description": "",
                    "capabilities": "[]",
                    "trust_score": 0.5,
                    "ratings_count": 0,
                    "tasks_completed": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for a in corpus.agents
            ],
        )
    index_private = _indexes_private()
    fts_sql = text("INSERT INTO memory_fts (rowid, body) VALUES (:seq, :body)")
    grams_sql = text("INSERT INTO memory_grams (rowid, grams) VALUES (:seq, :grams)")
    started = time.monotonic()
    seq = 0
    engine.dispose()
    engine = make_engine(url, pool_size=1)

    @event.listens_for(engine, "connect")
    def _bulk_pragmas(dbapi_conn: Any, _record: Any) -> None:
        for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-1000000"):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    if True:
        while seq < size:
            rows: list[dict[str, Any]] = []
            tag_rows: list[dict[str, Any]] = []
            part_rows: list[dict[str, Any]] = []
            access_rows: list[dict[str, Any]] = []
            fts_rows: list[dict[str, Any]] = []
            gram_rows: list[dict[str, Any]] = []
            for _ in range(min(batch, size - seq)):
                seq += 1
                content = corpus.content()
                tags = corpus.tag_list()
                parts = corpus.participant_list()
                author = corpus.rng.choice(corpus.agents)
                public = corpus.rng.random() >= 0.05
                rows.append(
                    {
                        "seq": seq,
                        "content": content,
                        "participants": orjson.dumps(parts).decode(),
                        "tags": orjson.dumps(tags).decode(),
                        "author_id": author,
                        "visibility": "public" if public else "participants",
                        "created_at": now + seq,
                    }
                )
                tag_rows += [{"tag": t, "memory_seq": seq, "public": public} for t in tags]
                part_rows += [{"agent_id": p, "memory_seq": seq, "public": public} for p in parts]
                if not public:
                    access_rows += [
                        {"memory_seq": seq, "agent_id": a} for a in dict.fromkeys([author, *parts])
                    ]
                if public or index_private:
                    body, grams = search.documents(content)
                    fts_rows.append({"seq": seq, "body": body})
                    gram_rows.append({"seq": seq, "grams": grams})
            with transaction(engine, write=True) as conn:
                conn.execute(insert(memories), rows)
                if tag_rows:
                    conn.execute(insert(memory_tags), tag_rows)
                if part_rows:
                    conn.execute(insert(memory_participants), part_rows)
                if access_rows:
                    conn.execute(insert(memory_access), access_rows)
                if fts_rows:
                    conn.execute(fts_sql, fts_rows)
                    conn.execute(grams_sql, gram_rows)
            rate = seq / max(time.monotonic() - started, 1e-9)
            print(f"  loaded {seq:>9,} / {size:,}  ({rate:,.0f} rows/s)", flush=True)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return corpus


def add_hidden(url: str, corpus: Corpus, count: int, *, tag: str) -> None:
    """`count` private memories by agents of the corpus (never the measuring agent), each
    containing 的 and tagged `tag`, as the API would store them."""
    import orjson

    engine = make_null_pool_engine(url)
    search = SqliteSearch()
    index_private = _indexes_private()
    with transaction(engine, write=True) as conn:
        start = int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM memories")).scalar_one())
        now = int(time.time())
        rows, tags, parts, access, fts, grams = [], [], [], [], [], []
        for i in range(count):
            seq = start + 1 + i
            author = corpus.rng.choice(corpus.agents)
            others = [a for a in corpus.participant_list() if a != author]
            content = corpus.content() + "的" + corpus.content()
            rows.append(
                {
                    "seq": seq,
                    "content": content,
                    "participants": orjson.dumps(others).decode(),
                    "tags": orjson.dumps([tag]).decode(),
                    "author_id": author,
                    "visibility": "participants",
                    "created_at": now,
                }
            )
            tags.append({"tag": tag, "memory_seq": seq, "public": False})
            parts += [{"agent_id": p, "memory_seq": seq, "public": False} for p in others]
            access += [{"memory_seq": seq, "agent_id": a} for a in dict.fromkeys([author, *others])]
            if index_private:
                body, gram_doc = search.documents(content)
                fts.append({"seq": seq, "body": body})
                grams.append({"seq": seq, "grams": gram_doc})
        conn.execute(insert(memories), rows)
        conn.execute(insert(memory_tags), tags)
        if parts:
            conn.execute(insert(memory_participants), parts)
        conn.execute(insert(memory_access), access)
        if fts:
            conn.execute(text("INSERT INTO memory_fts (rowid, body) VALUES (:seq, :body)"), fts)
            conn.execute(
                text("INSERT INTO memory_grams (rowid, grams) VALUES (:seq, :grams)"), grams
            )
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


# --- server and measurement ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "AIPOD_RATE_LIMIT": "100000000/minute",
            "AIPOD_REGISTER_LIMIT": "100000000/day",
            "AIPOD_MAX_CONCURRENCY": "1000",
            "AIPOD_LOG_LEVEL": "WARNING",
        }
    )
    log = (workdir / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aipod_api.server",
            "--database-url",
            url,
            "--no-demo",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited; see {log.name}")
        try:
            if requests.get(f"{base}/v1/status", timeout=2).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(base: str, queries: dict[str, dict[str, str]], n: int) -> dict[str, Any]:
    session = requests.Session()
    name = f"bench_{random.randrange(10**9)}"
    r = session.post(
        f"{base}/v1/auth/register", json={"username": name, "email": f"{name}@bench.local"}
    )
    r.raise_for_status()
    session.headers["Authorization"] = f"Bearer {r.json()['data']['api_key']}"
    out: dict[str, Any] = {}
    for label, params in queries.items():
        for _ in range(20):  # warm-up
            session.get(f"{base}/v1/memory", params=params).raise_for_status()
        times = []
        last: Any = None
        for _ in range(n):
            t0 = time.perf_counter()
            resp = session.get(f"{base}/v1/memory", params=params)
            times.append((time.perf_counter() - t0) * 1000)
            resp.raise_for_status()
            last = resp.json()["data"]
        times.sort()
        out[label] = {
            "p50": statistics.median(times),
            "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
            "total": last["total"],
            "capped": last.get("total_capped"),
            "items": len(last["items"]),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated row counts")
    parser.add_argument("--requests", type=int, default=300, help="requests per query type")
    parser.add_argument("--workdir", default=None, help="where the database files go")
    parser.add_argument("--keep", action="store_true", help="keep the database files")
    parser.add_argument(
        "--hidden",
        type=int,
        default=0,
        help="then add this many private memories of others (containing 的) and measure again",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="memory_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)

    queries = {
        "q 1 char (的)": {"q": "的"},
        "all (newest)": {},
        "tag=新能源": {"tag": "新能源"},
        "tag (mid-frequency)": {},
        "participant": {"participant": "agent_00042"},
        "q 2 chars (电池)": {"q": "电池"},
        "q 4 chars (市场份额)": {"q": "市场份额"},
        "q 1 char (能)": {"q": "能"},
        "q mixed (EV销量)": {"q": "EV销量"},
    }
    results: dict[int, dict[str, Any]] = {}
    hidden: dict[int, dict[str, Any]] = {}
    for size in sizes:
        db_path = workdir / f"memory_{size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db_path}"
        print(f"\n== {size:,} memories -> {db_path}", flush=True)
        t0 = time.monotonic()
        corpus = bulk_load(url, size)
        load_s = time.monotonic() - t0
        queries["tag (mid-frequency)"] = {"tag": corpus.tags[40]}
        size_mb = db_path.stat().st_size / 1e6
        print(f"  load: {load_s:,.0f} s, file {size_mb:,.0f} MB", flush=True)
        proc, base = start_server(url, workdir)
        try:
            results[size] = measure(base, queries, args.requests)
            results[size]["_load_s"] = load_s
        finally:
            stop(proc)
        if args.hidden:
            add_hidden(url, corpus, args.hidden, tag="新能源")
            proc, base = start_server(url, workdir)
            try:
                hidden[size] = measure(base, queries, args.requests)
            finally:
                stop(proc)
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)

    print("\nGET /v1/memory latency, ms (sequential, keep-alive, one server process)")
    header = f"{'query':<26}" + "".join(f"{f'{s:,} p50':>14}{f'{s:,} p99':>14}" for s in sizes)
    if len(sizes) > 1:
        header += f"{'p50 ratio':>11}{'p99 ratio':>11}"
    print(header)
    for label in queries:
        line = f"{label:<26}"
        for s in sizes:
            line += f"{results[s][label]['p50']:>14.2f}{results[s][label]['p99']:>14.2f}"
        if len(sizes) > 1:
            lo, hi = results[sizes[0]][label], results[sizes[-1]][label]
            line += f"{hi['p50'] / lo['p50']:>11.2f}{hi['p99'] / lo['p99']:>11.2f}"
        print(line)
    print("\nmatches (total, capped at 10,000):")
    for label in queries:
        print(f"  {label:<26}" + "".join(f"{results[s][label]['total']:>10,}" for s in sizes))
    if hidden:
        print(
            f"\nwith {args.hidden:,} private memories of others added (all containing 的,"
            " tagged 新能源; the measuring agent sees none of them), ms"
        )
        print(
            f"{'query':<26}{'size':>10}{'p50 before':>12}{'p50 after':>12}{'ratio':>8}"
            f"{'p99 before':>12}{'p99 after':>12}"
        )
        for size in sizes:
            for label in queries:
                a, b = results[size][label], hidden[size][label]
                assert a["total"] == b["total"], (label, a["total"], b["total"])
                print(
                    f"{label:<26}{size:>10,}{a['p50']:>12.2f}{b['p50']:>12.2f}"
                    f"{b['p50'] / a['p50']:>8.2f}{a['p99']:>12.2f}{b['p99']:>12.2f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
