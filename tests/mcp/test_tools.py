"""Every MCP tool and resource through the SDK's in-memory client, against a live server.

The MCP server object runs in the test process (mcp's `Client(server)`: the real protocol
layer, no transport); its tools call the real aipod server over HTTP."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from helpers import LiveServer, free_port
from mcp import Client, MCPError
from mcp.types import CallToolResult

from aipod_api.mcp.server import build_server

TOOLS = {
    "find_agents",
    "get_agent",
    "list_tasks",
    "get_task",
    "publish_task",
    "accept_task",
    "complete_task",
    "cancel_task",
    "approve_task",
    "request_changes",
    "dispute_task",
    "concede_task",
    "withdraw_dispute",
    "rate_agent",
    "write_memory",
    "search_memory",
    "get_wallet",
    "list_transactions",
    "poll_events",
}
READ_ONLY = {
    "find_agents",
    "get_agent",
    "list_tasks",
    "get_task",
    "search_memory",
    "get_wallet",
    "list_transactions",
    "poll_events",
}
# Minimal valid arguments for each tool.
ARGS: dict[str, dict[str, Any]] = {
    "find_agents": {},
    "get_agent": {"agent_id": "someone"},
    "list_tasks": {"eligible": True},
    "get_task": {"task_id": "task_001"},
    "publish_task": {"title": "t", "budget": 1},
    "accept_task": {"task_id": "task_001"},
    "complete_task": {"task_id": "task_001", "deliverables": {"r": 1}},
    "cancel_task": {"task_id": "task_001"},
    "approve_task": {"task_id": "task_001"},
    "request_changes": {"task_id": "task_001", "reason": "r"},
    "dispute_task": {"task_id": "task_001", "reason": "r"},
    "concede_task": {"task_id": "task_001"},
    "withdraw_dispute": {"task_id": "task_001"},
    "rate_agent": {"task_id": "task_001", "agent_id": "x", "quality_score": 5, "on_time": True},
    "write_memory": {"content": "c"},
    "search_memory": {"q": "c"},
    "get_wallet": {},
    "list_transactions": {},
    "poll_events": {},
}


def future(days: int = 3) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def session(base_url: str, key: str | None, fn: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run `fn` with an in-memory MCP client connected to a server acting as `key`."""

    async def main() -> Any:
        async with Client(build_server(base_url=base_url, api_key=key)) as client:
            return await fn(client)

    return anyio.run(main)


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    # The model reads the same object as text.
    assert json.loads(result.content[0].text) == data  # type: ignore[union-attr]
    return data


def failed(result: CallToolResult, error: str, status: int | None) -> dict[str, Any]:
    assert result.is_error, result.structured_content
    fields = result.structured_content
    assert isinstance(fields, dict)
    assert (fields["error"], fields["status"]) == (error, status), fields
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"{error} (")
    assert fields["message"] in text
    return fields


def test_tools_are_listed_with_descriptions_and_schemas(aipod: LiveServer) -> None:
    async def listing(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {t.name: t for t in session(aipod.base_url, "unused", listing)}
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        assert tool.description and len(tool.description) > 40, name
        assert tool.input_schema["type"] == "object", name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (name in READ_ONLY), name
        for prop, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), (name, prop)
    publish = tools["publish_task"].input_schema
    assert set(publish["required"]) == {"title", "budget"}
    assert publish["properties"]["budget"]["minimum"] == 0
    assert tools["list_tasks"].input_schema["properties"]["eligible"]["anyOf"][0] == {
        "type": "boolean"
    }
    statuses = tools["list_tasks"].input_schema["properties"]["status"]["anyOf"][0]["enum"]
    assert statuses == ["open", "progress", "done", "submitted", "disputed", "cancelled", "expired"]
    assert tools["rate_agent"].input_schema["properties"]["quality_score"]["maximum"] == 5


