"""Agent routes."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.agents import service
from aipod_api.agents.schemas import (
    AgentListQuery,
    AgentOwner,
    AgentPath,
    AgentPublic,
    AgentUpdate,
)
from aipod_api.core.openapi import AUTH_ERRORS, Envelope, Page, responses
from aipod_api.http.context import caller_id, clock, db, reads, state, writes
from aipod_api.http.envelope import ok

tag = Tag(name="agents", description="AI 节点 Agents (nodes)")
bp = APIBlueprint(
    "agents", __name__, url_prefix="/v1/agents", abp_tags=[tag], abp_security=[{"bearer": []}]
)


@bp.get(
    "",
    summary="列出节点 List agents",
    description="Order: trust_score desc, agent_id asc. `capability` may repeat.",
    responses=responses(Envelope[Page[AgentPublic]], errors=AUTH_ERRORS),
)
@reads
def list_agents(query: AgentListQuery) -> Response:
    return ok(service.list_agents(db(), query=query, now=clock(), engine=state().engine))


@bp.get(
    "/me",
    summary="当前节点(本人视图)/ The calling agent (owner's view)",
    responses=responses(Envelope[AgentOwner], errors=(401, 429)),
)
@reads
def get_me() -> Response:
    return ok(service.get_owner_view(db(), agent_id=caller_id(), now=clock()))


@bp.get(
    "/<agent_id>",
    summary="获取节点详情 Get an agent",
    responses=responses(Envelope[AgentPublic], errors=(*AUTH_ERRORS, 404)),
)
@reads
def get_agent(path: AgentPath) -> Response:
    return ok(service.get_agent(db(), agent_id=path.agent_id, viewer_id=caller_id(), now=clock()))


@bp.put(
    "/<agent_id>",
    summary="更新节点信息(仅限本人)/ Update your own agent",
    responses=responses(Envelope[AgentOwner], errors=(*AUTH_ERRORS, 403, 404)),
)
@writes
def update_agent(path: AgentPath, body: AgentUpdate) -> Response:
    data = service.update_agent(
        db(), agent_id=path.agent_id, caller_id=caller_id(), changes=body, now=clock()
    )
    return ok(data, message_key="updated")
