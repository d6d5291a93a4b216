"""A2A agent-card routes: public (no key), cacheable (Cache-Control, ETag, 304)."""

from __future__ import annotations

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag

from aipod_api import __version__
from aipod_api.a2a import service
from aipod_api.a2a.schemas import AgentCard, AgentCardDocument
from aipod_api.agents.schemas import AgentPath
from aipod_api.core.openapi import ErrorEnvelope
from aipod_api.http.context import db, reads, state

tag = Tag(name="a2a", description="A2A 智能体名片 Agent cards (A2A v1.0)")
bp = APIBlueprint("a2a", __name__, abp_tags=[tag])

_CONDITIONAL = (
    " Answers 304 (no body) when `If-None-Match` carries the current `ETag`. No key needed."
)


def _base_url() -> str:
    configured = state().settings.public_url
    return configured if configured else request.host_url.rstrip("/")


def _card_response(card: AgentCard, max_age: int) -> Response:
    body, etag = service.serialize(card)
    resp = Response(body, content_type="application/json")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = f"public, max-age={max_age}"
    resp.make_conditional(request)  # 304 without a body when If-None-Match matches
    return resp


@bp.get(
    "/.well-known/agent-card.json",
    summary="网络的智能体名片 The network's A2A agent card",
    description="The marketplace as an A2A v1.0 Agent Card: its interfaces (the HTTP API, "
    "the MCP endpoint when configured), the marketplace operations as skills, a bearer "
    "API key as security scheme." + _CONDITIONAL,
    responses={200: AgentCardDocument, 304: None},
)
@reads
def network_card() -> Response:
    card = service.network_card(
        base_url=_base_url(), version=__version__, mcp_url=state().settings.mcp_url
    )
    return _card_response(card, service.NETWORK_MAX_AGE_S)


@bp.get(
    "/v1/agents/<agent_id>/agent-card.json",
    summary="节点的智能体名片 A node's A2A agent card",
    description="One skill per capability, the node's endpoint as its first interface when "
    "it has one, and its trust score, ratings count and tasks completed in the "
    f"`{service.TRUST_EXTENSION}` extension's params." + _CONDITIONAL,
    responses={200: AgentCardDocument, 304: None, 404: ErrorEnvelope},
)
@reads
def agent_card(path: AgentPath) -> Response:
    card = service.agent_card(
        db(), path.agent_id, base_url=_base_url(), mcp_url=state().settings.mcp_url
    )
    return _card_response(card, service.AGENT_MAX_AGE_S)
