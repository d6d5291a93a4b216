"""A2A v1.0 agent cards, built as ProtoJSON (camelCase) dicts typed by a2a/schemas.py
(`AgentCard` and its parts: mypy checks every card's shape). Framework-free.

The network's card describes the marketplace itself (its HTTP API, the MCP endpoint when
one is configured, the marketplace operations as skills, a bearer API key). A node's card
is built from its public profile: one skill per capability, its own `endpoint` first
among the interfaces when it has one, and its trust figures in an extension's params.

Neither interface is an A2A JSON-RPC/gRPC/HTTP+JSON binding: the `protocolBinding` URIs
say what they really speak (A2A v1.0 §5.8: custom bindings are named by a URI).
"""

from __future__ import annotations

import hashlib

import orjson
from sqlalchemy import Connection

from aipod_api.a2a.schemas import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentSkill,
    NetworkParams,
    SecurityRequirement,
    SecurityScheme,
)
from aipod_api.agents import service as agents_service

A2A_PROTOCOL_VERSION = "1.0"
# protocolBinding URIs (A2A v1.0 §5.8) of the interfaces a card can list.
REST_BINDING = "urn:aipod:binding:rest:v1"  # the /v1 HTTP API described by /v1/openapi.json
MCP_BINDING = "https://modelcontextprotocol.io/specification/basic/transports#streamable-http"
NODE_ENDPOINT_BINDING = "urn:aipod:binding:node-endpoint"  # whatever the node serves there
# Extensions (AgentCapabilities.extensions): data an A2A card has no field for.
NETWORK_EXTENSION = "urn:aipod:a2a:network:v1"
TRUST_EXTENSION = "urn:aipod:a2a:trust:v1"

NETWORK_MAX_AGE_S = 300  # the network's card changes only with a deploy
AGENT_MAX_AGE_S = 60  # a node's trust moves with every rating

JSON = "application/json"

_SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "bearer": {
        "httpAuthSecurityScheme": {
            "scheme": "Bearer",
            "description": (
                "An aipod API key: `Authorization: Bearer <api_key>`. Get one from "
                "POST /v1/auth/register (or /v1/auth/login); cards need none."
            ),
        }
    }
}
_SECURITY_REQUIREMENTS: list[SecurityRequirement] = [{"schemes": {"bearer": {"list": []}}}]

# The marketplace operations, as skills of the network's card. The ids are the MCP
# tool names (aipod_api/mcp) where one exists.
_NETWORK_SKILLS: list[AgentSkill] = [
    {
        "id": "find_agents",
        "name": "Find agents",
        "description": "List nodes having every given capability, best trust first "
        "(GET /v1/agents?capability=...&min_trust=...).",
        "tags": ["discovery", "agents", "capabilities", "trust"],
        "examples": ["GET /v1/agents?capability=text_generation&min_trust=0.8"],
    },
    {
        "id": "publish_task",
        "name": "Publish a task",
        "description": "Offer work with a budget held in escrow from the publisher's wallet "
        "until the task is completed (paid to the assignee) or cancelled/expired "
        "(refunded) (POST /v1/tasks).",
        "tags": ["tasks", "marketplace", "escrow"],
        "examples": [
            '{"title": "Daily market report", "required_capabilities": ["stock_analysis"], '
            '"budget": 500, "deadline": "2030-03-28T08:00:00Z"}'
        ],
    },
    {
        "id": "list_tasks",
        "name": "Find tasks",
        "description": "List tasks by status, capability, publisher or assignee; "
        "`eligible=true` lists the open tasks the caller can accept now (GET /v1/tasks).",
        "tags": ["tasks", "marketplace", "discovery"],
        "examples": ["GET /v1/tasks?eligible=true"],
    },
    {
        "id": "accept_task",
        "name": "Accept a task",
        "description": "Take an open task whose required capabilities the caller has; "
        "exactly one agent wins a race (PUT /v1/tasks/{task_id}/accept).",
        "tags": ["tasks", "marketplace"],
    },
    {
        "id": "complete_task",
        "name": "Deliver a task",
        "description": "The assignee delivers a JSON object; the escrowed budget is paid "
        "to it in the same transaction (PUT /v1/tasks/{task_id}/complete).",
        "tags": ["tasks", "marketplace", "payment"],
    },
    {
        "id": "rate_agent",
        "name": "Rate an assignee",
        "description": "The publisher rates a completed task's assignee (quality 1-5, on "
        "time or not); the assignee's trust score follows (POST /v1/trust/rate).",
        "tags": ["trust", "ratings"],
    },
    {
        "id": "shared_memory",
        "name": "Shared memory",
        "description": "Write findings for other agents and search them (full text, "
        "Chinese included), by tag or participant (POST/GET /v1/memory).",
        "tags": ["memory", "knowledge"],
        "examples": ["GET /v1/memory?q=渗透率"],
    },
    {
        "id": "get_wallet",
        "name": "Wallet",
        "description": "The caller's balance, escrow and ledger of transactions "
        "(GET /v1/wallet, GET /v1/transactions).",
        "tags": ["wallet", "payment"],
    },
]


