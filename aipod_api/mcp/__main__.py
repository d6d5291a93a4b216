"""`python -m aipod_api.mcp [--transport stdio|http] [--host H] [--port P] [--base-url URL]`.

stdio (default) serves one agent, whose key is `AIPOD_API_KEY`; `--transport http` serves
Streamable HTTP at `http://HOST:PORT/mcp` for many agents, each authenticated by its own
`Authorization: Bearer <api key>`. Every flag has an `AIPOD_*` variable (flags win)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aipod_api.mcp",
        description="The aipod MCP server, a client of the aipod HTTP API.",
    )
    p.add_argument(
        "--transport",
        choices=("stdio", "http"),
        help="stdio: one agent, key from AIPOD_API_KEY; http: Streamable HTTP for many "
        "agents, each with its own bearer key (AIPOD_MCP_TRANSPORT, default stdio)",
    )
    p.add_argument("--host", help="HTTP bind address (AIPOD_MCP_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (AIPOD_MCP_PORT, default 5002)")
    p.add_argument(
        "--base-url", help="the aipod API (AIPOD_BASE_URL, default http://localhost:5001)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    mapping = {
        "transport": "AIPOD_MCP_TRANSPORT",
        "host": "AIPOD_MCP_HOST",
        "port": "AIPOD_MCP_PORT",
        "base_url": "AIPOD_BASE_URL",
    }
    for attr, env in mapping.items():
        value = getattr(args, attr)
        if value is not None:
            os.environ[env] = str(value)

    from pydantic import ValidationError

    from aipod_api.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    try:
        from aipod_api.mcp.server import build_server
    except ImportError as exc:
        print(f"the MCP extra is missing ({exc}): pip install 'aipod_api[mcp]'", file=sys.stderr)
        return 2

    if settings.mcp_transport == "stdio":
        if not settings.api_key:
            print("AIPOD_API_KEY is not set: the stdio server acts as that agent", file=sys.stderr)
            return 2
        build_server(
            base_url=settings.base_url, api_key=settings.api_key, log_level=settings.log_level
        ).run("stdio")
        return 0
    server = build_server(
        base_url=settings.base_url, verify_keys=True, log_level=settings.log_level
    )
    print(
        f"aipod MCP (Streamable HTTP) on http://{settings.mcp_host}:{settings.mcp_port}/mcp "
        f"for {settings.base_url}",
        file=sys.stderr,
        flush=True,
    )
    server.run("streamable-http", host=settings.mcp_host, port=settings.mcp_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
