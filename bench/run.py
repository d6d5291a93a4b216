"""The benchmark: one command, every endpoint, ratios to the ceiling, sizes side by side.

    python bench/run.py --sizes 10000,1000000 --duration 10

Per size: bulk-load the dataset once (`bench/load.py`, cached in `--data-dir`), copy it to
a scratch file, start the API exactly as users do (`python -m aipod_api.server`) and the
bare-Flask ceiling (`bench/ceiling_app.py`, granian with the same workers and threads),
and the Flask-SQLAlchemy reference (`bench/reference_app.py`, the read routes, on its own
copy of the dataset, granian with the same options), then for each endpoint: a warm-up,
the two ceilings at the endpoint's response size (a prebuilt orjson body, and the same
envelope through `flask.jsonify`, as a typical Flask route answers), the endpoint, and
the reference's route for it, each driven by wrk from a separate process (installed with
apt-get if missing). Prints requests/s, p50, p99, the ratio to each ceiling (issue 18's
targets are ratios to the `jsonify` one) and to the reference per endpoint, the p99 ratio
between the largest and smallest size, the API server's RSS after the load and the load
average around each size.

The reference needs Flask-SQLAlchemy: `pip install -e ".[bench]"` (or `--no-reference`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

# The API runs with the default limits except the per-key rate, raised so that the load
# generator's 64 callers are not refused: the limit is still checked on every request.
BENCH_RATE_LIMIT = "1000000/minute"


@dataclass
class Endpoint:
    name: str
    kind: str  # "read" | "write"
    method: str
    path: str  # may contain {agent} (a random agent id)
    body: str | None = None
    mode: str = "rotate"  # rotate keys per request | "cycle"
    # Idempotency-Key on every request: "" none, "unique" a new key per request (the cost
    # of claiming and storing), "replay" one key per caller (every request after the
    # first is answered from the store).
    idem: str = ""
    reference: bool = False  # bench/reference_app.py serves the same route


PUBLISH_BODY = json.dumps({"title": "bench task", "description": "load", "budget": 0.01})


def endpoints(meta: dict[str, Any], *, idempotency: bool = False) -> list[Endpoint]:
    cap = urllib.parse.quote(meta["capability"])
    tag = urllib.parse.quote(meta["tag"])
    eps = [
        Endpoint("GET /v1/agents/{id}", "read", "GET", "/v1/agents/{agent}", reference=True),
        Endpoint("GET /v1/agents?capability=", "read", "GET", f"/v1/agents?capability={cap}",
                 reference=True),
        Endpoint("GET /v1/tasks?status=open", "read", "GET", "/v1/tasks?status=open",
                 reference=True),
        Endpoint("GET /v1/wallet", "read", "GET", "/v1/wallet", reference=True),
        Endpoint("GET /v1/memory?tag=", "read", "GET", f"/v1/memory?tag={tag}"),
        Endpoint("POST /v1/tasks", "write", "POST", "/v1/tasks", body=PUBLISH_BODY),
        Endpoint("PUT accept+complete", "write", "PUT", "", mode="cycle"),
    ]  # fmt: skip
    if idempotency:
        eps += [
            Endpoint("POST /v1/tasks +Idem-Key", "write", "POST", "/v1/tasks",
                     body=PUBLISH_BODY, idem="unique"),
            Endpoint("POST /v1/tasks replayed", "write", "POST", "/v1/tasks",
                     body=PUBLISH_BODY, idem="replay"),
            Endpoint("PUT accept+complete +Idem-Key", "write", "PUT", "", mode="cycle",
                     idem="unique"),
        ]  # fmt: skip
    return eps


LUA = r"""
local keys = {%(keys)s}
local method = "%(method)s"
local path = "%(path)s"
local body = %(body)s
local mode = "%(mode)s"
local n_agents = %(n_agents)d
local cycle_first = %(cycle_first)d
local cycle_per_thread = %(cycle_per_thread)d
local idem = "%(idem)s"
local salt = "%(salt)s"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  math.randomseed(os.time() + tid * 7919)
end

local function headers(key)
  local h = {}
  h["Authorization"] = "Bearer " .. key
  h["Content-Type"] = "application/json"
  if idem == "unique" then
    h["Idempotency-Key"] = salt .. "-" .. tid .. "-" .. counter
  elseif idem == "replay" then
    h["Idempotency-Key"] = "replay-" .. salt
  end
  return h