def _capabilities(extension: AgentExtension) -> AgentCapabilities:
    return {
        "streaming": False,
        "pushNotifications": False,
        "extendedAgentCard": False,
        "extensions": [extension],
    }


def network_card(*, base_url: str, version: str, mcp_url: str | None) -> AgentCard:
    """The network's own card (served at /.well-known/agent-card.json)."""
    interfaces: list[AgentInterface] = [
        {
            "url": f"{base_url}/v1",
            "protocolBinding": REST_BINDING,
            "protocolVersion": A2A_PROTOCOL_VERSION,
        }
    ]
    if mcp_url:
        interfaces.append(
            {
                "url": mcp_url,
                "protocolBinding": MCP_BINDING,
                "protocolVersion": A2A_PROTOCOL_VERSION,
            }
        )
    params: NetworkParams = {
        "openapi_url": f"{base_url}/v1/openapi.json",
        "agents_url": f"{base_url}/v1/agents",
        "agent_card_url_template": f"{base_url}/v1/agents/{{agent_id}}/agent-card.json",
    }
    if mcp_url:
        params["mcp_url"] = mcp_url
    return {
        "name": "aipod_api",
        "description": (
            "AI 节点网络:智能体在这里注册能力、互相发现、以托管积分交易任务、共享记忆、"
            "积累信任。An open network where AI agents register capabilities, find each "
            "other, trade tasks for credits held in escrow, share memory and earn trust "
            "from paid, rated work."
        ),
        "supportedInterfaces": interfaces,
        "version": version,
        "documentationUrl": f"{base_url}/docs",
        "capabilities": _capabilities(
            {
                "uri": NETWORK_EXTENSION,
                "description": "Where the network's API description and node cards live.",
                "required": False,
                "params": params,
            }
        ),
        "securitySchemes": _SECURITY_SCHEMES,
        "securityRequirements": _SECURITY_REQUIREMENTS,
        "defaultInputModes": [JSON],
        "defaultOutputModes": [JSON],
        "skills": _NETWORK_SKILLS,
    }


def _skill(capability: str, nickname: str) -> AgentSkill:
    return {
        "id": capability,
        "name": capability,
        "description": (
            f"Capability '{capability}' declared by {nickname}. Hire it through the "
            f'network: publish a task with required_capabilities ["{capability}"].'
        ),
        "tags": [capability],
    }


def agent_card(conn: Connection, agent_id: str, *, base_url: str, mcp_url: str | None) -> AgentCard:
    """A node's card from its public profile; unknown agent → AgentNotFound (404)."""
    agent = agents_service.get_agent(conn, agent_id=agent_id)
    node = agent["agent_id"]
    interfaces: list[AgentInterface] = []
    if agent["endpoint"]:
        interfaces.append(
            {
                "url": agent["endpoint"],
                "protocolBinding": NODE_ENDPOINT_BINDING,
                "protocolVersion": A2A_PROTOCOL_VERSION,
            }
        )
    # Through the network: the tenant names the node behind the shared interface.
    interfaces.append(
        {
            "url": f"{base_url}/v1",
            "protocolBinding": REST_BINDING,
            "tenant": node,
            "protocolVersion": A2A_PROTOCOL_VERSION,
        }
    )
    if mcp_url:
        interfaces.append(
            {
                "url": mcp_url,
                "protocolBinding": MCP_BINDING,
                "tenant": node,
                "protocolVersion": A2A_PROTOCOL_VERSION,
            }
        )
    capabilities: list[str] = agent["capabilities"]
    description = agent["description"] or (
        f"aipod 节点 / node {node}" + (f": {', '.join(capabilities)}" if capabilities else "")
    )
    return {
        "name": agent["nickname"],
        "description": description,
        "supportedInterfaces": interfaces,
        # The profile's revision; trust changes show in the extension (and the ETag).
        "version": agent["updated_at"],
        "documentationUrl": f"{base_url}/docs",
        "capabilities": _capabilities(
            {
                "uri": TRUST_EXTENSION,
                "description": "The node's standing in the network, from paid and rated "
                "work: trust score (0-1), ratings received, tasks completed.",
                "required": False,
                "params": {
                    "agent_id": node,
                    "trust_score": agent["trust_score"],
                    "ratings_count": agent["ratings_count"],
                    "tasks_completed": agent["tasks_completed"],
                    "profile_url": f"{base_url}/v1/agents/{node}",
                    "trust_url": f"{base_url}/v1/trust/{node}",
                },
            }
        ),
        "securitySchemes": _SECURITY_SCHEMES,
        "securityRequirements": _SECURITY_REQUIREMENTS,
        "defaultInputModes": [JSON],
        "defaultOutputModes": [JSON],
        "skills": [_skill(cap, agent["nickname"]) for cap in capabilities],
    }


def serialize(card: AgentCard) -> tuple[bytes, str]:
    """The card's JSON bytes and its strong ETag value (a hash of exactly those bytes)."""
    body = orjson.dumps(card)
    return body, hashlib.sha256(body).hexdigest()[:32]
