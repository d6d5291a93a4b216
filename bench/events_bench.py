"""Event streams: what 100 open streams cost the API's reads, and commit -> stream latency.

    python bench/events_bench.py [--streams 100] [--duration 10] [--database-url ...]
                                 [--redis-url ...] [--publishes 200] [--json out.json]

One server (`python -m aipod_api.server`, the default 2 threads on SQLite, demo off, rate
limits out of the way) and, side by side in one run, wrk on `GET /v1/agents/{id}` and
`GET /v1/wallet`:

- **A**: no stream open;
- **B**: `--streams` streams open (held by a separate process, spread over 20 agents,
  idle but for their heartbeats);
- **C**: the same streams while a task is published every `--interval` s — each publish
  is a discovery event for every agent, so it wakes every stream, and each reads;
- **A** again.

Reported: requests/s and p99 of each phase, the read ratio B / A and C / A (A = the mean
of both A runs), and the latency of each delivered event, per stream: from the publish's
answer to the event on the stream (the commit happened before the answer, so this is a
lower bound of commit -> stream) and from the publish's request (an upper bound), p50
and p99 over every (publish, stream) delivery.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LUA = r"""
local keys = {%(keys)s}
local paths = {%(paths)s}
local counter = 0
function request()
  counter = counter + 1
  local key = keys[(counter %% #keys) + 1]
  local p = paths[(counter %% #paths) + 1]
  return wrk.format("GET", p, {["Authorization"] = "Bearer " .. key})
end
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
"""


def _post(base: str, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["data"]


def _start_server(args: argparse.Namespace, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "AIPOD_DATABASE_URL": args.database_url or f"sqlite:///{workdir}/events.db",
            "AIPOD_PORT": str(port),
            "AIPOD_DEMO": "0",
            "AIPOD_LOG_LEVEL": "WARNING",
            "AIPOD_RATE_LIMIT": "100000000/minute",
            "AIPOD_REGISTER_LIMIT": "1000000/day",
            "AIPOD_MAX_CONCURRENCY": "100000",
            "AIPOD_EVENT_STREAMS_PER_AGENT": "1000",
        }
    )
    if args.redis_url:
        env["AIPOD_REDIS_URL"] = args.redis_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "aipod_api.server"],
        env=env,
        stdout=(workdir / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start:\n" + (workdir / "server.log").read_text())


def _wrk(base: str, script: Path, duration: float, connections: int) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r: dict[str, Any] = json.loads([x for x in out.splitlines() if x.startswith("{")][-1])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


# --- the stream holder (a separate process) --------------------------------------------


def hold(base: str, keys: list[str], streams: int, out: Path, ready: Path) -> None:
    """Open `streams` streams; record (task_id, arrival) of every task.published event."""
    sys.path.insert(0, str(ROOT / "tests"))
    from events.sse import SSE

    arrivals: list[tuple[str, float]] = []
    lock = threading.Lock()
    opened = [0]
    stop = threading.Event()

    def run(i: int) -> None:
        s = SSE(base, keys[i % len(keys)], params={"types": "task.published"}, timeout=60)
        if s.status != 200:
            raise SystemExit(f"stream {i}: HTTP {s.status} {s.body}")
        with lock:
            opened[0] += 1
        while not stop.is_set():
            try:
                msg = s.next()
            except (EOFError, OSError):
                return
            if msg.event == "task.published":
                now = time.monotonic()
                task_id = msg.json["data"]["task"]["task_id"]
                with lock:
                    arrivals.append((task_id, now))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    while opened[0] < streams:
        time.sleep(0.05)
    ready.write_text("ready")

    def finish(*_: Any) -> None:
        with lock:
            out.write_text(json.dumps(arrivals))
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    while True:
        time.sleep(1)


# --- the run ---------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--publishes", type=int, default=200)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--database-url")
    p.add_argument("--redis-url")
    p.add_argument("--port", type=int, default=5391)
    p.add_argument("--json")
    p.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--keys", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--ready", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.hold:
        keys = json.loads(Path(args.keys).read_text())
        hold(args.base, keys, args.streams, Path(args.out), Path(args.ready))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="aipod-events-bench-"))
    base = f"http://127.0.0.1:{args.port}"
    server = _start_server(args, args.port, workdir)
    holder: subprocess.Popen[bytes] | None = None
    try:
        keys = [
            _post(base, "/v1/auth/register", {"username": f"bench{i:02d}", "email": f"b{i}@x.io"})[
                "api_key"
            ]
            for i in range(20)
        ]
        publisher = _post(base, "/v1/auth/register", {"username": "publisher", "email": "p@x.io"})[
            "api_key"
        ]
        paths = ", ".join(f'"/v1/agents/bench{i:02d}"' for i in range(20)) + ', "/v1/wallet"'
        script = workdir / "reads.lua"
        script.write_text(LUA % {"keys": ", ".join(f'"{k}"' for k in keys), "paths": paths})
        (workdir / "keys.json").write_text(json.dumps(keys))
        _wrk(base, script, 2, args.connections)  # warm-up
        phases: dict[str, dict[str, Any]] = {}
        phases["A1"] = _wrk(base, script, args.duration, args.connections)
        ready = workdir / "ready"
        arrivals_file = workdir / "arrivals.json"
        holder = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--hold",
                "--base",
                base,
                "--keys",
                str(workdir / "keys.json"),
                "--streams",
                str(args.streams),
                "--out",
                str(arrivals_file),
                "--ready",
                str(ready),
            ],
            start_new_session=True,
        )
        while not ready.exists():
            if holder.poll() is not None:
                raise SystemExit("the stream holder failed")
            time.sleep(0.1)
        phases["B"] = _wrk(base, script, args.duration, args.connections)
        sent: dict[str, tuple[float, float]] = {}
        stop = threading.Event()

        def publish() -> None:
            for i in range(args.publishes):
                if stop.is_set():
                    return
                t0 = time.monotonic()
                task = _post(
                    base, "/v1/tasks", {"title": f"bench {i}", "budget": 0.01}, key=publisher
                )
                sent[task["task_id"]] = (t0, time.monotonic())
                time.sleep(args.interval)

        pub = threading.Thread(target=publish)
        pub.start()
        phases["C"] = _wrk(base, script, args.duration, args.connections)
        stop.set()
        pub.join()
        time.sleep(2)  # the last deliveries
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
        holder = None
        phases["A2"] = _wrk(base, script, args.duration, args.connections)
        arrivals = json.loads(arrivals_file.read_text())
        after_answer = [t - sent[tid][1] for tid, t in arrivals if tid in sent]
        after_request = [t - sent[tid][0] for tid, t in arrivals if tid in sent]
        expected = len(sent) * args.streams
        base_rps = statistics.mean([phases["A1"]["rps"], phases["A2"]["rps"]])
        report = {
            "streams": args.streams,
            "backend": (args.database_url or "sqlite").split(":")[0],
            "phases": {
                k: {"rps": round(v["rps"]), "p99_ms": v["p99_us"] / 1000, "errors": v["errors"]}
                for k, v in phases.items()
            },
            "read_ratio_idle_streams": round(phases["B"]["rps"] / base_rps, 3),
            "read_ratio_streams_with_events": round(phases["C"]["rps"] / base_rps, 3),
            "publishes": len(sent),
            "deliveries": len(after_answer),
            "deliveries_expected": expected,
            "latency_ms_after_answer": {
                "p50": round(_pct(after_answer, 50) * 1000, 1),
                "p99": round(_pct(after_answer, 99) * 1000, 1),
            },
            "latency_ms_after_request": {
                "p50": round(_pct(after_request, 50) * 1000, 1),
                "p99": round(_pct(after_request, 99) * 1000, 1),
            },
        }
        print(json.dumps(report, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    finally:
        if holder is not None:
            holder.kill()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
