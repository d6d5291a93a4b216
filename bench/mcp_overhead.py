"""MCP tool round trip vs the plain HTTP call it makes, measured side by side.

    python bench/mcp_overhead.py [--calls 200] [--rounds 5]

Starts the real API server (`python -m aipod_api.server`, a fresh SQLite file, limits
raised so the loop is not refused), registers an agent, then times, per call and in the
same process and run:

- **http**: the plain call the tool makes, `aipod_api.sdk.Client.request(...)`;
- **mcp in-memory**: `mcp.Client(server)`: the protocol layer, no transport;
- **mcp stdio**: `python -m aipod_api.mcp` as a subprocess driven by mcp's stdio client;
- **mcp http**: `python -m aipod_api.mcp --transport http` over Streamable HTTP, bearer
  key verified (cached for 30 s, so the verification is paid once).

Rounds interleave the four (each round runs `--calls` sequential calls of each), so all
see the same machine noise; per-call medians are over all rounds. Two tools: `get_wallet`
(a small object) and `find_agents` (a page of 20 agents). Not a test: nothing asserts on
time. Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import requests
from mcp import Client as McpClient
from mcp import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from aipod_api.mcp.server import build_server
from aipod_api.sdk import Client

TOOLS: dict[str, tuple[dict[str, Any], str, str, dict[str, Any] | None]] = {
    # tool: (tool arguments, method, path, query) of the one API call it makes
    "get_wallet": ({}, "GET", "/v1/wallet", None),
    "find_agents": ({}, "GET", "/v1/agents", {"page": 1, "page_size": 20}),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port}")


def start(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=200, help="calls per round and transport")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="aipod-mcp-bench-"))
    api_port, mcp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{api_port}"
    env = dict(os.environ)
    env.update(
        {
            "AIPOD_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "AIPOD_PORT": str(api_port),
            "AIPOD_DEMO": "0",
            "AIPOD_RATE_LIMIT": "100000000/minute",
            "AIPOD_REGISTER_LIMIT": "1000000/day",
            "AIPOD_LOG_LEVEL": "WARNING",
            "AIPOD_BASE_URL": base,
        }
    )
    api = start([sys.executable, "-m", "aipod_api.server"], env, api_port, tmp / "api.log")
    mcp_http = None
    try:
        keys = []
        for i in range(21):  # 21 agents: a full page for find_agents
            r = requests.post(
                f"{base}/v1/auth/register",
                json={"username": f"bench_{i:02d}", "email": f"b{i}@example.com"},
                timeout=30,
            )
            r.raise_for_status()
            keys.append(r.json()["data"]["api_key"])
        key = keys[0]
        mcp_http = start(
            [sys.executable, "-m", "aipod_api.mcp", "--transport", "http", "--port", str(mcp_port)],
            env,
            mcp_port,
            tmp / "mcp-http.log",
        )
        results = anyio.run(measure, base, key, f"http://127.0.0.1:{mcp_port}/mcp", args, tmp)
    finally:
        if mcp_http is not None:
            stop(mcp_http)
        stop(api)
    report(results, args)


async def measure(
    base: str, key: str, mcp_url: str, args: argparse.Namespace, tmp: Path
) -> dict[str, dict[str, list[float]]]:
    sdk = Client(key, base_url=base)
    stdio = StdioServerParameters(
        command=sys.executable,
        args=["-m", "aipod_api.mcp"],
        env={"AIPOD_API_KEY": key, "AIPOD_BASE_URL": base, "AIPOD_LOG_LEVEL": "WARNING"},
    )
    results: dict[str, dict[str, list[float]]] = {t: {} for t in TOOLS}
    errlog = (tmp / "mcp-stdio.log").open("w")
    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(30.0, read=60.0)
        ) as http,
        McpClient(build_server(base_url=base, api_key=key)) as in_memory,
        McpClient(stdio_client(stdio, errlog=errlog)) as over_stdio,
        McpClient(streamable_http_client(mcp_url, http_client=http)) as over_http,
    ):
        clients = {"mcp in-memory": in_memory, "mcp stdio": over_stdio, "mcp http": over_http}
        for tool, (tool_args, method, path, query) in TOOLS.items():

            async def plain(method: str = method, path: str = path, query: Any = query) -> Any:
                return sdk.request(method, path, params=query)  # as a client calls it

            # Warm up every path (connections, imports, the key verification cache).
            await timed(20, plain)
            for client in clients.values():
                for _ in range(20):
                    assert not (await client.call_tool(tool, tool_args)).is_error
            for _ in range(args.rounds):
                results[tool].setdefault("http", []).extend(await timed(args.calls, plain))
                for name, client in clients.items():

                    async def via(c: McpClient = client, t: str = tool, a: Any = tool_args) -> Any:
                        return await c.call_tool(t, a)

                    results[tool].setdefault(name, []).extend(await timed(args.calls, via))
    errlog.close()
    return results


def report(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nMCP tool round trip vs plain HTTP call, {stamp}")
    print(f"{args.rounds} rounds x {args.calls} sequential calls per transport, interleaved\n")
    print("| tool | transport | p50 ms | p99 ms | ratio p50 to http | overhead p50 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for tool, by in results.items():
        base = statistics.median(by["http"])
        for name, samples in by.items():
            samples = sorted(samples)
            p50 = statistics.median(samples)
            p99 = samples[int(len(samples) * 0.99) - 1]
            print(
                f"| {tool} | {name} | {p50 * 1000:.2f} | {p99 * 1000:.2f} | "
                f"{p50 / base:.2f} | {(p50 - base) * 1000:+.2f} |"
            )


if __name__ == "__main__":
    main()
