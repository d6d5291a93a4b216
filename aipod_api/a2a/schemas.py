"""The A2A v1.0 AgentCard as served (ProtoJSON: camelCase).

TypedDicts, one definition per shape: what `a2a.service` builds (mypy checks it) and
what the OpenAPI document describes (`AgentCardDocument`). Only the fields our cards use;
a2a-sdk's AgentCard (protobuf) is the reference the tests parse every card with."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import Field, RootModel
from typing_extensions import TypedDict


class AgentInterface(TypedDict):
    url: str
    protocolBinding: Annotated[
        str, Field(description="a URI naming what this URL speaks (A2A §5.8)")
    ]
    protocolVersion: Annotated[str, Field(description='"1.0"')]
    tenant: NotRequired[
        Annotated[str, Field(description="the node behind a shared interface (node cards)")]
    ]


class NetworkParams(TypedDict):
    """The network extension's params: where the API description and node cards live."""

    openapi_url: str
    agents_url: str
    agent_card_url_template: str
    mcp_url: NotRequired[str]


class TrustParams(TypedDict):
    """The trust extension's params: a node's standing, from paid and rated work."""

    agent_id: str
    trust_score: float
    ratings_count: int
    tasks_completed: int
    profile_url: str
    trust_url: str


class AgentExtension(TypedDict):
    uri: str
    description: str
    required: bool
    params: NetworkParams | TrustParams


class AgentCapabilities(TypedDict):
    streaming: bool
    pushNotifications: bool
    extendedAgentCard: bool
    extensions: list[AgentExtension]


class HTTPAuthSecurityScheme(TypedDict):
    scheme: str
    description: str


class SecurityScheme(TypedDict):
    httpAuthSecurityScheme: HTTPAuthSecurityScheme


class StringList(TypedDict):
    list: list[str]


class SecurityRequirement(TypedDict):
    schemes: dict[str, StringList]


class AgentSkill(TypedDict):
    id: str
    name: str
    description: str
    tags: list[str]
    examples: NotRequired[list[str]]


class AgentCard(TypedDict):
    """An A2A v1.0 Agent Card (not an envelope: the document A2A clients read)."""

    name: str
    description: str
    supportedInterfaces: list[AgentInterface]
    version: str
    documentationUrl: str
    capabilities: AgentCapabilities
    securitySchemes: dict[str, SecurityScheme]
    securityRequirements: list[SecurityRequirement]
    defaultInputModes: list[str]
    defaultOutputModes: list[str]
    skills: list[AgentSkill]


class AgentCardDocument(RootModel[AgentCard]):
    """The card as a response model for the OpenAPI document (the route's declaration):
    its schema is `AgentCard`'s."""
