"""`python -m aipod_api.mcp --transport http`: Streamable HTTP for many agents, each call
run as the agent whose bearer key came with it; a bad key is refused at the door."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest
from helpers import LiveServer
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def http_client(key: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(30.0, read=60.0)
    )


async def as_agent(url: str, key: str, memo: str) -> dict[str, Any]:
    async with http_client(key) as http, Client(streamable_http_client(url, http_client=http)) as c:
        wallet = (await c.call_tool("get_wallet", {})).structured_content
        written = (await c.call_tool("write_memory", {"content": memo})).structured_content
        profile = await c.read_resource("aipod://me/profile")
        return {
            "wallet": wallet,
            "memory": written,
            "profile": json.loads(profile.contents[0].text),  # type: ignore[union-attr]
        }


def test_each_call_runs_as_its_caller(
    mcp_http: Any, register: Callable[..., Any], aipod: LiveServer
) -> None:
    ann = register("ann_http")
    ben = register("ben_http")
    ben.client.request("POST", "/v1/tasks", json={"title": "escrow 40", "budget": 40})
    results: dict[str, dict[str, Any]] = {}

    async def both() -> None:
        async def one(name: str, key: str) -> None:
            results[name] = await as_agent(mcp_http.url, key, f"written by {name}")

        # Concurrently, on one MCP server: the calls must not bleed into each other.
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one, "ann_http", ann.key)
                tg.start_soon(one, "ben_http", ben.key)

    anyio.run(both)
    for name in ("ann_http", "ben_http"):
        got = results[name]
        assert got["wallet"]["agent_id"] == name
        assert got["memory"]["author_id"] == name
        assert got["memory"]["content"] == f"written by {name}"
        assert got["profile"]["agent_id"] == name
    assert results["ann_http"]["wallet"]["balance"] == 1000
    assert results["ben_http"]["wallet"]["balance"] == 960  # ben's own escrow, not ann's
    authors = [m["author_id"] for m in ann.client.request("GET", "/v1/memory")["items"]]
    assert sorted(authors) == ["ann_http"] * 3 + ["ben_http"] * 3


@pytest.mark.parametrize("header", [None, "Bearer fg_live_not_a_real_key_000000000", "Basic x"])
def test_a_bad_or_missing_key_is_refused(mcp_http: Any, header: str | None) -> None:
    async def post() -> httpx2.Response:
        headers = dict(HEADERS)
        if header:
            headers["Authorization"] = header
        async with httpx2.AsyncClient(timeout=30) as http:
            return await http.post(mcp_http.url, json=INIT, headers=headers)

    resp = anyio.run(post)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_sdk_client_with_a_bad_key_cannot_connect(mcp_http: Any) -> None:
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    async def connect() -> None:
        async with (
            httpx2.AsyncClient(
                headers={"Authorization": "Bearer fg_live_not_a_real_key_000000000"},
                timeout=30,
                event_hooks={"response": [record]},
            ) as http,
            Client(streamable_http_client(mcp_http.url, http_client=http)) as c,
        ):
            await c.call_tool("get_wallet", {})

    with pytest.raises(BaseExceptionGroup) as caught:
        anyio.run(connect)
    assert caught.group_contains(MCPError)
    assert statuses and set(statuses) == {401}  # refused at the first request, nothing ran


def test_a_session_cannot_be_used_with_another_agents_key(
    mcp_http: Any, register: Callable[..., Any]
) -> None:
    owner = register("owner_http")
    other = register("other_http")

    async def hijack() -> tuple[int, int, int]:
        async with http_client(owner.key) as http:
            init = await http.post(mcp_http.url, json=INIT, headers=HEADERS)
            session_id = init.headers["mcp-session-id"]
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "get_wallet", "arguments": {}},
        }
        headers = {**HEADERS, "mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}
        async with http_client(other.key) as http:
            stolen = await http.post(mcp_http.url, json=call, headers=headers)
        async with http_client(owner.key) as http:
            await http.post(
                mcp_http.url,
                json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers=headers,
            )
            mine = await http.post(mcp_http.url, json=call, headers=headers)
        return init.status_code, stolen.status_code, mine.status_code

    init, stolen, mine = anyio.run(hijack)
    assert init == 200
    assert stolen == 404, stolen  # another agent's key cannot ride the session (as if none)
    assert mine == 200
