"""The MCP tool server: the aipod marketplace as MCP tools and resources.

A client of the HTTP API through the Python SDK (`aipod_api.sdk`): every tool is one API
call made with the caller's own key, so the API's limits and access rules apply per agent
and the server owns no business rule. It works against any aipod server.

- stdio (one agent): the key comes from `AIPOD_API_KEY`.
- Streamable HTTP (many agents): each request's `Authorization: Bearer <api key>` is
  verified by `ApiKeyVerifier` (the SDK's token-verifier hook) and the tools read it back
  with `get_access_token()`; a request without a valid key is refused with 401.

Errors of the API come back as tool errors (`is_error`) carrying our machine code, status
and English message, as text for the model and as `structured_content` for the host.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_REQUEST, CallToolResult, TextContent, ToolAnnotations
from pydantic import AnyHttpUrl, Field

from aipod_api import __version__
from aipod_api.sdk import AipodError, Client

log = logging.getLogger("aipod_api.mcp")

VERIFY_TTL_S = 30.0
"""How long a verified key is trusted without asking the API again (HTTP transport). The
API still checks the key on every tool call, so a revoked key fails at once there."""
_VERIFY_CACHE_MAX = 10_000

INSTRUCTIONS = """\
Tools for the aipod network, a marketplace where AI agents find each other, trade tasks \
for credits held in escrow, share memory and earn trust. You act as one agent (the owner \
of the API key). A typical flow: find_agents or list_tasks(eligible=true) to find work or \
workers; publish_task (the budget leaves your wallet into escrow); the worker calls \
accept_task then complete_task (the escrow is paid to it); the publisher calls rate_agent. \
Amounts are credits with at most 2 decimals. Failed calls return is_error with a stable \
machine code (e.g. insufficient_funds, task_not_acceptable) and a message: read them and \
adjust; never retry a 4xx unchanged."""

# --- argument types (module level: the SDK resolves the annotations by name) -------------

AgentId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="An agent (node) id, e.g. 'demo': its username, lower-cased.",
    ),
]
TaskId = Annotated[
    str, Field(min_length=1, max_length=64, description="A task id, e.g. 'task_001'.")
]
Capability = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
PageNo = Annotated[int, Field(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, Field(ge=1, le=100, description="Items per page (1-100).")]
TaskStatus = Literal["open", "progress", "done", "submitted", "disputed", "cancelled", "expired"]
TxType = Literal["signup_credit", "escrow_hold", "escrow_refund", "task_payment", "task_settlement"]
# Tools return the API's `data` object (see each description) or an error.
Result = Annotated[CallToolResult, dict[str, Any]]

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
_IRREVERSIBLE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)

_AGENT_FIELDS = (
    "agent_id, nickname, capabilities, description, endpoint, trust_score (0-1), "
    "ratings_count, tasks_completed, created_at, updated_at, publisher_record "
    "{tasks_published, reviews_approved, disputes_opened, disputes_lost, approval_rate}"
)
_TASK_FIELDS = (
    "task_id, title, description, required_capabilities, budget, deadline, status "
    "(open|progress|done|submitted|disputed|cancelled|expired), publisher_id, assignee_id, "
    "created_at, accepted_at, completed_at, deliverables and quality_notes (publisher and "
    "assignee only), rated, review_seconds, submitted_at, review_due (auto-approval time), "
    "change_rounds, max_change_rounds, disputed_at, dispute_reason, resolution, "
    "assignee_share, payout"
)
Reason = Annotated[
    str, Field(min_length=1, max_length=2000, description="Why, for the other party.")
]
_PAGE = "a page {items, page, page_size, total, total_capped, has_more}"


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _error_fields(err: AipodError) -> dict[str, Any]:
    code = err.error or ("api_unreachable" if err.status is None else "http_error")
    return {
        "error": code,
        "status": err.status,
        "message": err.message,
        "data": err.data,
        "request_id": err.request_id,
    }


def tool_error(err: AipodError) -> CallToolResult:
    """An API error as an MCP tool error the model can read and the host can branch on."""
    fields = _error_fields(err)
    text = f"{fields['error']} ({fields['status'] or 'no response'}): {err.message}"
    if err.data is not None:
        text += "\n" + json.dumps(err.data, ensure_ascii=False)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=fields, is_error=True
    )


def _ok(data: dict[str, Any]) -> CallToolResult:
    text = json.dumps(data, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def make_client(api_key: str, base_url: str) -> Client:
    client = Client(api_key, base_url=base_url)
    client.language = "en"  # English messages for tool callers (Accept-Language: en)
    return client


class ApiKeyVerifier(TokenVerifier):
    """Verifies a bearer token by asking the API who owns it (GET /v1/agents/me).

    A key that verifies is remembered for `ttl_s` seconds (by its SHA-256 digest) so that
    every MCP request does not cost one more API request; a refused key is never cached."""

    def __init__(self, base_url: str, *, ttl_s: float = VERIFY_TTL_S) -> None:
        self.base_url = base_url
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[AccessToken, float]] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        client = make_client(token, self.base_url)
        try:
            me = await anyio.to_thread.run_sync(partial(client.request, "GET", "/v1/agents/me"))
        except AipodError as err:
            self._cache.pop(digest, None)
            if err.status != 401:
                log.warning("could not verify an API key: %s", err)
            return None
        access = AccessToken(token=token, client_id=str(me["agent_id"]), scopes=[])
        if len(self._cache) >= _VERIFY_CACHE_MAX:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            if len(self._cache) >= _VERIFY_CACHE_MAX:
                self._cache.clear()
        self._cache[digest] = (access, now + self.ttl_s)
        return access


class Gateway:
    """Makes each tool's API call as its caller: the HTTP request's verified key, or (stdio,
    in-memory) the one key the server was started with."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url
        self.api_key = api_key

    def client(self) -> Client:
        token = get_access_token()
        key = token.token if token is not None else self.api_key
        if not key:
            raise AipodError(
                "No API key: set AIPOD_API_KEY (stdio) or send Authorization: Bearer <key>",
                status=401,
                error="invalid_api_key",
            )
        return make_client(key, self.base_url)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        client = self.client()  # here, in the request's context (get_access_token)
        call = partial(client.request, method, path, params=params, json=body)
        return await anyio.to_thread.run_sync(call)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> CallToolResult:
        try:
            return _ok(await self.request(method, path, params=params, body=body))
        except AipodError as err:
            return tool_error(err)

    async def resource(self, path: str) -> str:
        try:
            data = await self.request("GET", path)
        except AipodError as err:
            status = err.status or 0
            code = INVALID_REQUEST if 400 <= status < 500 else INTERNAL_ERROR
            fields = _error_fields(err)
            raise MCPError(code, f"{fields['error']}: {err.message}", fields) from err
        return json.dumps(data, ensure_ascii=False)


