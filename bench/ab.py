"""Two (or more) builds of the API side by side, interleaved, each against the ceiling.

    python bench/ab.py --variant before=/path/to/old/tree --variant after= \
        [--size 10000] [--rounds 5] [--duration 3] [--only GET]
    python bench/ab.py --variant full=";AIPOD_SQLITE_SYNCHRONOUS=FULL" \
        --variant normal=";AIPOD_SQLITE_SYNCHRONOUS=NORMAL" --only POST

A variant is `NAME=[PATH][;KEY=VALUE...]`: PATH is a source tree put first on
PYTHONPATH (empty: this tree), the KEY=VALUEs are extra environment for its server. Every
variant serves its own copy of the same `bench/load.py` dataset, started as
`bench/run.py` starts the API (`python -m aipod_api.server`, default threads, rate limit
raised); one ceiling (`bench/ceiling_app.py`, unchanged) serves them all, at each
variant's own response size (as `bench/run.py` pads it to the endpoint's: a build whose
answer grew is compared with a ceiling that sends as many bytes).

Why interleaved: on a shared machine the load of other jobs moves every figure by tens of
percent from one minute to the next. Here each round measures the ceiling and every
variant back to back (the order rotates per round), the ratio is taken within the round,
and the report gives the median ratio per variant and its change against the first
variant. `bench/run.py` stays the full measurement of record; this answers "did this
change cost anything" with less noise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import (  # noqa: E402  (bench/ is not a package)
    BENCH_RATE_LIMIT,
    CEILING_LUA,
    LUA,
    PY,
    Endpoint,
    _children,
    endpoints,
    ensure_wrk,
    free_port,
    probe,
    stop,
    wait_ready,
    wrk,
)


@dataclass
class Variant:
    name: str
    path: str
    env: dict[str, str] = field(default_factory=dict)
    base: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def parse(cls, spec: str) -> Variant:
        name, _, rest = spec.partition("=")
        path, *pairs = rest.split(";")
        env = dict(p.split("=", 1) for p in pairs if p)
        return cls(name=name, path=path, env=env)

    def environ(self) -> dict[str, str]:
        env = {**os.environ, "AIPOD_RATE_LIMIT": BENCH_RATE_LIMIT, "AIPOD_LOG_LEVEL": "WARNING"}
        if self.path:
            env["PYTHONPATH"] = os.pathsep.join(
                [self.path, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        env.update(self.env)
        return env


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process tree so far (the server and its workers)."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime
        stack.extend(_children(p))
    return total


STATUS = Endpoint("GET /v1/status", "read", "GET", "/v1/status")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", action="append", required=True, help="NAME=[PATH][;K=V...]")
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=3)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--only", help="comma-separated substrings of endpoint names")
    p.add_argument("--data-dir", type=Path, default=HERE / ".data")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    variants = [Variant.parse(v) for v in args.variant]
    wrk_bin = ensure_wrk()
    from aipod_api.settings import Settings

    threads = Settings(database_url="sqlite:///bench.db", threads=None).thread_count
    template = args.data_dir / f"aipod_{args.size}.db"
    meta_path = Path(str(template) + ".json")
    if not (template.exists() and meta_path.exists()):
        subprocess.run(
            [PY, str(HERE / "load.py"), "--size", str(args.size), "--out", str(template)],
            check=True,
        )
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    keys = [u["key"] for u in meta["users"]]
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    eps = [e for e in [STATUS, *endpoints(meta)] if not only or any(o in e.name for o in only)]
    segments = args.rounds + 1  # accept+complete: the warm-up and each round use their own tasks
    per_thread = (meta["cycle_pool"] - 1) // (segments * args.connections)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aipod-ab-") as tmp:
        scratch = Path(tmp)
        ceil_port = free_port()
        ceiling = subprocess.Popen(
            [PY, str(HERE / "ceiling_app.py"), "--port", str(ceil_port), "--workers", "1",
             "--threads", str(threads)],
            cwd=HERE,
        )  # fmt: skip
        try:
            for v in variants:
                db = scratch / f"{v.name}.db"
                shutil.copyfile(template, db)
                url = f"sqlite:///{db}"
                subprocess.run(
                    [PY, "-m", "aipod_api.server", "--migrate-only", "--no-demo",
                     "--database-url", url],
                    env=v.environ(), check=True, cwd=scratch,
                )  # fmt: skip
                port = free_port()
                v.base = f"http://127.0.0.1:{port}"
                v.proc = subprocess.Popen(
                    [PY, "-m", "aipod_api.server", "--port", str(port), "--database-url", url,
                     "--no-demo", "--workers", "1"],
                    env=v.environ(), cwd=scratch,
                )  # fmt: skip
            os.sync()
            ceil_base = f"http://127.0.0.1:{ceil_port}"
            wait_ready(ceil_base + "/?size=100", ceiling)
            for v in variants:
                assert v.proc is not None
                wait_ready(v.base + "/v1/status", v.proc)
            ceiling_script = scratch / "ceiling.lua"
            ceiling_script.write_text(CEILING_LUA)
            for ep in eps:
                # Each variant against the ceiling at its own response size, as bench/run.py
                # measures an endpoint: a build whose answer grew is compared with a
                # ceiling that sends as many bytes (one ceiling run per distinct size).
                sizes = {v.name: probe(v.base, ep, keys[-1], meta) for v in variants}
                scripts = []
                for seg in range(segments):
                    script = scratch / f"ep_{len(rows)}_{seg}.lua"
                    script.write_text(
                        LUA
                        % {
                            "keys": ", ".join(f'"{k}"' for k in keys[:-1]),
                            "method": ep.method,
                            "path": ep.path,
                            "body": json.dumps(ep.body) if ep.body else "nil",
                            "mode": ep.mode,
                            "idem": ep.idem,
                            "salt": f"{len(rows)}-{seg}-{time.time_ns()}",
                            "n_agents": args.size,
                            "cycle_first": meta["cycle_first_seq"]
                            + seg * per_thread * args.connections,
                            "cycle_per_thread": per_thread,
                        }
                    )
                    scripts.append(script)
                ceil_urls = {n: f"{ceil_base}/?size={size}" for n, size in sizes.items()}
                for url in set(ceil_urls.values()):
                    wrk(wrk_bin, url, ceiling_script, duration=1, connections=args.connections)
                for v in variants:
                    wrk(wrk_bin, v.base, scripts[0], duration=1, connections=args.connections)
                ratios: dict[str, list[float]] = {v.name: [] for v in variants}
                rps: dict[str, list[float]] = {v.name: [] for v in variants}
                cpu: dict[str, list[float]] = {v.name: [] for v in variants}
                ceiling_cpu: dict[str, list[float]] = {url: [] for url in ceil_urls.values()}
                for rnd in range(args.rounds):
                    shift = rnd % len(variants)
                    order = variants[shift:] + variants[:shift]
                    c = {}
                    for url in dict.fromkeys(ceil_urls[v.name] for v in order):
                        cpu0 = cpu_seconds(ceiling.pid)
                        res = wrk(
                            wrk_bin, url, ceiling_script, duration=args.duration,
                            connections=args.connections,
                        )  # fmt: skip
                        c[url] = res["rps"]
                        ceiling_cpu[url].append(
                            1e6 * (cpu_seconds(ceiling.pid) - cpu0) / max(1, res["requests"])
                        )
                    for v in order:
                        assert v.proc is not None
                        cpu0 = cpu_seconds(v.proc.pid)
                        res = wrk(
                            wrk_bin, v.base, scripts[rnd + 1], duration=args.duration,
                            connections=args.connections,
                        )  # fmt: skip
                        cpu[v.name].append(
                            1e6 * (cpu_seconds(v.proc.pid) - cpu0) / max(1, res["requests"])
                        )
                        r = res["rps"]
                        rps[v.name].append(r)
                        ratios[v.name].append(r / c[ceil_urls[v.name]])
                row = {
                    "endpoint": ep.name,
                    "bytes": sizes,
                    "ratio": {k: statistics.median(x) for k, x in ratios.items()},
                    "rps": {k: statistics.median(x) for k, x in rps.items()},
                    "cpu_us": {k: statistics.median(x) for k, x in cpu.items()},
                    # the ceiling's server CPU per request at each variant's size
                    "ceiling_cpu_us": {
                        n: statistics.median(ceiling_cpu[url]) for n, url in ceil_urls.items()
                    },
                    "all_ratios": ratios,
                    "all_cpu_us": cpu,
                }
                rows.append(row)
                first = variants[0].name
                shown = "  ".join(
                    f"{k} {row['rps'][k]:6.0f} ({row['ratio'][k]:.3f}, {row['cpu_us'][k]:.0f} µs)"
                    for k in row["ratio"]
                )
                change = "  ".join(
                    f"{k} {100 * (row['ratio'][k] / row['ratio'][first] - 1):+.1f}%"
                    for k in row["ratio"]
                    if k != first
                )
                print(f"  {ep.name:<28} {shown}   {change}", flush=True)
        finally:
            for v in variants:
                if v.proc is not None:
                    stop(v.proc)
            stop(ceiling)
    names = [v.name for v in variants]
    print(f"\n## bench/ab.py, {started}, {args.size:,} rows, {args.rounds} rounds x "
          f"{args.duration:g} s, wrk -t{args.connections} -c{args.connections}, "
          f"{threads} threads\n")  # fmt: skip
    print(
        "| endpoint | bytes | "
        + " | ".join(f"{n} req/s (ratio; range)" for n in names)
        + " | "
        + " | ".join(f"{n} CPU µs/req (ceiling's)" for n in names)
        + " | change of the ratio |"
    )
    print("|---|---:|" + "---:|" * (2 * len(names)) + "---:|")  # fmt: skip
    for row in rows:
        cells = " | ".join(
            f"{row['rps'][n]:.0f} ({row['ratio'][n]:.3f}; "
            f"{min(row['all_ratios'][n]):.3f}–{max(row['all_ratios'][n]):.3f})"
            for n in names
        )
        cpus = " | ".join(f"{row['cpu_us'][n]:.0f} ({row['ceiling_cpu_us'][n]:.0f})" for n in names)
        change = ", ".join(
            f"{n} {100 * (row['ratio'][n] / row['ratio'][names[0]] - 1):+.1f}%" for n in names[1:]
        )
        sizes = " / ".join(str(row["bytes"][n]) for n in names)
        print(f"| {row['endpoint']} | {sizes} | {cells} | {cpus} | {change} |")
    if args.json:
        args.json.write_text(json.dumps({"started": started, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