def test_every_tool_succeeds_and_answers_what_the_api_answers(
    aipod: LiveServer, register: Callable[..., Any]
) -> None:
    alice = register("alice_mcp")
    bob = register("bob_mcp", ["coding"])
    base = aipod.base_url

    async def as_alice_publish(client: Client) -> dict[str, Any]:
        found = ok(await client.call_tool("find_agents", {"capabilities": ["coding"]}))
        assert [a["agent_id"] for a in found["items"]] == ["bob_mcp"]
        assert found == alice.client.request("GET", "/v1/agents", params={"capability": "coding"})
        bob_profile = ok(await client.call_tool("get_agent", {"agent_id": "bob_mcp"}))
        assert bob_profile == alice.client.request("GET", "/v1/agents/bob_mcp")
        task = ok(
            await client.call_tool(
                "publish_task",
                {
                    "title": "Review my code",
                    "description": "PR #1",
                    "required_capabilities": ["coding"],
                    "budget": 120.5,
                    "deadline": future(),
                },
            )
        )
        assert (task["status"], task["budget"], task["publisher_id"]) == (
            "open",
            120.5,
            "alice_mcp",
        )
        return task

    task = session(base, alice.key, as_alice_publish)
    task_id = task["task_id"]

    async def as_bob_work(client: Client) -> None:
        eligible = ok(await client.call_tool("list_tasks", {"eligible": True}))
        assert [t["task_id"] for t in eligible["items"]] == [task_id]
        listed = ok(await client.call_tool("list_tasks", {"status": "open", "page_size": 5}))
        assert listed == bob.client.request(
            "GET", "/v1/tasks", params={"status": "open", "page_size": 5}
        )
        got = ok(await client.call_tool("get_task", {"task_id": task_id}))
        assert got == bob.client.request("GET", f"/v1/tasks/{task_id}")
        accepted = ok(await client.call_tool("accept_task", {"task_id": task_id}))
        assert (accepted["status"], accepted["assignee_id"]) == ("progress", "bob_mcp")
        done = ok(
            await client.call_tool(
                "complete_task",
                {"task_id": task_id, "deliverables": {"review": "LGTM"}, "quality_notes": "ok"},
            )
        )
        assert (done["status"], done["deliverables"]) == ("done", {"review": "LGTM"})

    session(base, bob.key, as_bob_work)

    async def as_alice_settle(client: Client) -> None:
        assert ok(await client.call_tool("list_tasks", {"eligible": True}))["items"] == []
        rated = ok(
            await client.call_tool(
                "rate_agent",
                {"task_id": task_id, "agent_id": "bob_mcp", "quality_score": 4.5, "on_time": True},
            )
        )
        assert rated["rating"]["quality_score"] == 4.5
        assert (
            rated["trust_score"] == alice.client.request("GET", "/v1/agents/bob_mcp")["trust_score"]
        )
        memory = ok(
            await client.call_tool(
                "write_memory",
                {
                    "content": "bob_mcp 的代码评审很专业",
                    "tags": ["评审"],
                    "participants": ["bob_mcp"],
                },
            )
        )
        assert (memory["author_id"], memory["participants"]) == ("alice_mcp", ["bob_mcp"])
        wallet = ok(await client.call_tool("get_wallet", {}))
        assert (wallet["balance"], wallet["total_spent"]) == (879.5, 120.5)
        second = ok(await client.call_tool("publish_task", {"title": "never mind", "budget": 10}))
        assert ok(await client.call_tool("get_wallet", {}))["escrow"] == 10
        cancelled = ok(await client.call_tool("cancel_task", {"task_id": second["task_id"]}))
        assert cancelled["status"] == "cancelled"
        assert ok(await client.call_tool("get_wallet", {})) == alice.client.request(
            "GET", "/v1/wallet"
        )

    session(base, alice.key, as_alice_settle)

    async def as_bob_check(client: Client) -> None:
        found = ok(await client.call_tool("search_memory", {"q": "代码评审"}))
        assert [m["author_id"] for m in found["items"]] == ["alice_mcp"]
        by_tag = ok(await client.call_tool("search_memory", {"tag": "评审", "page_size": 1}))
        assert by_tag == bob.client.request(
            "GET", "/v1/memory", params={"tag": "评审", "page_size": 1}
        )
        wallet = ok(await client.call_tool("get_wallet", {}))
        assert (wallet["balance"], wallet["total_earned"]) == (1120.5, 120.5)
        paid = ok(await client.call_tool("list_transactions", {"type": "task_payment"}))
        assert [(t["amount"], t["task_id"]) for t in paid["items"]] == [(120.5, task_id)]
        kinds = ["task.completed", "wallet.credited"]
        events = ok(await client.call_tool("poll_events", {"types": kinds}))
        assert [e["type"] for e in events["items"]] == ["wallet.credited", *kinds]
        assert events["items"][1]["data"]["task"]["task_id"] == task_id
        assert events == bob.client.request("GET", "/v1/events", params={"types": ",".join(kinds)})
        later = ok(await client.call_tool("poll_events", {"after": events["next_cursor"]}))
        assert later["items"] == [] or later["items"][0]["id"] > events["next_cursor"]
        everything = ok(await client.call_tool("list_transactions", {}))
        assert everything == bob.client.request("GET", "/v1/transactions")

    session(base, bob.key, as_bob_check)


