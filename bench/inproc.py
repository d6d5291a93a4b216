"""Per-request cost in process: each endpoint's WSGI call against the ceiling app's.

    python bench/inproc.py --db bench/.data/aipod_10000.db [--n 3000] [--profile NAME]

No sockets, no server, one thread: the application's `wsgi_app` is called with a prebuilt
WSGI environ and its body consumed, N times per endpoint, on a scratch copy of a dataset
made by `bench/load.py`. Prints CPU microseconds per request and the ratio of the ceiling's
cost to the endpoint's (the throughput ratio a server would show if the server, the GIL
and the load generator cost nothing). Quick and quiet enough to compare changes one at a
time; `bench/run.py` remains the measurement of record. `--profile NAME` runs cProfile on
the endpoints whose name contains NAME and prints the top functions. `--reference` also
times `bench/reference_app.py` (the Flask-SQLAlchemy reference) on the read routes it
serves, with the same requests on the same scratch file, and prints the API's advantage
(reference µs / API µs: issue 18's "× reference", in CPU time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

Call = Callable[[], None]


def _consume(app: Any, environ_factory: Callable[[], dict[str, Any]]) -> Call:
    def call() -> None:
        status: list[str] = []

        def start_response(s: str, _headers: Any, _exc: Any = None) -> None:
            status.append(s)

        body: Iterable[bytes] = app(environ_factory(), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close:
            close()
        if not status[0].startswith("2"):  # a replay repeats the stored 201
            raise RuntimeError(f"unexpected status {status[0]}")

    return call


def _environ(
    method: str, path: str, *, key: str | None = None, body: str | None = None
) -> Callable[[], dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    builder = EnvironBuilder(
        path=path.split("?")[0],
        query_string=path.split("?")[1] if "?" in path else None,
        method=method,
        headers=headers,
        data=body,
        content_type="application/json" if body else None,
    )
    base = builder.get_environ()
    raw = body.encode() if body else b""

    def make() -> dict[str, Any]:
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(raw)
        return env

    return make


def timed(call: Call, n: int) -> float:
    """Best of three runs of n calls, in CPU time of this thread: other processes on a
    shared machine take wall-clock time, much less of this thread's CPU time."""
    for _ in range(min(200, n)):
        call()
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        for _ in range(n):
            call()
        best = min(best, (time.thread_time() - t0) / n)
    return best * 1e6