end

function request()
  counter = counter + 1
  if mode == "cycle" then
    local i = math.floor((counter - 1) / 2)
    local seq = cycle_first + tid * cycle_per_thread + i
    local key = keys[(tid %% #keys) + 1]
    local id = string.format("task_%%03d", seq)
    if counter %% 2 == 1 then
      return wrk.format("PUT", "/v1/tasks/" .. id .. "/accept", headers(key), nil)
    end
    return wrk.format("PUT", "/v1/tasks/" .. id .. "/complete", headers(key),
      '{"deliverables": {"report": "ok"}}')
  end
  local key = keys[((counter + tid * 7) %% #keys) + 1]
  local p = path
  if string.find(p, "{agent}", 1, true) then
    p = string.gsub(p, "{agent}", string.format("agent_%%07d", math.random(n_agents)))
  end
  return wrk.format(method, p, headers(key), body)
end

local reported = 0
function response(status, headers, body)
  -- the first few refusals, for the report (stderr; the summary stays on stdout)
  if status >= 400 and reported < 3 then
    reported = reported + 1
    io.stderr:write(string.format("HTTP %%d %%s\n", status, string.sub(body, 1, 200)))
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"status_errors": %%d, "socket_errors": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

CEILING_LUA = r"""
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing Debian's package (apt-get install -y wrk)", flush=True)
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "apt-get"]
    subprocess.run([*apt, "update", "-qq"], check=True)
    subprocess.run([*apt, "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("could not install wrk")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready: {url}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(c) for c in text)
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> dict[str, float]:
    """RSS of a process tree: the main process and each descendant (MB)."""

    def one(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    tree = {f"main:{pid}": one(pid)}
    stack = _children(pid)
    while stack:
        c = stack.pop()
        tree[f"worker:{c}"] = one(c)
        stack.extend(_children(c))
    return tree


def wrk(
    wrk_bin: str, url: str, script: Path, *, duration: float, connections: int
) -> dict[str, Any]:
    cmd = [
        wrk_bin,
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = proc.stdout
    for refusal in [x for x in proc.stderr.splitlines() if x.startswith("HTTP ")][:3]:
        print(f"    {refusal}", flush=True)
    line = [x for x in out.splitlines() if x.startswith("{")][-1]
    r: dict[str, Any] = json.loads(line)
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def probe(base: str, ep: Endpoint, key: str, meta: dict[str, Any], cycle_index: int = 0) -> int:
    """One request with urllib: checks it succeeds, returns the response size in bytes."""
    return len(probe_body(base, ep, key, meta, cycle_index))


def probe_body(
    base: str, ep: Endpoint, key: str, meta: dict[str, Any], cycle_index: int = 0
) -> bytes:
    path = ep.path.replace("{agent}", "agent_0000042")
    method, body = ep.method, ep.body
    if ep.mode == "cycle":  # accept one pool task that the load will not use
        seq = meta["cycle_first_seq"] + meta["cycle_pool"] - 1 - cycle_index
        path, method, body = f"/v1/tasks/task_{seq:03d}/accept", "PUT", None
    req = urllib.request.Request(
        base + path,
        method=method,
        data=body.encode() if body else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body: bytes = resp.read()
        return body


def same_data(api_body: bytes, ref_body: bytes) -> str:
    """'' when the two answers' `data` are equal, else what differs (for the report)."""
    a, b = json.loads(api_body)["data"], json.loads(ref_body)["data"]
    if a == b:
        return ""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        return "data differs in: " + ", ".join(keys)
    return "data differs"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def require_reference_deps() -> None:
    try:
        import flask_sqlalchemy  # noqa: F401
    except ImportError:
        raise SystemExit(
            'bench/reference_app.py needs Flask-SQLAlchemy: pip install -e ".[bench]" '
            "(or run with --no-reference)"
        ) from None


SizeResult = tuple[list[dict[str, Any]], dict[str, float], dict[str, Any]]


def run_size(
    n: int, args: argparse.Namespace, wrk_bin: str, scratch: Path
) -> Generator[None, None, SizeResult]:
    """One size: load, start the servers, then one endpoint per step. A generator: it
    pauses before each endpoint, so that `main` can measure the sizes one after the other
    or (`--interleave-sizes`) endpoint by endpoint, every size back to back."""
    data_dir: Path = args.data_dir
    template = data_dir / f"aipod_{n}.db"
    meta_path = Path(str(template) + ".json")
    meta: dict[str, Any] | None = None
    if template.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
    from load import LOADER_VERSION  # bench/ is on sys.path when run as a script

    if args.reload or meta is None or meta.get("loader_version") != LOADER_VERSION:
        print(f"\n== loading {n:,} rows (bench/load.py) ==", flush=True)
        subprocess.run(
            [PY, str(HERE / "load.py"), "--size", str(n), "--out", str(template)], check=True
        )
        meta = json.loads(meta_path.read_text())
    # Bring a cached dataset to the current schema once (a no-op when it is), so a new
    # migration's backfill is not paid again on every server start below.
    subprocess.run([PY, "-m", "aipod_api.server", "--migrate-only", "--no-demo",
                    "--database-url", f"sqlite:///{template}"], check=True)  # fmt: skip
    work = scratch / f"work_{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, work)
    # The reference reads its own copy: the API's write endpoints do not touch it, and
    # neither server waits on the other's locks or checkpoints.
    ref_work = scratch / f"ref_{n}.db"
    if args.reference:
        for suffix in ("", "-wal", "-shm"):
            Path(str(ref_work) + suffix).unlink(missing_ok=True)
        shutil.copyfile(template, ref_work)
    os.sync()  # no write-back of the fresh copy's dirty pages during the measurements

    api_port, ceil_port, ref_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "AIPOD_RATE_LIMIT": BENCH_RATE_LIMIT,
        "AIPOD_LOG_LEVEL": "WARNING",
    }
    api_cmd = [
        PY, "-m", "aipod_api.server", "--port", str(api_port),
        "--database-url", f"sqlite:///{work}", "--no-demo",
        "--workers", str(args.workers),
    ]  # fmt: skip
    if args.api_threads is not None:
        api_cmd += ["--threads", str(args.api_threads)]
    if args.redis_url:
        api_cmd += ["--redis-url", args.redis_url]
    ceil_cmd = [
        PY, str(HERE / "ceiling_app.py"), "--port", str(ceil_port),
        "--workers", str(args.workers), "--threads", str(args.threads),
    ]  # fmt: skip
    ref_cmd = [
        PY, str(HERE / "reference_app.py"), "--port", str(ref_port),
        "--database-url", f"sqlite:///{ref_work}",
        "--workers", str(args.workers), "--threads", str(args.threads),
    ]  # fmt: skip
    started_load = loadavg()
    print(f"\n== size {n:,}: {' '.join(api_cmd[1:])} (load average {started_load}) ==",
          flush=True)  # fmt: skip
    api = subprocess.Popen(api_cmd, env=env, cwd=scratch)
    ceiling = subprocess.Popen(ceil_cmd, env=env, cwd=HERE)
    reference = subprocess.Popen(ref_cmd, env=env, cwd=HERE) if args.reference else None
    results: list[dict[str, Any]] = []
    try:
        api_base = f"http://127.0.0.1:{api_port}"
        ceil_base = f"http://127.0.0.1:{ceil_port}"
        ref_base = f"http://127.0.0.1:{ref_port}"
        wait_ready(api_base + "/v1/status", api)
        wait_ready(ceil_base + "/?size=100", ceiling)
        keys = [u["key"] for u in meta["users"]]
        if reference is not None:
            ref_probe = Endpoint("probe", "read", "GET", "/v1/wallet")
            deadline = time.monotonic() + 120
            while True:  # its readiness: an authenticated read answered
                if reference.poll() is not None:
                    raise SystemExit(f"reference exited with {reference.returncode}")
                try:
                    probe(ref_base, ref_probe, keys[-1], meta)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("reference not ready") from None
                    time.sleep(0.2)
        users = len(keys)
        cycle_runs = 2  # warm-up and measurement use separate parts of the pool
        only = {s.strip() for s in args.only.split(",")} if args.only else None
        selected = [
            ep
            for ep in endpoints(meta, idempotency=args.idempotency)
            if not only or any(o in ep.name for o in only)
        ]
        # Every cycle endpoint gets its own slices of the task pool (3 runs each).
        n_cycle = max(1, sum(1 for ep in selected if ep.mode == "cycle"))
        per_thread = (meta["cycle_pool"] - n_cycle) // (cycle_runs * n_cycle * args.connections)
        cycle_index = 0
        ceiling_script = scratch / "ceiling.lua"
        ceiling_script.write_text(CEILING_LUA)
        for ep in selected:
            yield  # the caller decides when this size measures its next endpoint
            try:
                api_body = probe_body(api_base, ep, keys[-1], meta, cycle_index)
                size = len(api_body)
            except Exception as exc:  # e.g. an endpoint that does not exist yet
                print(f"  {n:>9,} {ep.name:<28} skipped: {exc}", flush=True)
                results.append({"endpoint": ep.name, "kind": ep.kind, "skipped": str(exc)})
                continue
            with_ref = reference is not None and ep.reference
            differs = ""
            if with_ref:  # the same answer, or the comparison says so
                differs = same_data(api_body, probe_body(ref_base, ep, keys[-1], meta))
                if differs:
                    print(f"  {n:>9,} {ep.name:<28} reference: {differs}", flush=True)
            scripts = []
            first_part = cycle_index * cycle_runs
            if ep.mode == "cycle":
                cycle_index += 1
            for run in range(cycle_runs):
                script = scratch / f"ep_{len(results)}_{run}.lua"
                script.write_text(
                    LUA
                    % {
                        "keys": ", ".join(f'"{k}"' for k in keys[: users - 1]),
                        "method": ep.method,
                        "path": ep.path,
                        "body": json.dumps(ep.body) if ep.body else "nil",
                        "mode": ep.mode,
                        "n_agents": n,
                        "cycle_first": meta["cycle_first_seq"]
                        + (first_part + run) * per_thread * args.connections,
                        "cycle_per_thread": per_thread,
                        "idem": ep.idem,
                        # unique keys must not repeat across runs (nor servers' restarts);
                        # a replayed key is the same in warm-up and measurement
                        "salt": f"{len(results)}"
                        if ep.idem == "replay"
                        else f"{len(results)}-{run}-{time.time_ns()}",
                    }
                )
                scripts.append(script)
            ceil_url = f"{ceil_base}/?size={size}"
            # warm-up (both servers), then ceiling and endpoint back to back
            wrk(wrk_bin, ceil_url, ceiling_script, duration=1, connections=args.connections)
            wrk(wrk_bin, api_base, scripts[0], duration=args.warmup, connections=args.connections)
            c = wrk(
                wrk_bin, ceil_url, ceiling_script, duration=args.duration,
                connections=args.connections,
            )  # fmt: skip
            cj = wrk(
                wrk_bin, f"{ceil_base}/jsonify?size={size}", ceiling_script,
                duration=args.duration, connections=args.connections,
            )  # fmt: skip
            r = wrk(
                wrk_bin, api_base, scripts[1], duration=args.duration,
                connections=args.connections,
            )  # fmt: skip
            ref: dict[str, Any] | None = None
            if with_ref:  # read routes: the same scripts, on the reference
                wrk(wrk_bin, ref_base, scripts[0], duration=args.warmup,
                    connections=args.connections)  # fmt: skip
                ref = wrk(
                    wrk_bin, ref_base, scripts[1], duration=args.duration,
                    connections=args.connections,
                )  # fmt: skip
            row = {
                "endpoint": ep.name,
                "kind": ep.kind,
                "bytes": size,
                "rps": r["rps"],
                "p50_ms": r["p50_us"] / 1000,
                "p99_ms": r["p99_us"] / 1000,
                "errors": r["status_errors"] + r["socket_errors"],
                "ceiling_rps": c["rps"],
                "ceiling_p99_ms": c["p99_us"] / 1000,
                "ratio": r["rps"] / c["rps"],
                "jsonify_rps": cj["rps"],
                "ratio_jsonify": r["rps"] / cj["rps"],
                "load": loadavg(),
            }
            if ref is not None:
                row.update(
                    reference_rps=ref["rps"],
                    reference_p50_ms=ref["p50_us"] / 1000,
                    reference_p99_ms=ref["p99_us"] / 1000,
                    reference_errors=ref["status_errors"] + ref["socket_errors"],
                    ratio_reference=r["rps"] / ref["rps"],
                    reference_same_data=not differs,
                )
            results.append(row)
            print(
                f"  {n:>9,} {ep.name:<28} {row['rps']:8.0f} req/s  p50 {row['p50_ms']:6.2f} ms  "
                f"p99 {row['p99_ms']:6.2f} ms  ceiling {row['ceiling_rps']:7.0f}  "
                f"ratio {row['ratio']:.2f}  jsonify {row['jsonify_rps']:7.0f}  "
                f"ratio {row['ratio_jsonify']:.2f}  errors {row['errors']}",
                flush=True,
            )
            if ref is not None:
                print(
                    f"  {n:>9,} {'  reference':<28} {row['reference_rps']:8.0f} req/s  "
                    f"p50 {row['reference_p50_ms']:6.2f} ms  "
                    f"p99 {row['reference_p99_ms']:6.2f} ms  "
                    f"API x {row['ratio_reference']:.2f}  errors {row['reference_errors']}",
                    flush=True,
                )
        rss = rss_mb(api.pid)
        ref_rss = rss_mb(reference.pid) if reference is not None else {}
    finally:
        stop(api)
        stop(ceiling)
        if reference is not None:
            stop(reference)
        for suffix in ("", "-wal", "-shm"):
            Path(str(work) + suffix).unlink(missing_ok=True)
            Path(str(ref_work) + suffix).unlink(missing_ok=True)
    info = {"load_before": started_load, "load_after": loadavg(), "reference_rss": ref_rss}
    return results, rss, {**meta, **info}


def jsonify_target(row: dict[str, Any]) -> float:
    """Issue 18's targets, as ratios to the bare-Flask `jsonify` route."""
    if row["kind"] != "read":
        return 0.25
    return 0.45 if row["endpoint"] == "GET /v1/tasks?status=open" else 0.6


REFERENCE_TARGET = 3.0  # issue 18: still ≥ 3x the Flask-SQLAlchemy reference


def table(n: int, rows: list[dict[str, Any]], rss: dict[str, float], meta: dict[str, Any]) -> str:
    out = [
        f"### {n:,} rows (agents {meta['agents']:,}, tasks {meta['tasks']:,}, "
        f"transactions {meta['transactions']:,}, memories {meta['memories']:,})",
        "",
        f"Load average (1, 5, 15 min): {meta['load_before']} before, {meta['load_after']} "
        "after; per endpoint, at the end of its measurements, in the last column.",
        "",
        "| endpoint | bytes | req/s | p50 ms | p99 ms | ceiling req/s | ratio "
        "| jsonify req/s | ratio | target (of jsonify) | reference req/s | reference p99 ms "
        "| × reference (≥3) | errors | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['endpoint']} | | skipped | | | | | | | | | | | | |")
            continue
        target = jsonify_target(r)
        mark = "ok" if r["ratio_jsonify"] >= target else "below"
        if "reference_rps" in r:
            ref_mark = "ok" if r["ratio_reference"] >= REFERENCE_TARGET else "below"
            if not r["reference_same_data"]:
                ref_mark += ", data differs"
            ref = (
                f"{r['reference_rps']:.0f} | {r['reference_p99_ms']:.2f} | "
                f"{r['ratio_reference']:.2f} {ref_mark}"
            )
        else:
            ref = "| |"
        out.append(
            f"| {r['endpoint']} | {r['bytes']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['ceiling_rps']:.0f} | {r['ratio']:.2f} | "
            f"{r['jsonify_rps']:.0f} | {r['ratio_jsonify']:.2f} | ≥{target:.2f} {mark} | "
            f"{ref} | {r['errors']} | {r['load']} |"
        )
    workers = ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
    out += ["", f"API server RSS after the load (MB): {workers}"]
    if meta.get("reference_rss"):
        ref_workers = ", ".join(f"{k} {v:.0f}" for k, v in meta["reference_rss"].items())
        out.append(f"Reference server RSS (MB): {ref_workers}")
    out.append("")
    return "\n".join(out)


def drain(gen: Generator[None, None, SizeResult]) -> SizeResult:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def interleaved(
    sizes: list[int], args: argparse.Namespace, wrk_bin: str, scratch: Path
) -> dict[int, SizeResult]:
    """Every size's servers up at once; per endpoint, the sizes back to back (the first
    size of each endpoint rotating), so a p99 ratio between sizes is taken over minutes
    of the same machine noise rather than over separate runs."""
    gens = {n: run_size(n, args, wrk_bin, scratch) for n in sizes}
    done: dict[int, SizeResult] = {}
    try:
        for gen in gens.values():  # load, migrate, start: up to the first endpoint
            next(gen)
        turn = 0
        while len(done) < len(gens):
            live = [n for n in sizes if n not in done]
            order = live[turn % len(live) :] + live[: turn % len(live)]
            turn += 1
            for n in order:
                try:
                    next(gens[n])
                except StopIteration as stop:
                    done[n] = stop.value
    finally:
        for gen in gens.values():
            gen.close()  # stops the servers of a size interrupted by an error
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,1000000", help="comma-separated dataset sizes")
    p.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per endpoint")
    p.add_argument("--connections", type=int, default=8, help="wrk threads = connections")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--threads", type=int, help="threads per process (default: the server's own default)"
    )
    p.add_argument("--redis-url", help="pass to the API (needed for --workers > 1)")
    p.add_argument("--data-dir", type=Path, default=HERE / ".data")
    p.add_argument("--reload", action="store_true", help="rebuild the cached datasets")
    p.add_argument("--only", help="comma-separated substrings of endpoint names")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument(
        "--interleave-sizes",
        action="store_true",
        help="start every size's servers at once and measure each endpoint at every size "
        "back to back (p99 ratios between sizes under the same machine noise)",
    )
    p.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="do not start bench/reference_app.py (the Flask-SQLAlchemy reference)",
    )
    p.add_argument(
        "--idempotency",
        action="store_true",
        help="also run publish and accept+complete with an Idempotency-Key (a new one per "
        "request), and publish replayed from the store",
    )
    args = p.parse_args(argv)
    args.api_threads = args.threads
    if args.threads is None:
        # The API runs with its own defaults; the ceiling and the reference run with as many
        # threads as the API gives requests without a body (every read): on SQLite one.
        from aipod_api.settings import Settings

        args.threads = Settings(database_url="sqlite:///bench.db", threads=None).read_thread_count
    sys.path.insert(0, str(HERE))
    if args.reference:
        require_reference_deps()
    wrk_bin = ensure_wrk()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    nproc = os.cpu_count()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    all_rows: dict[int, list[dict[str, Any]]] = {}
    tables = []
    with tempfile.TemporaryDirectory(prefix="aipod-bench-") as tmp:
        if args.interleave_sizes:
            results = interleaved(sizes, args, wrk_bin, Path(tmp))
        else:
            results = {}
            for n in sizes:
                gen = run_size(n, args, wrk_bin, Path(tmp))
                results[n] = drain(gen)
        for n in sizes:
            rows, rss, meta = results[n]
            all_rows[n] = rows
            tables.append(table(n, rows, rss, meta))
    print(f"\n## aipod_api benchmark, {started}")
    print(
        f"\nMachine: {nproc} cores, {mem_gb:.1f} GiB. wrk -t{args.connections} "
        f"-c{args.connections}, {args.duration:g} s per measurement; API and ceiling on granian "
        f"with {args.workers} worker(s) x {args.threads} threads"
        + (", and so is the Flask-SQLAlchemy reference (bench/reference_app.py)" if args.reference
           else "")
        + ".\n"
    )  # fmt: skip
    print("\n".join(tables))
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        print(f"### p99 at {hi:,} / p99 at {lo:,} (target ≤ 1.5)\n")
        print("| endpoint | p99 small ms | p99 large ms | ratio | p50 ratio "
              "| reference p99 ratio | ceiling p99 ratio |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|")
        small = {r["endpoint"]: r for r in all_rows[lo] if "skipped" not in r}
        for r in all_rows[hi]:
            s = small.get(r["endpoint"])
            if s is None or "skipped" in r:
                continue
            ref = (
                f"{r['reference_p99_ms'] / s['reference_p99_ms']:.2f}"
                if "reference_p99_ms" in r and "reference_p99_ms" in s
                else ""
            )
            print(
                f"| {r['endpoint']} | {s['p99_ms']:.2f} | {r['p99_ms']:.2f} | "
                f"{r['p99_ms'] / s['p99_ms']:.2f} | {r['p50_ms'] / s['p50_ms']:.2f} | {ref} | "
                f"{r['ceiling_p99_ms'] / s['ceiling_p99_ms']:.2f} |"
            )
    if args.json:
        args.json.write_text(json.dumps({"started": started, "results": all_rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