def test_review_tools_approve_changes_dispute_concede(
    aipod: LiveServer, register: Callable[..., Any]
) -> None:
    pub, worker = register("pub_review"), register("worker_review")

    def submitted() -> str:
        task_id = str(
            pub.client.request(
                "POST", "/v1/tasks", json={"title": "t", "budget": 30, "review_seconds": 600}
            )["task_id"]
        )
        worker.client.request("PUT", f"/v1/tasks/{task_id}/accept")
        done = worker.client.request(
            "PUT", f"/v1/tasks/{task_id}/complete", json={"deliverables": {"v": 1}}
        )
        assert done["status"] == "submitted"
        return task_id

    first, second, third = submitted(), submitted(), submitted()

    async def as_publisher(client: Client) -> None:
        back = ok(await client.call_tool("request_changes", {"task_id": first, "reason": "more"}))
        assert (back["status"], back["change_rounds"]) == ("progress", 1)
        failed(
            await client.call_tool("approve_task", {"task_id": first}), "task_not_submitted", 409
        )
        paid = ok(await client.call_tool("approve_task", {"task_id": second}))
        assert (paid["status"], paid["payout"]) == ("done", 30)
        disputed = ok(await client.call_tool("dispute_task", {"task_id": third, "reason": "bad"}))
        assert disputed["status"] == "disputed"
        failed(await client.call_tool("concede_task", {"task_id": third}), "not_assignee", 403)

    session(aipod.base_url, pub.key, as_publisher)

    async def as_worker(client: Client) -> None:
        failed(
            await client.call_tool("dispute_task", {"task_id": third, "reason": "x"}),
            "not_publisher",
            403,
        )
        conceded = ok(await client.call_tool("concede_task", {"task_id": third}))
        assert conceded["status"] == "cancelled"
        failed(await client.call_tool("withdraw_dispute", {"task_id": third}), "not_publisher", 403)

    session(aipod.base_url, worker.key, as_worker)
    assert worker.client.request("GET", "/v1/wallet")["balance"] == 1030
    assert pub.client.request("GET", "/v1/wallet")["escrow"] == 30  # the first is in progress


def test_every_tool_reports_a_refused_key_as_a_tool_error(aipod: LiveServer) -> None:
    async def all_tools(client: Client) -> dict[str, CallToolResult]:
        return {name: await client.call_tool(name, args) for name, args in ARGS.items()}

    results = session(aipod.base_url, "fg_live_not_a_real_key_000000000", all_tools)
    assert set(results) == TOOLS
    for name, result in results.items():
        fields = failed(result, "invalid_api_key", 401)
        assert fields["message"].startswith("Malformed API key"), name  # English
        assert "Authorization: Bearer <api_key>" in fields["message"], name
        assert fields["request_id"], name


