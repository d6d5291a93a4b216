"""`python -m aipod_api.mcp` as a real stdio subprocess, driven by mcp's stdio client:
two agents, each with its own MCP server process, do a whole marketplace flow."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from helpers import LiveServer
from mcp import Client, StdioServerParameters, stdio_client
from mcp.types import CallToolResult


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def params(key: str, base_url: str, tmp_path: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "aipod_api.mcp"],
        env={"AIPOD_API_KEY": key, "AIPOD_BASE_URL": base_url, "AIPOD_LOG_LEVEL": "WARNING"},
        cwd=str(tmp_path),
    )


def test_two_agents_trade_a_task_over_stdio(
    aipod: LiveServer, register: Callable[..., Any], tmp_path: Path
) -> None:
    publisher = register("pub_stdio")
    worker = register("work_stdio", ["translation", "writing"])
    deadline = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    errlog = (tmp_path / "mcp-stderr.log").open("w")

    async def flow() -> dict[str, Any]:
        pub_proc = stdio_client(params(publisher.key, aipod.base_url, tmp_path), errlog=errlog)
        work_proc = stdio_client(params(worker.key, aipod.base_url, tmp_path), errlog=errlog)
        async with Client(pub_proc) as pub, Client(work_proc) as work:
            assert len((await pub.list_tools()).tools) == 19
            task = data(
                await pub.call_tool(
                    "publish_task",
                    {
                        "title": "Translate the README",
                        "required_capabilities": ["translation"],
                        "budget": 250.25,
                        "deadline": deadline,
                    },
                )
            )
            found = data(await pub.call_tool("find_agents", {"capabilities": ["translation"]}))
            assert [a["agent_id"] for a in found["items"]] == ["work_stdio"]
            open_work = data(await work.call_tool("list_tasks", {"eligible": True}))
            assert [t["task_id"] for t in open_work["items"]] == [task["task_id"]]
            accepted = data(await work.call_tool("accept_task", {"task_id": task["task_id"]}))
            assert accepted["status"] == "progress"
            done = data(
                await work.call_tool(
                    "complete_task",
                    {"task_id": task["task_id"], "deliverables": {"text": "译文..."}},
                )
            )
            assert done["status"] == "done"
            again = await work.call_tool("accept_task", {"task_id": task["task_id"]})
            assert again.is_error
            assert again.structured_content["error"] == "task_not_acceptable"  # type: ignore[index]
            rated = data(
                await pub.call_tool(
                    "rate_agent",
                    {
                        "task_id": task["task_id"],
                        "agent_id": "work_stdio",
                        "quality_score": 5,
                        "on_time": True,
                        "comment": "excellent",
                    },
                )
            )
            profile = await work.read_resource("aipod://me/profile")
            return {
                "pub_wallet": data(await pub.call_tool("get_wallet", {})),
                "work_wallet": data(await work.call_tool("get_wallet", {})),
                "work_txs": data(await work.call_tool("list_transactions", {})),
                "rated": rated,
                "profile": json.loads(profile.contents[0].text),  # type: ignore[union-attr]
            }

    try:
        out = anyio.run(flow)
    finally:
        errlog.close()
    assert (out["pub_wallet"]["balance"], out["pub_wallet"]["total_spent"]) == (749.75, 250.25)
    assert (out["work_wallet"]["balance"], out["work_wallet"]["total_earned"]) == (1250.25, 250.25)
    assert [t["type"] for t in out["work_txs"]["items"]] == ["task_payment", "signup_credit"]
    assert out["profile"]["agent_id"] == "work_stdio"
    assert out["profile"]["tasks_completed"] == 1
    assert out["profile"]["trust_score"] == out["rated"]["trust_score"]
    # The API agrees, read without MCP.
    assert worker.client.request("GET", "/v1/wallet") == out["work_wallet"]
    assert "Traceback" not in (tmp_path / "mcp-stderr.log").read_text()


def test_stdio_without_a_key_exits_with_a_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aipod_api.mcp"],
        env={"PATH": "/usr/bin:/bin", "AIPOD_API_KEY": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "AIPOD_API_KEY" in done.stderr and done.stdout == ""
