"""A2A v1.0 agent cards: the network's and each node's, parsed with a2a-sdk's AgentCard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from a2a.types import AgentCard
from google.protobuf.json_format import MessageToDict, ParseDict
from helpers import Api, LiveServer, Resp
from tasks.market import Market

from aipod_api.a2a import service

NETWORK = "/.well-known/agent-card.json"


def card_path(agent_id: str) -> str:
    return f"/v1/agents/{agent_id}/agent-card.json"


def parse(resp: Resp) -> AgentCard:
    """The body as a2a-sdk's AgentCard: parsed strictly (ParseDict without
    ignore_unknown_fields: an unknown or misspelt field raises), and every field the v1.0
    proto marks REQUIRED is present."""
    assert resp.status == 200, resp.body
    assert resp.headers["Content-Type"].startswith("application/json")
    card = ParseDict(resp.body, AgentCard())
    for name in ("name", "description", "version"):
        assert getattr(card, name), name
    assert card.HasField("capabilities")
    assert len(card.supported_interfaces) >= 1
    for iface in card.supported_interfaces:
        assert iface.url and iface.protocol_binding and iface.protocol_version == "1.0"
    assert list(card.default_input_modes) == ["application/json"]
    assert list(card.default_output_modes) == ["application/json"]
    for skill in card.skills:
        assert skill.id and skill.name and skill.description and list(skill.tags)
    return card


def extension(card: AgentCard, uri: str) -> dict[str, Any]:
    found = [e for e in card.capabilities.extensions if e.uri == uri]
    assert len(found) == 1, [e.uri for e in card.capabilities.extensions]
    return MessageToDict(found[0].params)


def test_network_card_parses_and_describes_the_marketplace(api: Api) -> None:
    r = api.get(NETWORK)  # no key
    card = parse(r)
    assert card.name == "aipod_api"
    assert card.documentation_url == "http://localhost/docs"
    [rest] = card.supported_interfaces  # no MCP endpoint configured
    assert rest.url == "http://localhost/v1"
    assert rest.protocol_binding == service.REST_BINDING
    skills = {s.id for s in card.skills}
    assert {"find_agents", "publish_task", "accept_task", "complete_task", "rate_agent"} <= skills
    scheme = card.security_schemes["bearer"]
    assert scheme.WhichOneof("scheme") == "http_auth_security_scheme"
    assert scheme.http_auth_security_scheme.scheme == "Bearer"
    assert list(card.security_requirements[0].schemes) == ["bearer"]
    params = extension(card, service.NETWORK_EXTENSION)
    assert params["openapi_url"] == "http://localhost/v1/openapi.json"
    assert params["agent_card_url_template"].endswith("/v1/agents/{agent_id}/agent-card.json")
    assert r.headers["Cache-Control"] == f"public, max-age={service.NETWORK_MAX_AGE_S}"
    assert r.headers["ETag"].startswith('"') and len(r.headers["ETag"]) > 10


def test_network_card_lists_the_configured_urls(make_app: Callable[..., Any]) -> None:
    app = make_app(public_url="https://api.example.com/", mcp_url="https://mcp.example.com/mcp")
    card = parse(Api(test_client=app.test_client()).get(NETWORK))
    rest, mcp_iface = card.supported_interfaces
    assert rest.url == "https://api.example.com/v1"
    assert (mcp_iface.url, mcp_iface.protocol_binding) == (
        "https://mcp.example.com/mcp",
        service.MCP_BINDING,
    )
    assert card.documentation_url == "https://api.example.com/docs"
    assert extension(card, service.NETWORK_EXTENSION)["mcp_url"] == "https://mcp.example.com/mcp"


def test_304_on_if_none_match_and_200_otherwise(api: Api) -> None:
    first = api.get(NETWORK)
    etag = first.headers["ETag"]
    again = api.get(NETWORK, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body is None  # no body
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    listed = api.get(NETWORK, headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status == 304
    stale = api.get(NETWORK, headers={"If-None-Match": '"not-the-current-one"'})
    assert stale.status == 200 and stale.body == first.body
    assert api.get(NETWORK, headers={"If-None-Match": "*"}).status == 304


def test_node_card_from_the_profile(api: Api) -> None:
    key = api.register("writer_01", capabilities=["text_generation", "translation"])
    r = api.get(card_path("WRITER_01"))  # no key; ids are case-insensitive like the profile
    card = parse(r)
    assert card.name == "writer_01"
    assert [s.id for s in card.skills] == ["text_generation", "translation"]
    assert [list(s.tags) for s in card.skills] == [["text_generation"], ["translation"]]
    [iface] = card.supported_interfaces  # no endpoint: reachable through the network only
    assert (iface.url, iface.tenant) == ("http://localhost/v1", "writer_01")
    trust = extension(card, service.TRUST_EXTENSION)
    assert trust == {
        "agent_id": "writer_01",
        "trust_score": 0.5,
        "ratings_count": 0,
        "tasks_completed": 0,
        "profile_url": "http://localhost/v1/agents/writer_01",
        "trust_url": "http://localhost/v1/trust/writer_01",
    }
    profile = api.get("/v1/agents/writer_01", key=key).data
    assert card.version == profile["updated_at"]
    assert r.headers["Cache-Control"] == f"public, max-age={service.AGENT_MAX_AGE_S}"


def test_node_card_changes_with_its_capabilities_and_endpoint(api: Api) -> None:
    key = api.register("coder_01", capabilities=["coding"])
    before = api.get(card_path("coder_01"))
    etag = before.headers["ETag"]
    assert api.get(card_path("coder_01"), headers={"If-None-Match": etag}).status == 304
    changed = api.put(
        "/v1/agents/coder_01",
        key=key,
        json={"capabilities": ["coding", "code_review"], "endpoint": "https://coder.example/a2a"},
    )
    assert changed.status == 200, changed.body
    after = api.get(card_path("coder_01"), headers={"If-None-Match": etag})
    assert after.status == 200  # the old ETag no longer matches
    assert after.headers["ETag"] != etag
    card = parse(after)
    assert [s.id for s in card.skills] == ["coding", "code_review"]
    first, network = card.supported_interfaces
    assert (first.url, first.protocol_binding) == (
        "https://coder.example/a2a",
        service.NODE_ENDPOINT_BINDING,
    )
    assert network.tenant == "coder_01"
    new = api.get(card_path("coder_01"), headers={"If-None-Match": after.headers["ETag"]})
    assert new.status == 304


def test_node_card_changes_with_its_trust(make_app: Callable[..., Any]) -> None:
    market = Market(make_app())
    boss = market.register("boss_01")
    worker = market.register("worker_01", ["coding"])
    before = market.api.get(card_path("worker_01"))
    trust_before = extension(parse(before), service.TRUST_EXTENSION)
    task_id = market.done_task(boss, worker, 200)
    rated = market.rate(boss, agent_id="worker_01", task_id=task_id, quality_score=5, on_time=True)
    assert rated.status == 201, rated.body
    after = market.api.get(
        card_path("worker_01"), headers={"If-None-Match": before.headers["ETag"]}
    )
    assert after.status == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    trust = extension(parse(after), service.TRUST_EXTENSION)
    profile = market.api.get("/v1/agents/worker_01", key=worker).data
    assert trust["trust_score"] == profile["trust_score"] == rated.data["trust_score"]
    assert trust["trust_score"] != trust_before["trust_score"]
    assert (trust["ratings_count"], trust["tasks_completed"]) == (1, 1)
    assert (trust_before["ratings_count"], trust_before["tasks_completed"]) == (0, 0)


def test_unknown_agent_is_a_404_envelope(api: Api) -> None:
    r = api.get(card_path("nobody_here"))
    assert r.status == 404
    assert r.body["code"] == 404 and r.body["error"] == "agent_not_found"
    assert r.body["data"] is None and "nobody_here" in r.body["message"]
    en = api.get(card_path("nobody_here"), headers={"Accept-Language": "en"})
    assert en.body["message"] == "Agent not found: nobody_here"
    too_long = api.get(card_path("x" * 65))
    assert too_long.status == 400 and too_long.body["error"] == "validation_failed"


def test_cards_need_no_key_but_are_limited_per_ip(make_app: Callable[..., Any]) -> None:
    api = Api(test_client=make_app(rate_limit="3/minute").test_client())
    api.register("limited_01")
    # A bad key is ignored rather than refused: the card is public.
    assert api.get(NETWORK, headers={"Authorization": "Bearer nonsense"}).status == 200
    assert api.get(card_path("limited_01")).status == 200
    assert api.get(card_path("limited_01")).status == 200
    refused = api.get(card_path("limited_01"))
    assert refused.status == 429 and refused.body["error"] == "rate_limited"
    assert "Retry-After" in refused.headers


def test_cards_are_in_the_openapi_document(api: Api) -> None:
    spec = api.get("/v1/openapi.json").body
    for path in (NETWORK, "/v1/agents/{agent_id}/agent-card.json"):
        op = spec["paths"][path]["get"]
        assert op["security"] == [], path
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/AgentCard"
        }
        assert "304" in op["responses"] and "429" in op["responses"]
    node = spec["paths"]["/v1/agents/{agent_id}/agent-card.json"]["get"]
    assert node["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert set(spec["components"]["schemas"]["AgentCard"]["required"]) >= {
        "name",
        "description",
        "supportedInterfaces",
        "version",
        "capabilities",
        "defaultInputModes",
        "defaultOutputModes",
        "skills",
    }


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_cards_are_read_only(api: Api, method: str) -> None:
    assert api.request(method, NETWORK).status == 405


def test_a2a_client_resolves_both_cards_from_a_live_server(
    start_server: Callable[..., LiveServer],
) -> None:
    """a2a-sdk's own client (A2ACardResolver) discovers the network at its well-known URL
    and a node at its card URL, over real HTTP; an unknown node fails with 404."""
    import anyio
    import httpx
    from a2a.client.card_resolver import A2ACardResolver
    from a2a.client.errors import AgentCardResolutionError

    server = start_server()
    server.api.register("live_node", capabilities=["summarize"])

    async def resolve() -> tuple[AgentCard, AgentCard, int | None]:
        async with httpx.AsyncClient(timeout=30) as http:
            resolver = A2ACardResolver(http, server.base_url)
            network = await resolver.get_agent_card()
            node = await resolver.get_agent_card(card_path("live_node"))
            try:
                await resolver.get_agent_card(card_path("no_such_node"))
            except AgentCardResolutionError as err:
                return network, node, err.status_code
            raise AssertionError("an unknown node resolved")

    network, node, missing = anyio.run(resolve)
    assert network.supported_interfaces[0].url == f"{server.base_url}/v1"
    assert [s.id for s in node.skills] == ["summarize"]
    assert node.supported_interfaces[0].tenant == "live_node"
    assert missing == 404


def test_card_urls_must_be_http_urls() -> None:
    from pydantic import ValidationError

    from aipod_api.settings import Settings

    assert Settings(public_url="https://api.example.com/").public_url == "https://api.example.com"
    assert Settings(mcp_url="").mcp_url is None
    for bad in ("ftp://example.com", "example.com", "https://exa mple.com"):
        with pytest.raises(ValidationError):
            Settings(public_url=bad)