def test_domain_errors_carry_the_machine_code_message_and_data(
    aipod: LiveServer, register: Callable[..., Any]
) -> None:
    alice = register("alice_err")
    bob = register("bob_err")  # no capabilities
    task_id = alice.client.request(
        "POST",
        "/v1/tasks",
        json={"title": "needs coding", "budget": 50, "required_capabilities": ["coding"]},
    )["task_id"]

    async def as_alice(client: Client) -> None:
        fields = failed(
            await client.call_tool("publish_task", {"title": "too dear", "budget": 5000}),
            "insufficient_funds",
            409,
        )
        assert fields["message"] == "Insufficient balance"
        assert fields["data"] == {"balance": 950, "required": 5000}
        past = failed(
            await client.call_tool(
                "publish_task", {"title": "late", "budget": 1, "deadline": "2001-01-01T00:00:00Z"}
            ),
            "validation_failed",
            400,
        )
        assert [e["field"] for e in past["data"]["errors"]] == ["deadline"]
        failed(await client.call_tool("accept_task", {"task_id": task_id}), "own_task", 403)
        failed(await client.call_tool("get_agent", {"agent_id": "ghost"}), "agent_not_found", 404)
        failed(await client.call_tool("get_task", {"task_id": "task_999"}), "task_not_found", 404)
        failed(
            await client.call_tool(
                "rate_agent",
                {"task_id": task_id, "agent_id": "bob_err", "quality_score": 3, "on_time": True},
            ),
            "task_not_done",
            409,
        )
        unknown = failed(
            await client.call_tool("write_memory", {"content": "x", "participants": ["ghost"]}),
            "memory_unknown_participants",
            400,
        )
        assert "ghost" in unknown["message"]
        assert [e["field"] for e in unknown["data"]["errors"]] == ["participants[0]"]
        failed(
            await client.call_tool("search_memory", {"tag": "   "}),  # blank, says the API
            "validation_failed",
            400,
        )

    session(aipod.base_url, alice.key, as_alice)

    async def as_bob(client: Client) -> None:
        failed(
            await client.call_tool("accept_task", {"task_id": task_id}),
            "missing_capabilities",
            403,
        )
        failed(
            await client.call_tool("complete_task", {"task_id": task_id, "deliverables": {"x": 1}}),
            "not_assignee",
            403,
        )
        failed(await client.call_tool("cancel_task", {"task_id": task_id}), "not_publisher", 403)
        # Arguments outside the schema never reach the API: the SDK refuses them.
        bad = await client.call_tool("find_agents", {"min_trust": 2})
        assert bad.is_error and "min_trust" in bad.content[0].text  # type: ignore[union-attr]

    session(aipod.base_url, bob.key, as_bob)


def test_an_unreachable_api_is_a_tool_error_not_a_crash() -> None:
    async def call(client: Client) -> CallToolResult:
        return await client.call_tool("get_wallet", {})

    fields = failed(
        session(f"http://127.0.0.1:{free_port()}", "any_key", call), "api_unreachable", None
    )
    assert "cannot reach" in fields["message"]


def test_resources_are_the_callers_profile_and_wallet(
    aipod: LiveServer, register: Callable[..., Any]
) -> None:
    carol = register("carol_mcp", ["writing"])

    async def read(client: Client) -> tuple[list[str], Any, Any]:
        listed = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        profile = await client.read_resource("aipod://me/profile")
        wallet = await client.read_resource("aipod://me/wallet")
        return listed, profile, wallet

    listed, profile, wallet = session(aipod.base_url, carol.key, read)
    assert listed == ["aipod://me/profile", "aipod://me/wallet"]
    [content] = profile.contents
    assert content.mime_type == "application/json"
    assert json.loads(content.text) == carol.client.request("GET", "/v1/agents/me")
    assert json.loads(content.text)["email"] == "carol_mcp@example.com"
    assert json.loads(wallet.contents[0].text) == carol.client.request("GET", "/v1/wallet")


def test_a_resource_with_a_refused_key_is_a_protocol_error(aipod: LiveServer) -> None:
    async def read(client: Client) -> MCPError:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("aipod://me/wallet")
        return caught.value

    err = session(aipod.base_url, "fg_live_not_a_real_key_000000000", read)
    assert err.message.startswith("invalid_api_key: Malformed API key"), err.message
    assert err.data["error"] == "invalid_api_key" and err.data["status"] == 401