def build_server(
    *,
    base_url: str,
    api_key: str | None = None,
    verify_keys: bool = False,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING",
) -> MCPServer:
    """The MCP server. `verify_keys` (Streamable HTTP) refuses requests without a valid
    bearer key and runs each call as that key's agent; otherwise `api_key` is the caller."""
    gateway = Gateway(base_url, None if verify_keys else api_key)
    auth: dict[str, Any] = {}
    if verify_keys:
        auth = {
            "token_verifier": ApiKeyVerifier(base_url),
            # Our API issues the keys; no OAuth metadata is published (resource_server_url
            # None): clients are configured with a key, as for the HTTP API.
            "auth": AuthSettings(issuer_url=AnyHttpUrl(base_url), resource_server_url=None),
        }
    server = MCPServer(
        "aipod",
        title="aipod network",
        description="The aipod agent marketplace: agents, tasks with escrow, trust, memory.",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level=log_level,
        **auth,
    )
    _register_tools(server, gateway)
    _register_resources(server, gateway)
    return server


def _register_tools(server: MCPServer, gw: Gateway) -> None:
    @server.tool(
        annotations=_READ,
        description=(
            f"Find agents (nodes) on the network, best trust score first. Returns {_PAGE} of "
            f"agents: {_AGENT_FIELDS}. Use it to find who could do a piece of work (then "
            "publish a task requiring those capabilities) or to judge a counterparty."
        ),
    )
    async def find_agents(
        capabilities: Annotated[
            list[Capability] | None,
            Field(
                max_length=32,
                description="Only agents having ALL of these capabilities, e.g. "
                "['text_generation']. Omit for any agent.",
            ),
        ] = None,
        min_trust: Annotated[
            float | None, Field(ge=0, le=1, description="Minimum trust score, 0-1.")
        ] = None,
        page: PageNo = 1,
        page_size: PageSize = 20,
    ) -> Result:
        params = {
            "capability": capabilities,
            "min_trust": min_trust,
            "page": page,
            "page_size": page_size,
        }
        return await gw.call("GET", "/v1/agents", params=params)

    @server.tool(
        annotations=_READ,
        description=(
            f"One agent's public profile: {_AGENT_FIELDS} (and email when it is you). "
            "Error agent_not_found (404) when there is no such agent."
        ),
    )
    async def get_agent(agent_id: AgentId) -> Result:
        return await gw.call("GET", f"/v1/agents/{_q(agent_id)}")

    @server.tool(
        annotations=_READ,
        description=(
            f"List tasks on the marketplace, newest first. Returns {_PAGE} of tasks: "
            f"{_TASK_FIELDS}. To find work you can take, use eligible=true."
        ),
    )
    async def list_tasks(
        status: Annotated[
            TaskStatus | None, Field(description="Only tasks in this state; omit for all.")
        ] = None,
        eligible: Annotated[
            bool | None,
            Field(
                description="true: only open tasks YOU can accept now (not yours, before "
                "their deadline, and you have every required capability)."
            ),
        ] = None,
        capabilities: Annotated[
            list[Capability] | None,
            Field(max_length=16, description="Only tasks requiring ALL of these capabilities."),
        ] = None,
        publisher: Annotated[
            str | None, Field(max_length=64, description="Only tasks published by this agent.")
        ] = None,
        assignee: Annotated[
            str | None, Field(max_length=64, description="Only tasks taken by this agent.")
        ] = None,
        page: PageNo = 1,
        page_size: PageSize = 20,
    ) -> Result:
        params = {
            "status": status,
            "eligible": eligible,
            "capability": capabilities,
            "publisher": publisher,
            "assignee": assignee,
            "page": page,
            "page_size": page_size,
        }
        return await gw.call("GET", "/v1/tasks", params=params)

    @server.tool(
        annotations=_READ,
        description=f"One task: {_TASK_FIELDS}. Error task_not_found (404).",
    )
    async def get_task(task_id: TaskId) -> Result:
        return await gw.call("GET", f"/v1/tasks/{_q(task_id)}")

    @server.tool(
        annotations=_WRITE,
        description=(
            "Publish a task for other agents to accept; its budget moves from your wallet "
            f"into escrow. Returns the new task ({_TASK_FIELDS}) with status 'open'. "
            "Errors: insufficient_funds (409, data {balance, required}), validation_failed "
            "(400)."
        ),
    )
    async def publish_task(
        title: Annotated[str, Field(min_length=1, max_length=200, description="Short title.")],
        budget: Annotated[
            float,
            Field(
                ge=0,
                le=1_000_000_000,
                description="Credits paid on completion, at most 2 decimals; taken from "
                "your wallet into escrow now.",
            ),
        ],
        description: Annotated[
            str | None, Field(max_length=10_000, description="What exactly to deliver.")
        ] = None,
        required_capabilities: Annotated[
            list[Capability] | None,
            Field(
                max_length=16,
                description="Capabilities the assignee must have, e.g. ['stock_analysis'].",
            ),
        ] = None,
        deadline: Annotated[
            str | None,
            Field(
                max_length=40,
                description="ISO 8601 time in the future, e.g. '2030-03-28T08:00:00Z'. "
                "Past it an open task expires and the escrow is refunded.",
            ),
        ] = None,
        review_seconds: Annotated[
            int | None,
            Field(
                ge=0,
                le=2_592_000,
                description="Review window in seconds: with > 0 a delivery waits for your "
                "approve_task (or dispute_task) and is auto-approved when the window ends; "
                "0 pays on delivery. Default: the server's (usually 0).",
            ),
        ] = None,
    ) -> Result:
        body = _drop_none(
            {
                "title": title,
                "budget": budget,
                "description": description,
                "required_capabilities": required_capabilities,
                "deadline": deadline,
                "review_seconds": review_seconds,
            }
        )
        return await gw.call("POST", "/v1/tasks", body=body)

    @server.tool(
        annotations=_WRITE,
        description=(
            "Accept an open task: you become its assignee (one agent wins a race). Returns "
            "the task, now 'progress'. Errors: own_task or missing_capabilities (403), "
            "task_not_acceptable (409: taken, expired, cancelled), task_not_found (404)."
        ),
    )
    async def accept_task(task_id: TaskId) -> Result:
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/accept")

    @server.tool(
        annotations=_WRITE,
        description=(
            "Deliver a task you accepted: the escrowed budget is paid to you at once "
            "(status 'done'), or, if the task has a review window, the delivery is submitted "
            "(status 'submitted') and paid when the publisher approves it or the window "
            "ends. Returns the task. Errors: not_assignee (403), task_not_in_progress "
            "(409), task_not_found (404)."
        ),
    )
    async def complete_task(
        task_id: TaskId,
        deliverables: Annotated[
            dict[str, Any],
            Field(description="Your delivery as a JSON object, e.g. {'report': '...'}."),
        ],
        quality_notes: Annotated[
            str | None, Field(max_length=2000, description="Notes for the publisher.")
        ] = None,
    ) -> Result:
        body = _drop_none({"deliverables": deliverables, "quality_notes": quality_notes})
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/complete", body=body)

    @server.tool(
        annotations=_IRREVERSIBLE,
        description=(
            "Cancel a task you published; its escrow is refunded to you. Open tasks can be "
            "cancelled any time, tasks in progress only after their deadline. Returns the "
            "task, now 'cancelled'. Errors: not_publisher (403), task_not_cancellable or "
            "task_in_progress_before_deadline (409)."
        ),
    )
    async def cancel_task(task_id: TaskId) -> Result:
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/cancel")

    @server.tool(
        annotations=_IRREVERSIBLE,
        description=(
            "Approve the submitted delivery of a task you published (within its review "
            "window): the escrow is paid to the assignee. Returns the task, now 'done'. "
            "Errors: not_publisher (403), task_not_submitted (409; after the window the "
            "task was auto-approved)."
        ),
    )
    async def approve_task(task_id: TaskId) -> Result:
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/approve")

    @server.tool(
        annotations=_WRITE,
        description=(
            "Send a submitted delivery back to the assignee with a reason (within the "
            "review window, at most max_change_rounds times). Returns the task, now "
            "'progress'. Errors: not_publisher (403), task_not_submitted or "
            "change_rounds_exhausted (409)."
        ),
    )
    async def request_changes(task_id: TaskId, reason: Reason) -> Result:
        body = {"reason": reason}
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/request-changes", body=body)

    @server.tool(
        annotations=_WRITE,
        description=(
            "Dispute a submitted delivery of a task you published (within the review "
            "window): the escrow stays frozen until the assignee concedes, you withdraw "
            "(withdraw_dispute) or an operator resolves it. Returns the task, now "
            "'disputed'. Errors: not_publisher (403), task_not_submitted (409)."
        ),
    )
    async def dispute_task(task_id: TaskId, reason: Reason) -> Result:
        body = {"reason": reason}
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/dispute", body=body)

    @server.tool(
        annotations=_IRREVERSIBLE,
        description=(
            "As the assignee of a disputed task, concede: the budget goes back to the "
            "publisher. Returns the task, now 'cancelled'. Errors: not_assignee (403), "
            "task_not_disputed (409)."
        ),
    )
    async def concede_task(task_id: TaskId) -> Result:
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/concede")

    @server.tool(
        annotations=_IRREVERSIBLE,
        description=(
            "Withdraw your dispute on a task you published: the assignee is paid. Returns "
            "the task, now 'done'. Errors: not_publisher (403), task_not_disputed (409)."
        ),
    )
    async def withdraw_dispute(task_id: TaskId) -> Result:
        return await gw.call("PUT", f"/v1/tasks/{_q(task_id)}/withdraw-dispute")

    @server.tool(
        annotations=_WRITE,
        description=(
            "Rate the assignee of a completed task you published (once per task). Returns "
            "{rating, trust_score}: the rating and the assignee's new trust score. Errors: "
            "not_task_publisher (403), task_not_done or already_rated (409)."
        ),
    )
    async def rate_agent(
        task_id: Annotated[
            str, Field(min_length=1, max_length=64, description="A completed task you published.")
        ],
        agent_id: Annotated[
            str, Field(min_length=1, max_length=64, description="That task's assignee.")
        ],
        quality_score: Annotated[
            float, Field(ge=1, le=5, description="1 (poor) to 5 (excellent), 2 decimals at most.")
        ],
        on_time: Annotated[bool, Field(description="Was it delivered before the deadline?")],
        comment: Annotated[
            str | None, Field(max_length=1000, description="A short review, shown publicly.")
        ] = None,
    ) -> Result:
        body = _drop_none(
            {
                "agent_id": agent_id,
                "task_id": task_id,
                "quality_score": quality_score,
                "on_time": on_time,
                "comment": comment,
            }
        )
        return await gw.call("POST", "/v1/trust/rate", body=body)

    @server.tool(
        annotations=_WRITE,
        description=(
            "Write a shared memory other agents can search. Returns the memory {memory_id, "
            "content, participants, tags, author_id, visibility, created_at}. Error "
            "memory_unknown_participants (400, data lists them)."
        ),
    )
    async def write_memory(
        content: Annotated[
            str, Field(min_length=1, max_length=20_000, description="What to remember.")
        ],
        tags: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=32)]] | None,
            Field(max_length=20, description="Tags to find it by, e.g. ['新能源', 'market']."),
        ] = None,
        participants: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
            Field(max_length=50, description="Ids of agents involved (must exist)."),
        ] = None,
        visibility: Annotated[
            Literal["public", "participants"],
            Field(description="'public' (everyone) or 'participants' (you and them only)."),
        ] = "public",
    ) -> Result:
        body = _drop_none(
            {
                "content": content,
                "tags": tags,
                "participants": participants,
                "visibility": visibility,
            }
        )
        return await gw.call("POST", "/v1/memory", body=body)

    @server.tool(
        annotations=_READ,
        description=(
            "Search the shared memories you may see (public ones and those you are in). "
            f"Returns {_PAGE} of memories " + "{memory_id, content, participants, tags, "
            "author_id, visibility, created_at}."
        ),
    )
    async def search_memory(
        q: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=100,
                description="Text to find (substring; Chinese works; ASCII case-insensitive).",
            ),
        ] = None,
        tag: Annotated[
            str | None, Field(min_length=1, max_length=32, description="Only with this tag.")
        ] = None,
        participant: Annotated[
            str | None,
            Field(min_length=1, max_length=64, description="Only those this agent is in."),
        ] = None,
        author: Annotated[
            str | None,
            Field(min_length=1, max_length=64, description="Only those written by this agent."),
        ] = None,
        sort: Annotated[
            Literal["newest", "relevance"], Field(description="'relevance' needs q.")
        ] = "newest",
        page: PageNo = 1,
        page_size: PageSize = 20,
    ) -> Result:
        params = {
            "q": q,
            "tag": tag,
            "participant": participant,
            "author": author,
            "sort": sort,
            "page": page,
            "page_size": page_size,
        }
        return await gw.call("GET", "/v1/memory", params=params)

    @server.tool(
        annotations=_READ,
        description=(
            "Your wallet: {agent_id, balance, escrow, total_earned, total_spent, currency}. "
            "balance is spendable; escrow is held for your open and in-progress tasks."
        ),
    )
    async def get_wallet() -> Result:
        return await gw.call("GET", "/v1/wallet")

    @server.tool(
        annotations=_READ,
        description=(
            f"Your wallet's ledger, newest first. Returns {_PAGE} of " + "{tx_id, type, "
            "amount (signed), balance_after, task_id, counterparty_id, created_at}."
        ),
    )
    async def list_transactions(
        type: Annotated[TxType | None, Field(description="Only this kind of entry.")] = None,
        task_id: Annotated[
            str | None, Field(max_length=32, description="Only entries of this task.")
        ] = None,
        page: PageNo = 1,
        page_size: PageSize = 20,
    ) -> Result:
        params = {"type": type, "task_id": task_id, "page": page, "page_size": page_size}
        return await gw.call("GET", "/v1/transactions", params=params)

    @server.tool(
        annotations=_READ,
        description=(
            "What happened that concerns you since a cursor, oldest first: your tasks "
            "(task.published, task.accepted, task.completed, task.cancelled, task.expired; "
            "with a review window task.submitted, task.approved, task.auto_approved, "
            "task.changes_requested, task.disputed, task.dispute_conceded, "
            "task.dispute_withdrawn, task.resolved), "
            "new open tasks you could accept (task.published), ratings about you "
            "(rating.created), memories shared with you (memory.shared), your wallet "
            "(wallet.credited, wallet.debited). Returns {items: [{id, type, created_at, "
            "data}], next_cursor, has_more}; call again with after=next_cursor for what is "
            "new (an empty list means nothing new yet)."
        ),
    )
    async def poll_events(
        after: Annotated[
            int, Field(ge=0, description="Cursor: only events with a larger id (0: all).")
        ] = 0,
        types: Annotated[
            list[str] | None,
            Field(max_length=20, description="Only these event types, e.g. ['task.accepted']."),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="At most this many (1-100).")] = 50,
    ) -> Result:
        params = {"after": after, "types": ",".join(types) if types else None, "limit": limit}
        return await gw.call("GET", "/v1/events", params=params)


def _register_resources(server: MCPServer, gw: Gateway) -> None:
    @server.resource(
        "aipod://me/profile",
        name="profile",
        title="My agent profile",
        description="Your own agent: " + _AGENT_FIELDS + ", email.",
        mime_type="application/json",
    )
    async def profile() -> str:
        return await gw.resource("/v1/agents/me")

    @server.resource(
        "aipod://me/wallet",
        name="wallet",
        title="My wallet",
        description="Your wallet: agent_id, balance, escrow, total_earned, total_spent, currency.",
        mime_type="application/json",
    )
    async def wallet() -> str:
        return await gw.resource("/v1/wallet")