def tail(call: Call, n: int) -> tuple[float, float]:
    """p50 and p99 of n calls' CPU µs each (this thread's CPU time per call): a cost that
    grows with the data shows in these at the larger size, machine load much less."""
    for _ in range(min(200, n)):
        call()
    each = []
    for _ in range(n):
        t0 = time.thread_time()
        call()
        each.append(time.thread_time() - t0)
    each.sort()
    return each[len(each) // 2] * 1e6, each[min(len(each) - 1, int(len(each) * 0.99))] * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--profile", help="cProfile the endpoints whose name contains this")
    p.add_argument("--only", help="comma-separated substrings of endpoint names")
    p.add_argument(
        "--profile-out",
        type=Path,
        help="with --profile: also write the raw cProfile stats here (NAME.prof per endpoint"
        " when several match), for bench/profdiff.py",
    )
    p.add_argument(
        "--callers",
        type=int,
        default=63,
        help="reads rotate over this many callers' keys, as bench/run.py's load does (63)",
    )
    p.add_argument("--exact", action="store_true", help="--only names endpoints exactly")
    p.add_argument(
        "--tail",
        action="store_true",
        help="also print p50/p99 of each call's CPU µs (per-call thread time)",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="also time bench/reference_app.py on the read routes it serves",
    )
    p.add_argument(
        "--bare",
        action="store_true",
        help="call each endpoint N times and nothing else: no ceiling, no timing (for"
        " counting instructions under valgrind, bench/icount.py)",
    )
    args = p.parse_args()

    meta = json.loads(Path(str(args.db) + ".json").read_text())
    scratch = Path(tempfile.mkdtemp(prefix="aipod-inproc-"))
    db = scratch / "bench.db"
    shutil.copyfile(args.db, db)
    os.environ.update(
        AIPOD_DATABASE_URL=f"sqlite:///{db}",
        AIPOD_DEMO="false",
        AIPOD_RATE_LIMIT="100000000/minute",
        AIPOD_LOG_LEVEL="WARNING",
    )
    if args.bare:
        # No background threads (WAL checkpoint, sweep, webhook worker, ...): their work
        # depends on the wall-clock time the run takes, and would be counted.
        # And the clocks stopped: rate windows, key-cache expiry and key-use refreshes
        # then happen the same number of times however slowly valgrind runs.
        import threading

        threading.Thread.start = lambda self: None  # type: ignore[method-assign]
        wall, mono = time.time(), time.monotonic()
        time.time = lambda: wall
        time.monotonic = lambda: mono
    from ceiling_app import app as ceiling_app

    ref_wsgi: Any = None
    if args.reference and not args.bare:
        os.environ["REFERENCE_DATABASE_URL"] = f"sqlite:///{db}"
        from reference_app import app as reference_app

        ref_wsgi = reference_app.wsgi_app

    from aipod_api.app import create_app
    from aipod_api.settings import Settings

    app = create_app(Settings())
    wsgi = app.wsgi_app
    users = meta["users"]
    key = users[0]["key"]
    cap = urllib.parse.quote(meta["capability"])
    tag = urllib.parse.quote(meta["tag"])
    n_agents = meta["agents"]
    agent_ids = [f"agent_{i:07d}" for i in range(1, n_agents + 1, max(1, n_agents // 997))]
    callers = [u["key"] for u in users[: max(1, min(args.callers, len(users) - 1))]]
    agent_envs = [
        _environ("GET", f"/v1/agents/{aid}", key=callers[i % len(callers)])
        for i, aid in enumerate(agent_ids)
    ]
    it = iter(range(10**12))

    def rotating_agent() -> dict[str, Any]:
        return agent_envs[next(it) % len(agent_envs)]()

    def read(path: str) -> Callable[[], dict[str, Any]]:
        """The same read by each caller in turn."""
        makers = [_environ("GET", path, key=k) for k in callers]
        turn = iter(range(10**12))
        return lambda: makers[next(turn) % len(makers)]()

    endpoints: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("GET /v1/status", read("/v1/status")),
        ("GET /v1/agents/{id}", rotating_agent),
        ("GET /v1/agents?capability=", read(f"/v1/agents?capability={cap}")),
        ("GET /v1/tasks?status=open", read("/v1/tasks?status=open")),
        ("GET /v1/wallet", read("/v1/wallet")),
        ("GET /v1/memory?tag=", read(f"/v1/memory?tag={tag}")),
        (
            "POST /v1/tasks",
            _environ(
                "POST",
                "/v1/tasks",
                key=key,
                body=json.dumps({"title": "bench", "description": "load", "budget": 0.01}),
            ),
        ),
    ]
    publish = _environ("POST", "/v1/tasks", key=key, body=json.dumps(
        {"title": "bench", "description": "load", "budget": 0.01}))  # fmt: skip
    serial = iter(range(10**12))

    def with_key(make: Callable[[], dict[str, Any]], value: Callable[[], str]) -> Any:
        def env() -> dict[str, Any]:
            e = make()
            e["HTTP_IDEMPOTENCY_KEY"] = value()
            return e

        return env

    endpoints += [
        # a new key per request: claim, store with the commit
        ("POST /v1/tasks +Idem-Key", with_key(publish, lambda: f"inproc-{next(serial)}")),
        # the same key every time: answered from the store after the first
        ("POST /v1/tasks replayed", with_key(publish, lambda: "inproc-replay")),
    ]
    # accept, then complete, the next task of the pool (bench/load.py); one call is two
    # requests, so its µs are per pair.
    worker = users[1]["key"]
    pool = iter(range(meta["cycle_first_seq"], meta["cycle_first_seq"] + meta["cycle_pool"]))
    done = json.dumps({"deliverables": {"report": "ok"}})

    def cycle(keyed: bool) -> Callable[[], dict[str, Any]]:
        pending: list[dict[str, Any]] = []

        def env() -> dict[str, Any]:
            if pending:
                return pending.pop()
            task = f"task_{next(pool):03d}"
            accept = _environ("PUT", f"/v1/tasks/{task}/accept", key=worker)()
            complete = _environ("PUT", f"/v1/tasks/{task}/complete", key=worker, body=done)()
            if keyed:
                accept["HTTP_IDEMPOTENCY_KEY"] = f"inproc-a-{task}"
                complete["HTTP_IDEMPOTENCY_KEY"] = f"inproc-c-{task}"
            pending.append(complete)
            return accept

        return env

    endpoints += [
        ("PUT accept+complete", cycle(False)),
        ("PUT accept+complete +Idem-Key", cycle(True)),
    ]
    if args.only:
        wanted = args.only.split(",")
        endpoints = [
            e for e in endpoints if any(w == e[0] if args.exact else w in e[0] for w in wanted)
        ]

    ref_routes = {
        "GET /v1/agents/{id}",
        "GET /v1/agents?capability=",
        "GET /v1/tasks?status=open",
        "GET /v1/wallet",
    }
    print(
        f"{'endpoint':32} {'bytes':>6} {'µs/req':>8} {'ceiling µs':>10} {'ratio':>6}"
        + (f" {'p50 µs':>8} {'p99 µs':>8}" if args.tail else "")
        + (f" {'reference µs':>12} {'× ref':>6}" if ref_wsgi else "")
    )
    for name, env in endpoints:
        captured: list[bytes] = []

        def sr(_s: str, _h: Any, _e: Any = None) -> None:
            pass

        for chunk in wsgi(env(), sr):
            captured.append(chunk)
        size = len(b"".join(captured))
        if args.bare:
            # Warm up (every caller's key cached, every statement prepared), then the
            # measured calls between two markers: `bench/icount.py` has valgrind dump its
            # counts at each call of getppid().
            call = _consume(wsgi, env)
            for _ in range(min(200, args.n)):
                call()
            os.getppid()
            for _ in range(args.n):
                call()
            os.getppid()
            continue
        ceiling = _consume(ceiling_app.wsgi_app, _environ("GET", f"/?size={size}"))
        call = _consume(wsgi, env)
        c_us = timed(ceiling, args.n)
        us = timed(call, args.n)
        extra = ""
        if args.tail:
            p50, p99 = tail(call, args.n)
            extra += f" {p50:8.1f} {p99:8.1f}"
        if ref_wsgi is not None and name in ref_routes:
            r_us = timed(_consume(ref_wsgi, env), args.n)
            extra += f" {r_us:12.1f} {r_us / us:6.2f}"
        print(f"{name:32} {size:6d} {us:8.1f} {c_us:10.1f} {c_us / us:6.2f}{extra}")
        if args.profile and args.profile in name:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.n):
                call()
            prof.disable()
            if args.profile_out:
                slug = "".join(c if c.isalnum() else "_" for c in name).strip("_")
                target = args.profile_out
                if target.suffix != ".prof":
                    target.mkdir(parents=True, exist_ok=True)
                    target = target / f"{slug}.prof"
                prof.dump_stats(str(target))
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(
                os.environ.get("SORT", "tottime")
            ).print_stats(35)
            print(out.getvalue())
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
