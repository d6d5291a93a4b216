"""The A2A v1.0 AgentCard as served (ProtoJSON: camelCase), for the OpenAPI document.

Only the fields our cards use; a2a-sdk's AgentCard (protobuf) is the reference the tests
parse every card with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AgentInterface(BaseModel):
    url: str
    protocolBinding: str = Field(description="a URI naming what this URL speaks (A2A §5.8)")
    protocolVersion: str = Field(description='"1.0"')
    tenant: str | None = Field(
        default=None, description="the node behind a shared interface (node cards)"
    )


class AgentExtension(BaseModel):
    uri: str
    description: str
    required: bool
    params: dict[str, Any]


class AgentCapabilities(BaseModel):
    streaming: bool
    pushNotifications: bool
    extendedAgentCard: bool
    extensions: list[AgentExtension]


class HTTPAuthSecurityScheme(BaseModel):
    scheme: str
    description: str


class SecurityScheme(BaseModel):
    httpAuthSecurityScheme: HTTPAuthSecurityScheme


class StringList(BaseModel):
    list: list[str]


class SecurityRequirement(BaseModel):
    schemes: dict[str, StringList]


class AgentSkill(BaseModel):
    id: str
    name: str
    description: str
    tags: list[str]
    examples: list[str] | None = None


class AgentCard(BaseModel):
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
