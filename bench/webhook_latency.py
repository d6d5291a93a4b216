"""Event latency: commit -> webhook received, p50/p99, against a real server.

    python bench/webhook_latency.py [--events 300] [--burst 100] [--database-url URL]

Starts `python -m aipod_api.server` (SQLite by default, fresh file; `--database-url` for
PostgreSQL) with `AIPOD_WEBHOOK_ALLOW_PRIVATE=1`, a local receiver (a threaded HTTP
server verifying every signature with the SDK's `verify_webhook`) and one agent with one
webhook. Two runs:

1. **sequential**: publish a task (its commit writes `task.published` and
   `wallet.debited`), wait for the `task.published` delivery, repeat. Latency = receiver's
   arrival time − the moment the API's answer arrived (the commit precedes the answer,
   so this is a lower bound of commit -> received, never below 0 by more than the
   answer's transfer) and arrival − request sent (an upper bound). Both are printed.
2. **burst**: `--burst` publishes from 8 client threads at once; latency per event =
   arrival − its answer. Shows the queue draining (one delivery in flight per webhook,
   in order).

Nothing here is asserted: numbers only (tests/ make no timed assertions).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from aipod_api.sdk import verify_webhook


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: dict[str, float] = {}  # task_id -> arrival time
        self.bad = 0
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: Any) -> None:
                pass

            def do_POST(self) -> None:
                now = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = verify_webhook(body, dict(self.headers.items()), outer.secret)
                except Exception:
                    outer.bad += 1
                    event = None
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if event and event.get("type") == "task.published":
                    with outer.cond:
                        outer.arrivals.setdefault(event["data"]["task"]["task_id"], now)
                        outer.cond.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, task_id: str, timeout: float = 30) -> float:
        with self.cond:
            ok = self.cond.wait_for(lambda: task_id in self.arrivals, timeout)
        if not ok:
            raise TimeoutError(f"no delivery for {task_id}")
        return self.arrivals[task_id]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, values_ms: list[float]) -> None:
    print(
        f"{name:<44} n={len(values_ms):<4} p50={pct(values_ms, 0.5):7.2f} ms  "
        f"p99={pct(values_ms, 0.99):7.2f} ms  mean={statistics.fmean(values_ms):7.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aipod-wh-bench-"))
    db = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    port = free_port()
    env = {
        **os.environ,
        "AIPOD_DATABASE_URL": db,
        "AIPOD_PORT": str(port),
        "AIPOD_DEMO": "0",
        "AIPOD_LOG_LEVEL": "WARNING",
        "AIPOD_RATE_LIMIT": "1000000/minute",
        "AIPOD_MAX_CONCURRENCY": "1000",
        "AIPOD_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    if args.redis_url:
        env["AIPOD_REDIS_URL"] = args.redis_url
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aipod_api.server"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/v1/status", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit((tmp / "server.log").read_text())
            time.sleep(0.1)
        receiver = Receiver()
        s = requests.Session()
        r = s.post(
            f"{base}/v1/auth/register",
            json={"username": "benchhook", "email": "benchhook@example.com"},
        )
        key = r.json()["data"]["api_key"]
        s.headers["Authorization"] = f"Bearer {key}"
        hook = s.post(
            f"{base}/v1/webhooks", json={"url": receiver.url, "types": ["task.published"]}
        ).json()["data"]
        receiver.secret = hook["secret"]
        body = {"title": "bench", "budget": 0.01}

        def publish(session: requests.Session) -> tuple[str, float, float]:
            sent = time.perf_counter()
            resp = session.post(f"{base}/v1/tasks", json=body)
            answered = time.perf_counter()
            assert resp.status_code == 201, resp.text
            return str(resp.json()["data"]["task_id"]), sent, answered

        for _ in range(20):  # warm-up (worker threads start, caches fill)
            task_id, _s, _a = publish(s)
            receiver.wait(task_id)
        after_answer, after_send = [], []
        for _ in range(args.events):
            task_id, sent, answered = publish(s)
            got = receiver.wait(task_id)
            after_answer.append((got - answered) * 1000)
            after_send.append((got - sent) * 1000)
        print(f"backend: {db.split(':', 1)[0]}, one webhook, sequential publishes")
        report("answer received -> webhook received", after_answer)
        report("request sent -> webhook received", after_send)

        sessions = [requests.Session() for _ in range(8)]
        for sess in sessions:
            sess.headers["Authorization"] = f"Bearer {key}"
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: publish(sessions[i % 8]), range(args.burst)))
        burst = [(receiver.wait(t, 120) - answered) * 1000 for t, _s, answered in results]
        report(f"burst of {args.burst} (8 clients): answer -> received", burst)
        print(f"signatures failing verification: {receiver.bad}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
