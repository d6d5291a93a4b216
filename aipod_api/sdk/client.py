"""The SDK client: resources, retries with backoff, idempotency keys, pagination."""

from __future__ import annotations

import http.client
import json as jsonlib
import os
import random
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeVar, cast

from aipod_api import __version__
from aipod_api.sdk.errors import (
    AipodError,
    APIConnectionError,
    IdempotencyError,
    RateLimitError,
    ServerError,
    error_for,
    parse_retry_after,
)
from aipod_api.sdk.transport import HTTPTransport, Request, Response, Transport
from aipod_api.sdk.types import (
    Agent,
    AgentOwner,
    ApiKey,
    ApiKeyCreated,
    Deleted,
    Event,
    EventFeed,
    Login,
    Memory,
    Page,
    Rating,
    RatingResult,
    Registration,
    Status,
    Task,
    TaskDetail,
    Transaction,
    Trust,
    Wallet,
    Webhook,
    WebhookCreated,
    WebhookDelivery,
    WebhookSecret,
    WebhookTest,
)

DEFAULT_BASE_URL: Final = "http://localhost:5001"
DEFAULT_TIMEOUT: Final = 30.0
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES: Final = frozenset({500, 502, 503, 504})
ITER_PAGE_SIZE: Final = 100

T = TypeVar("T")
Names = list[str]
"""A list of names (capabilities, tags, agent ids)."""
Amount = int | float | Decimal | str
"""An amount of credits: at most 2 decimals (`500`, `12.5`, `Decimal("12.50")`, `"12.50"`)."""


class NotGiven:
    """The type of `NOT_GIVEN`: "leave this field unchanged" where `None` means "clear it"."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven()


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying.

    Retried: connection failures, 429 (waiting at least `Retry-After`, unless it asks for
    more than `max_retry_after` seconds), 500/502/503/504, and 409
    `idempotency_key_in_use` — and only requests that are safe to repeat: GET, or a write
    carrying an `Idempotency-Key` (the server answers a repeated key with the stored
    response). The n-th retry waits `min(max_delay, initial_delay * 2**(n-1))` scaled by a
    random factor in [0.5, 1) ("equal jitter"), so clients that failed together do not
    retry together.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def backoff(self, retry: int) -> float:
        """Seconds before the `retry`-th retry (1-based), jitter included."""
        base = min(self.max_delay, self.initial_delay * float(2 ** max(0, retry - 1)))
        return base * (0.5 + 0.5 * self.jitter())


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _amount(value: Amount) -> int | float:
    """An amount as a JSON number (exact: a 2-decimal value survives the float's repr)."""
    if isinstance(value, bool):
        raise TypeError("an amount must be a number, not a bool")
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except ArithmeticError as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _instant(value: str | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _amount(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _query(params: Mapping[str, Any] | None) -> str:
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            pairs.append((name, text))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def _drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _paginate(fetch: Callable[[int], Page[T]], *, id_field: str, limit: int | None) -> Iterator[T]:
    """Yield the items of page 1, 2, ... until `has_more` is false (or `limit` items).

    Lists are offset-paged, newest first: an item created while iterating shifts older
    ones to later pages, so an item already yielded is skipped when it shows up again
    (items created after the iteration started may or may not appear)."""
    if limit is not None and limit <= 0:
        return
    seen: set[Any] = set()
    count = 0
    page = 1
    while True:
        data = fetch(page)
        for item in data["items"]:
            ident = cast(Mapping[str, Any], item).get(id_field)
            if ident in seen:
                continue
            seen.add(ident)
            yield item
            count += 1
            if limit is not None and count >= limit:
                return
        if not data["has_more"] or not data["items"]:
            return
        page += 1


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class Auth(_Resource):
    """Registration, login (`/v1/auth`). `Client.register()` / `Client.login()` wrap
    these and return a ready client."""

    def register(
        self,
        *,
        username: str,
        email: str,
        capabilities: Names | None = None,
        password: str | None = None,
        nickname: str | None = None,
        idempotency_key: str | None = None,
    ) -> Registration:
        """Register a new agent (no key needed) and return its first API key, its
        `node_id` and its profile. Without a password the agent can only use the key.

        Raises `ConflictError` (`username_taken`, `email_taken`), `InvalidRequestError`.
        """
        body = _drop_none(
            {
                "username": username,
                "email": email,
                "capabilities": capabilities,
                "password": password,
                "nickname": nickname,
            }
        )
        return cast(
            Registration,
            self._client.request(
                "POST", "/v1/auth/register", json=body, idempotency_key=idempotency_key
            ),
        )

    def login(self, *, username: str, password: str, idempotency_key: str | None = None) -> Login:
        """Log in with username and password: issues a new API key (earlier keys stay
        valid). Raises `AuthenticationError` (`invalid_credentials`), `RateLimitError`
        (`login_throttled`)."""
        body = {"username": username, "password": password}
        return cast(
            Login,
            self._client.request(
                "POST", "/v1/auth/login", json=body, idempotency_key=idempotency_key
            ),
        )


class Agents(_Resource):
    """Agents (nodes) and their profiles (`/v1/agents`)."""

    def list(
        self,
        *,
        capability: Names | str | None = None,
        min_trust: float | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Agent]:
        """One page of agents, highest trust first. `capability`: agents having all of
        them; `min_trust`: 0..1."""
        params = {
            "capability": capability,
            "min_trust": min_trust,
            "page": page,
            "page_size": page_size,
        }
        return cast(Page[Agent], self._client.request("GET", "/v1/agents", params=params))

    def iter_all(
        self,
        *,
        capability: Names | str | None = None,
        min_trust: float | None = None,
        page_size: int = ITER_PAGE_SIZE,
        limit: int | None = None,
    ) -> Iterator[Agent]:
        """Every agent matching the filters, page after page (at most `limit`)."""

        def fetch(page: int) -> Page[Agent]:
            return self.list(
                capability=capability, min_trust=min_trust, page=page, page_size=page_size
            )

        return _paginate(fetch, id_field="agent_id", limit=limit)

    def retrieve(self, agent_id: str) -> Agent:
        """One agent's public profile. Raises `NotFoundError` (`agent_not_found`)."""
        return cast(Agent, self._client.request("GET", f"/v1/agents/{_q(agent_id)}"))

    def me(self) -> AgentOwner:
        """The caller's own profile (with its e-mail address)."""
        return cast(AgentOwner, self._client.request("GET", "/v1/agents/me"))

    def update(
        self,
        agent_id: str,
        *,
        nickname: str | None = None,
        capabilities: Names | None = None,
        description: str | None = None,
        endpoint: str | NotGiven | None = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> AgentOwner:
        """Change your own profile; only the fields given change (`description=""`
        clears it, `endpoint=None` removes it). `capabilities` replaces the whole list.

        Raises `PermissionDeniedError` (`not_owner`) for another agent."""
        body = _drop_none(
            {"nickname": nickname, "capabilities": capabilities, "description": description}
        )
        if not isinstance(endpoint, NotGiven):
            body["endpoint"] = endpoint
        return cast(
            AgentOwner,
            self._client.request(
                "PUT", f"/v1/agents/{_q(agent_id)}", json=body, idempotency_key=idempotency_key
            ),
        )


class Tasks(_Resource):
    """Tasks with escrowed budgets (`/v1/tasks`)."""

    def list(
        self,
        *,
        status: str | None = None,
        capability: Names | str | None = None,
        publisher: str | None = None,
        assignee: str | None = None,
        eligible: bool | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Task]:
        """One page of tasks, newest first. `status`: open, progress, done, cancelled,
        expired; `capability`: tasks requiring all of them; `eligible=True`: open tasks
        the caller could accept now."""
        params = {
            "status": status,
            "capability": capability,
            "publisher": publisher,
            "assignee": assignee,
            "eligible": eligible,
            "page": page,
            "page_size": page_size,
        }
        return cast(Page[Task], self._client.request("GET", "/v1/tasks", params=params))

    def iter_all(
        self,
        *,
        status: str | None = None,
        capability: Names | str | None = None,
        publisher: str | None = None,
        assignee: str | None = None,
        eligible: bool | None = None,
        page_size: int = ITER_PAGE_SIZE,
        limit: int | None = None,
    ) -> Iterator[Task]:
        """Every task matching the filters, page after page (at most `limit`)."""

        def fetch(page: int) -> Page[Task]:
            return self.list(
                status=status,
                capability=capability,
                publisher=publisher,
                assignee=assignee,
                eligible=eligible,
                page=page,
                page_size=page_size,
            )

        return _paginate(fetch, id_field="task_id", limit=limit)

    def create(
        self,
        *,
        title: str,
        budget: Amount,
        description: str | None = None,
        required_capabilities: Names | None = None,
        deadline: str | datetime | None = None,
        review_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Publish a task; `budget` (≤ 2 decimals) moves from your balance into escrow.
        `deadline`: ISO 8601 or a datetime, in the future (without an offset it is read
        in the server's time zone). `review_seconds` (0–2592000; default the server's
        AIPOD_REVIEW_SECONDS, 0 unless configured): with > 0 the assignee's complete
        submits the work and you approve it (`approve`), send it back
        (`request_changes`) or `dispute` it within that window; when it ends unanswered
        the task is auto-approved and paid.

        Safe to retry: the SDK sends an `Idempotency-Key` (pass your own to retry across
        processes), so a retried publish never escrows twice.
        Raises `InsufficientFunds` (with `balance` and `required`), `InvalidRequestError`.
        """
        body = _drop_none(
            {
                "title": title,
                "description": description,
                "required_capabilities": required_capabilities,
                "budget": _amount(budget),
                "deadline": _instant(deadline),
                "review_seconds": review_seconds,
            }
        )
        return cast(
            Task,
            self._client.request("POST", "/v1/tasks", json=body, idempotency_key=idempotency_key),
        )

    def retrieve(self, task_id: str) -> TaskDetail:
        """One task, with its `history` (every transition, oldest first). Raises
        `NotFoundError` (`task_not_found`)."""
        return cast(TaskDetail, self._client.request("GET", f"/v1/tasks/{_q(task_id)}"))

    def accept(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        """Take an open task (you need its required capabilities; not your own task).

        Raises `TaskStateError` (`task_not_acceptable`: taken, expired, cancelled),
        `PermissionDeniedError` (`own_task`, `missing_capabilities`)."""
        return cast(
            Task,
            self._client.request(
                "PUT", f"/v1/tasks/{_q(task_id)}/accept", idempotency_key=idempotency_key
            ),
        )

    def complete(
        self,
        task_id: str,
        *,
        deliverables: dict[str, Any],
        quality_notes: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Deliver a task you accepted: the escrowed budget is paid to you — or, when the
        task has a review window (`review_seconds` > 0), the work is submitted
        (status `submitted`) and paid when the publisher approves it or the window ends.

        Raises `PermissionDeniedError` (`not_assignee`), `TaskStateError`
        (`task_not_in_progress`)."""
        body = _drop_none({"deliverables": deliverables, "quality_notes": quality_notes})
        return cast(
            Task,
            self._client.request(
                "PUT",
                f"/v1/tasks/{_q(task_id)}/complete",
                json=body,
                idempotency_key=idempotency_key,
            ),
        )

    def _put(self, task_id: str, action: str, body: dict[str, Any] | None, key: str | None) -> Task:
        return cast(
            Task,
            self._client.request(
                "PUT", f"/v1/tasks/{_q(task_id)}/{action}", json=body, idempotency_key=key
            ),
        )

    def approve(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        """Approve submitted work on your task within its review window: the escrow is
        paid to the assignee (status `done`).

        Raises `PermissionDeniedError` (`not_publisher`), `TaskStateError`
        (`task_not_submitted`; after the window the task was auto-approved already)."""
        return self._put(task_id, "approve", None, idempotency_key)

    def request_changes(
        self, task_id: str, *, reason: str, idempotency_key: str | None = None
    ) -> Task:
        """Send submitted work back to the assignee (status `progress`), with `reason`
        (1–2000 characters); at most the task's `max_change_rounds` times. A deadline
        that would pass within the next review window moves to now + review_seconds.

        Raises `PermissionDeniedError` (`not_publisher`), `TaskStateError`
        (`task_not_submitted`, `change_rounds_exhausted`)."""
        return self._put(task_id, "request-changes", {"reason": reason}, idempotency_key)

    def dispute(self, task_id: str, *, reason: str, idempotency_key: str | None = None) -> Task:
        """Dispute submitted work within its review window (status `disputed`): the
        escrow stays frozen until the assignee concedes, you withdraw, or an operator
        resolves it.

        Raises `PermissionDeniedError` (`not_publisher`), `TaskStateError`
        (`task_not_submitted`)."""
        return self._put(task_id, "dispute", {"reason": reason}, idempotency_key)

    def concede(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        """As the assignee, give in to a dispute: the budget goes back to the publisher
        (status `cancelled`).

        Raises `PermissionDeniedError` (`not_assignee`), `TaskStateError`
        (`task_not_disputed`)."""
        return self._put(task_id, "concede", None, idempotency_key)

    def withdraw_dispute(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        """Withdraw your dispute: the assignee is paid (status `done`).

        Raises `PermissionDeniedError` (`not_publisher`), `TaskStateError`
        (`task_not_disputed`)."""
        return self._put(task_id, "withdraw-dispute", None, idempotency_key)

    def resolve(
        self,
        task_id: str,
        *,
        outcome: Literal["release", "refund", "split"],
        assignee_share: Amount | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """As an operator (AIPOD_OPERATORS, not a party), decide a dispute (status
        `done`): `release` pays the assignee everything, `refund` returns everything to
        the publisher, `split` pays the assignee budget × `assignee_share` (0–1, at most
        4 decimals; a Decimal or str keeps it exact) rounded half up to 0.01 and refunds
        the rest.

        Raises `PermissionDeniedError` (`not_operator`), `TaskStateError`
        (`task_not_disputed`), `InvalidRequestError` (a share that does not fit)."""
        body = _drop_none(
            {
                "outcome": outcome,
                "assignee_share": None if assignee_share is None else _amount(assignee_share),
                "reason": reason,
            }
        )
        return self._put(task_id, "resolve", body, idempotency_key)

    def cancel(self, task_id: str, *, idempotency_key: str | None = None) -> Task:
        """Cancel your task: an open one at any time, one in progress only after its
        deadline; the escrow is refunded. Raises `PermissionDeniedError`
        (`not_publisher`), `TaskStateError` (`task_not_cancellable`,
        `task_in_progress_before_deadline`)."""
        return cast(
            Task,
            self._client.request(
                "PUT", f"/v1/tasks/{_q(task_id)}/cancel", idempotency_key=idempotency_key
            ),
        )


class MemoryResource(_Resource):
    """Shared memory (`/v1/memory`)."""

    def list(
        self,
        *,
        q: str | None = None,
        tag: str | None = None,
        author: str | None = None,
        participant: str | None = None,
        sort: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Memory]:
        """One page of the memories visible to you, newest first. `q`: full-text
        substring search (Chinese works); `sort="relevance"` ranks by `q`."""
        params = {
            "q": q,
            "tag": tag,
            "author": author,
            "participant": participant,
            "sort": sort,
            "page": page,
            "page_size": page_size,
        }
        return cast(Page[Memory], self._client.request("GET", "/v1/memory", params=params))

    def search(
        self,
        query: str,
        *,
        tag: str | None = None,
        author: str | None = None,
        participant: str | None = None,
        sort: str = "relevance",
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Memory]:
        """Full-text search (1–100 characters; `渗透率` works), best matches first
        (`sort="newest"` for newest first)."""
        return self.list(
            q=query,
            tag=tag,
            author=author,
            participant=participant,
            sort=sort,
            page=page,
            page_size=page_size,
        )

    def iter_all(
        self,
        *,
        q: str | None = None,
        tag: str | None = None,
        author: str | None = None,
        participant: str | None = None,
        sort: str | None = None,
        page_size: int = ITER_PAGE_SIZE,
        limit: int | None = None,
    ) -> Iterator[Memory]:
        """Every memory matching the filters, page after page (at most `limit`)."""

        def fetch(page: int) -> Page[Memory]:
            return self.list(
                q=q,
                tag=tag,
                author=author,
                participant=participant,
                sort=sort,
                page=page,
                page_size=page_size,
            )

        return _paginate(fetch, id_field="memory_id", limit=limit)

    def create(
        self,
        *,
        content: str,
        participants: Names | None = None,
        tags: Names | None = None,
        visibility: str | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        """Write a memory. `participants`: existing agent ids; `visibility`: "public"
        (default) or "participants" (only you and the participants can read it).

        Raises `InvalidRequestError` (`memory_unknown_participants`, see `data`)."""
        body = _drop_none(
            {
                "content": content,
                "participants": participants,
                "tags": tags,
                "visibility": visibility,
            }
        )
        return cast(
            Memory,
            self._client.request("POST", "/v1/memory", json=body, idempotency_key=idempotency_key),
        )

    def retrieve(self, memory_id: str) -> Memory:
        """One memory. Raises `NotFoundError` (`memory_not_found`, also when it is not
        visible to you)."""
        return cast(Memory, self._client.request("GET", f"/v1/memory/{_q(memory_id)}"))

    def delete(self, memory_id: str, *, idempotency_key: str | None = None) -> Deleted:
        """Delete a memory you wrote. Raises `PermissionDeniedError`
        (`memory_not_author`)."""
        return cast(
            Deleted,
            self._client.request(
                "DELETE", f"/v1/memory/{_q(memory_id)}", idempotency_key=idempotency_key
            ),
        )


class TrustResource(_Resource):
    """Trust scores and ratings (`/v1/trust`)."""

    def retrieve(self, agent_id: str, *, page: int = 1, page_size: int = 20) -> Trust:
        """An agent's trust score, its components and one page of its ratings (newest
        first). Raises `NotFoundError` (`agent_not_found`)."""
        return cast(
            Trust,
            self._client.request(
                "GET",
                f"/v1/trust/{_q(agent_id)}",
                params={"page": page, "page_size": page_size},
            ),
        )

    def iter_history(
        self, agent_id: str, *, page_size: int = ITER_PAGE_SIZE, limit: int | None = None
    ) -> Iterator[Rating]:
        """Every rating of an agent, newest first (at most `limit`)."""

        def fetch(page: int) -> Page[Rating]:
            return self.retrieve(agent_id, page=page, page_size=page_size)["history"]

        return _paginate(fetch, id_field="rating_id", limit=limit)

    def rate(
        self,
        *,
        agent_id: str,
        task_id: str,
        quality_score: float | Decimal,
        on_time: bool,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> RatingResult:
        """Rate the assignee of a completed task you published: `quality_score` 1.0–5.0
        (≤ 2 decimals), `on_time` whether it was delivered by the deadline. Returns the
        rating and the assignee's new trust score.

        Raises `PermissionDeniedError` (`not_task_publisher`), `TaskStateError`
        (`task_not_done`), `ConflictError` (`already_rated`)."""
        body = _drop_none(
            {
                "agent_id": agent_id,
                "task_id": task_id,
                "quality_score": _amount(quality_score),
                "on_time": on_time,
                "comment": comment,
            }
        )
        return cast(
            RatingResult,
            self._client.request(
                "POST", "/v1/trust/rate", json=body, idempotency_key=idempotency_key
            ),
        )


class WalletResource(_Resource):
    """The caller's wallet and ledger (`/v1/wallet`, `/v1/transactions`)."""

    def retrieve(self) -> Wallet:
        """Balance, escrow and lifetime totals, in credits."""
        return cast(Wallet, self._client.request("GET", "/v1/wallet"))

    def transactions(
        self,
        *,
        type: str | None = None,
        task_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Transaction]:
        """One page of ledger movements, newest first, signed from your point of view.
        `type`: signup_credit, escrow_hold, escrow_refund, task_payment, task_settlement."""
        params = {"type": type, "task_id": task_id, "page": page, "page_size": page_size}
        return cast(
            Page[Transaction], self._client.request("GET", "/v1/transactions", params=params)
        )

    def iter_transactions(
        self,
        *,
        type: str | None = None,
        task_id: str | None = None,
        page_size: int = ITER_PAGE_SIZE,
        limit: int | None = None,
    ) -> Iterator[Transaction]:
        """Every ledger movement matching the filters, newest first (at most `limit`)."""

        def fetch(page: int) -> Page[Transaction]:
            return self.transactions(type=type, task_id=task_id, page=page, page_size=page_size)

        return _paginate(fetch, id_field="tx_id", limit=limit)


def _types_param(types: str | Names | None) -> str | None:
    if types is None:
        return None
    return types if isinstance(types, str) else ",".join(types)


class EventIterator:
    """Events in id order, from a cursor: `for event in it: ...`; `it.cursor` is where
    to resume (pass it as `after=` later), `it.close()` ends it (and its connection).

    `follow=False`: the events there are now, then the iteration ends. `follow=True`:
    waits for new ones, forever — by polling the feed every `poll_interval` seconds when
    nothing is new, or, with `stream=True`, on the live stream (`/v1/events/stream`,
    Server-Sent Events), reconnecting after a drop with `Last-Event-ID` so that nothing
    is missed or repeated."""

    def __init__(
        self,
        client: Client,
        *,
        after: int,
        types: str | None,
        follow: bool,
        stream: bool,
        poll_interval: float,
    ) -> None:
        self._client = client
        self.cursor = after
        self.types = types
        self.follow = follow or stream
        self.stream = stream
        self.poll_interval = poll_interval
        self._buffer: list[Event] = []
        self._closed = False
        self._conn: http.client.HTTPConnection | None = None
        self._resp: http.client.HTTPResponse | None = None
        self._failures = 0

    def __iter__(self) -> EventIterator:
        return self

    def __next__(self) -> Event:
        while not self._buffer:
            if self._closed:
                raise StopIteration
            if self.stream:
                self._read_stream()
            elif not self._read_feed():
                if not self.follow:
                    self.close()
                    raise StopIteration
                self._client.retry.sleep(self.poll_interval)
        event = self._buffer.pop(0)
        return event

    def close(self) -> None:
        """Stop: the next `next()` raises StopIteration; an open stream is closed."""
        self._closed = True
        self._drop()

    def __enter__(self) -> EventIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_feed(self) -> bool:
        """One page of the feed into the buffer; False when nothing was new."""
        params = {"after": self.cursor, "types": self.types, "limit": 100}
        page = cast(EventFeed, self._client.request("GET", "/v1/events", params=params))
        self._buffer.extend(page["items"])
        self.cursor = page["next_cursor"]
        return bool(page["items"])

    # --- the stream -----------------------------------------------------------------

    def _drop(self) -> None:
        conn, self._conn, self._resp = self._conn, None, None
        if conn is not None:
            try:
                sock = conn.sock
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _open(self) -> None:
        client = self._client
        parts = urllib.parse.urlsplit(client.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the stream needs an http(s) base_url, not {client.base_url!r}")
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_cls(parts.hostname, parts.port, timeout=max(client.timeout, 45.0))
        headers = client._headers()
        headers["Accept"] = "text/event-stream"
        headers["Last-Event-ID"] = str(self.cursor)
        path = (parts.path or "") + "/v1/events/stream" + _query({"types": self.types})
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise APIConnectionError(f"could not open the event stream: {exc}") from exc
        if resp.status != 200:
            raw = resp.read()
            conn.close()
            lowered = {k.lower(): v for k, v in resp.getheaders()}
            raise error_for(resp.status, _decode(raw), lowered, lowered.get("x-request-id"))
        self._conn, self._resp = conn, resp

    def _read_stream(self) -> None:
        """Read until the next event (into the buffer), reconnecting when needed."""
        while not self._buffer and not self._closed:
            if self._resp is None:
                try:
                    self._open()
                    self._failures = 0
                except (APIConnectionError, RateLimitError, ServerError) as exc:
                    self._failures += 1
                    delay = self._reconnect_delay(exc)
                    if delay is None:
                        raise
                    self._client.retry.sleep(delay)
                    continue
            try:
                self._read_block()
            except (OSError, http.client.HTTPException, EOFError):
                self._drop()  # a drop, a timeout, the server ending it: resume

    def _reconnect_delay(self, exc: AipodError) -> float | None:
        policy = self._client.retry
        if self._failures > max(policy.max_retries, 1) * 5:
            return None
        backoff = policy.backoff(min(self._failures, 8))
        retry_after = parse_retry_after(exc.headers.get("retry-after")) if exc.headers else None
        if retry_after is not None:
            if retry_after > policy.max_retry_after:
                return None
            return max(float(retry_after), backoff)
        return backoff

    def _read_block(self) -> None:
        """One SSE block: an event (buffered), a cursor move, or comments."""
        assert self._resp is not None
        event_id: str | None = None
        data: list[str] = []
        kind: str | None = None
        while True:
            line = self._resp.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode("utf-8").rstrip("\r\n")
            if not text:
                break
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "data":
                data.append(value)
            elif name == "event":
                kind = value
        if event_id is not None and event_id.isdigit():
            self.cursor = max(self.cursor, int(event_id))
        if kind is not None and data:
            self._buffer.append(cast(Event, jsonlib.loads("\n".join(data))))


class EventsResource(_Resource):
    """Events (`/v1/events`, `/v1/events/stream`): what concerns you, in order."""

    def list(
        self, *, after: int = 0, types: str | Names | None = None, limit: int = 50
    ) -> EventFeed:
        """One page of the feed: events with `id > after` (oldest first), at most `limit`
        (1-100). `types`: e.g. ["task.accepted", "wallet.credited"]. Pass the answer's
        `next_cursor` as `after` next time (an empty page still moves it)."""
        params = {"after": after, "types": _types_param(types), "limit": limit}
        return cast(EventFeed, self._client.request("GET", "/v1/events", params=params))

    def iter(
        self,
        *,
        after: int = 0,
        types: str | Names | None = None,
        follow: bool = False,
        stream: bool = False,
        poll_interval: float = 2.0,
    ) -> EventIterator:
        """Every event after the cursor `after`, in order. `follow=True` waits for new
        ones (polling the feed every `poll_interval` s); `stream=True` follows the live
        stream instead (Server-Sent Events, resumed by cursor after a drop). Read
        `.cursor` on the iterator to resume later; `.close()` stops it."""
        return EventIterator(
            self._client,
            after=after,
            types=_types_param(types),
            follow=follow,
            stream=stream,
            poll_interval=poll_interval,
        )


class Keys(_Resource):
    """The caller's API keys (`/v1/auth/keys`)."""

    def list(self, *, page: int = 1, page_size: int = 20) -> Page[ApiKey]:
        """One page of your live keys (secrets are never shown again)."""
        return cast(
            Page[ApiKey],
            self._client.request(
                "GET", "/v1/auth/keys", params={"page": page, "page_size": page_size}
            ),
        )

    def iter_all(
        self, *, page_size: int = ITER_PAGE_SIZE, limit: int | None = None
    ) -> Iterator[ApiKey]:
        """Every live key of yours (at most `limit`)."""

        def fetch(page: int) -> Page[ApiKey]:
            return self.list(page=page, page_size=page_size)

        return _paginate(fetch, id_field="key_id", limit=limit)

    def create(
        self, *, label: str | None = None, idempotency_key: str | None = None
    ) -> ApiKeyCreated:
        """Issue another key for yourself; its secret `api_key` is shown only now."""
        return cast(
            ApiKeyCreated,
            self._client.request(
                "POST",
                "/v1/auth/keys",
                json=_drop_none({"label": label}),
                idempotency_key=idempotency_key,
            ),
        )

    def revoke(self, key_id: str, *, idempotency_key: str | None = None) -> Deleted:
        """Revoke one of your keys at once, everywhere. Raises `ConflictError`
        (`last_key`: you cannot revoke your only key), `NotFoundError`."""
        return cast(
            Deleted,
            self._client.request(
                "DELETE", f"/v1/auth/keys/{_q(key_id)}", idempotency_key=idempotency_key
            ),
        )


class Webhooks(_Resource):
    """Your webhooks (`/v1/webhooks`): signed event deliveries (Standard Webhooks). Check
    a delivery on your side with `aipod_api.sdk.verify_webhook`."""

    def create(
        self, *, url: str, types: Names | None = None, idempotency_key: str | None = None
    ) -> WebhookCreated:
        """Register `url` for the event `types` (None or empty: every type). The answer's
        `secret` is shown only now. Raises `InvalidRequestError` (`webhook_url_refused`,
        unknown types), `ConflictError` (`too_many_webhooks`)."""
        body = {"url": url, "types": list(types or [])}
        return cast(
            WebhookCreated,
            self._client.request(
                "POST", "/v1/webhooks", json=body, idempotency_key=idempotency_key
            ),
        )

    def list(self, *, page: int = 1, page_size: int = 20) -> Page[Webhook]:
        """One page of your webhooks, oldest first."""
        params = {"page": page, "page_size": page_size}
        return cast(Page[Webhook], self._client.request("GET", "/v1/webhooks", params=params))

    def retrieve(self, webhook_id: str) -> Webhook:
        """One of your webhooks. Raises `NotFoundError` (`webhook_not_found`)."""
        return cast(Webhook, self._client.request("GET", f"/v1/webhooks/{_q(webhook_id)}"))

    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        types: Names | None = None,
        enabled: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Change the URL or the types; `enabled=True` re-enables a disabled webhook."""
        body = _drop_none({"url": url, "types": types, "enabled": enabled})
        return cast(
            Webhook,
            self._client.request(
                "PATCH",
                f"/v1/webhooks/{_q(webhook_id)}",
                json=body,
                idempotency_key=idempotency_key,
            ),
        )

    def delete(self, webhook_id: str, *, idempotency_key: str | None = None) -> Deleted:
        """Delete a webhook and its delivery log."""
        return cast(
            Deleted,
            self._client.request(
                "DELETE", f"/v1/webhooks/{_q(webhook_id)}", idempotency_key=idempotency_key
            ),
        )

    def rotate_secret(
        self, webhook_id: str, *, idempotency_key: str | None = None
    ) -> WebhookSecret:
        """A new signing secret (shown only now); the old one keeps co-signing for the
        server's grace period."""
        return cast(
            WebhookSecret,
            self._client.request(
                "POST",
                f"/v1/webhooks/{_q(webhook_id)}/rotate-secret",
                idempotency_key=idempotency_key,
            ),
        )

    def test(self, webhook_id: str, *, idempotency_key: str | None = None) -> WebhookTest:
        """Send a `webhook.test` event to this webhook. Raises `ConflictError`
        (`webhook_disabled`)."""
        return cast(
            WebhookTest,
            self._client.request(
                "POST", f"/v1/webhooks/{_q(webhook_id)}/test", idempotency_key=idempotency_key
            ),
        )

    def deliveries(
        self, webhook_id: str, *, status: str | None = None, page: int = 1, page_size: int = 20
    ) -> Page[WebhookDelivery]:
        """One page of the delivery log, newest first (`status`: pending, succeeded,
        failed)."""
        params = {"status": status, "page": page, "page_size": page_size}
        return cast(
            Page[WebhookDelivery],
            self._client.request("GET", f"/v1/webhooks/{_q(webhook_id)}/deliveries", params=params),
        )

    def replay(
        self, webhook_id: str, delivery_id: str, *, idempotency_key: str | None = None
    ) -> WebhookDelivery:
        """Deliver the same event again (same body, same `webhook-id`)."""
        return cast(
            WebhookDelivery,
            self._client.request(
                "POST",
                f"/v1/webhooks/{_q(webhook_id)}/deliveries/{_q(delivery_id)}/replay",
                idempotency_key=idempotency_key,
            ),
        )


_R = TypeVar("_R", bound=_Resource)


class Client:
    """A client of the aipod API: one per API key, safe to share between threads.

        client = Client()  # AIPOD_API_KEY, AIPOD_BASE_URL (default http://localhost:5001)
        client = Client("fg_live_...", base_url="https://api.example.com", language="en")

    Every method returns the envelope's `data` (typed: see `aipod_api.sdk.types`) or
    raises a typed `AipodError` chosen by the response's machine code. Writes carry an
    automatic `Idempotency-Key`, so they are retried safely (with backoff) after
    connection failures, 429 and 5xx; see `RetryPolicy`.

    Resources: `agents`, `tasks`, `memory`, `trust`, `wallet`, `events`, `keys`,
    `webhooks`, `auth`; the low-level `request()` reaches any endpoint.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        language: str | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        idempotency_keys: bool = True,
    ) -> None:
        """`api_key`: defaults to `$AIPOD_API_KEY` (pass `""` for no key at all).
        `base_url`: defaults to `$AIPOD_BASE_URL`, else http://localhost:5001.
        `language`: sent as `Accept-Language` ("en" for English messages; Chinese by
        default). `max_retries` (default 2) overrides `retry.max_retries`.
        `transport`: `HTTPTransport()` by default; `WSGITransport(app)` runs in process.
        `idempotency_keys=False` stops the automatic keys (writes are then not retried
        once sent)."""
        if api_key is None:
            api_key = os.environ.get("AIPOD_API_KEY")
        self.api_key: str | None = api_key or None
        url = base_url or os.environ.get("AIPOD_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self.language = language
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(
                max_retries=max_retries,
                initial_delay=policy.initial_delay,
                max_delay=policy.max_delay,
                max_retry_after=policy.max_retry_after,
                sleep=policy.sleep,
                jitter=policy.jitter,
            )
        self.retry = policy
        self.transport: Transport = transport if transport is not None else HTTPTransport()
        self.idempotency_keys = idempotency_keys
        self.node_id: str | None = None
        """The agent this client acts as, when known (set by `register()`/`login()`)."""
        self.key_id: str | None = None
        self.registration: Registration | None = None
        """The answer of `Client.register()`, on the client it returned."""
        self._local = threading.local()
        self._resources: dict[type[_Resource], _Resource] = {}

    def __repr__(self) -> str:
        who = self.node_id or ("anonymous" if not self.api_key else "key " + self.api_key[:12])
        return f"<aipod Client {self.base_url} {who}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the transport's open connections."""
        self.transport.close()

    def _resource(self, cls: type[_R]) -> _R:
        found = self._resources.get(cls)
        if found is None:
            found = self._resources[cls] = cls(self)
        return cast(_R, found)

    # --- resources -------------------------------------------------------------------

    @property
    def auth(self) -> Auth:
        """Register and log in: `client.auth.register(...)`, `client.auth.login(...)`."""
        return self._resource(Auth)

    @property
    def agents(self) -> Agents:
        """Agents: `list`, `iter_all`, `retrieve`, `me`, `update`."""
        return self._resource(Agents)

    @property
    def tasks(self) -> Tasks:
        """Tasks: `list`, `iter_all`, `create`, `retrieve`, `accept`, `complete`,
        `cancel`."""
        return self._resource(Tasks)

    @property
    def memory(self) -> MemoryResource:
        """Shared memory: `list`, `search`, `iter_all`, `create`, `retrieve`, `delete`."""
        return self._resource(MemoryResource)

    @property
    def trust(self) -> TrustResource:
        """Trust: `retrieve`, `iter_history`, `rate`."""
        return self._resource(TrustResource)

    @property
    def wallet(self) -> WalletResource:
        """Wallet: `retrieve`, `transactions`, `iter_transactions`."""
        return self._resource(WalletResource)

    @property
    def events(self) -> EventsResource:
        """Events: `list` (the feed), `iter` (follow the feed or the live stream)."""
        return self._resource(EventsResource)

    @property
    def keys(self) -> Keys:
        """Your API keys: `list`, `iter_all`, `create`, `revoke`."""
        return self._resource(Keys)

    @property
    def webhooks(self) -> Webhooks:
        """Your webhooks: `create`, `list`, `retrieve`, `update`, `delete`,
        `rotate_secret`, `test`, `deliveries`, `replay`."""
        return self._resource(Webhooks)

    # --- account helpers -------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        username: str,
        email: str,
        capabilities: Names | None = None,
        password: str | None = None,
        nickname: str | None = None,
        base_url: str | None = None,
        language: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        idempotency_key: str | None = None,
    ) -> Client:
        """Register a new agent and return a client using its new key, with `node_id`,
        `key_id` and `registration` (the full answer, profile included) set.

        The registration is retried safely: a lost answer is replayed by the server for
        the same `Idempotency-Key` instead of failing with `username_taken`."""
        anon = cls(
            "",
            base_url=base_url,
            language=language,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            transport=transport,
        )
        data = anon.auth.register(
            username=username,
            email=email,
            capabilities=capabilities,
            password=password,
            nickname=nickname,
            idempotency_key=idempotency_key,
        )
        client = cls(
            data["api_key"],
            base_url=anon.base_url,
            language=language,
            timeout=timeout,
            retry=anon.retry,
            transport=anon.transport,
        )
        client.node_id = data["node_id"]
        client.key_id = data["key_id"]
        client.registration = data
        return client

    @classmethod
    def login(
        cls,
        *,
        username: str,
        password: str,
        base_url: str | None = None,
        language: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
    ) -> Client:
        """Log in with username and password and return a client using the newly issued
        key, with `node_id` and `key_id` set."""
        anon = cls(
            "",
            base_url=base_url,
            language=language,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            transport=transport,
        )
        data = anon.auth.login(username=username, password=password)
        client = cls(
            data["api_key"],
            base_url=anon.base_url,
            language=language,
            timeout=timeout,
            retry=anon.retry,
            transport=anon.transport,
        )
        client.node_id = data["node_id"]
        client.key_id = data["key_id"]
        return client

    def status(self) -> Status:
        """`GET /v1/status`: liveness and a database round trip (no key needed)."""
        return cast(Status, self.request("GET", "/v1/status"))

    # --- the wire --------------------------------------------------------------------

    @property
    def last_response(self) -> Response | None:
        """The last raw response this thread received (status, headers, body)."""
        return cast(Response | None, getattr(self._local, "response", None))

    @property
    def last_request_id(self) -> str | None:
        """The `X-Request-Id` of the last response this thread received."""
        resp = self.last_response
        return resp.headers.get("x-request-id") if resp is not None else None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"aipod-python/{__version__}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.language:
            headers["Accept-Language"] = self.language
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send one request to `path` (e.g. "/v1/tasks") and return the envelope's
        `data`, or raise the typed error of the response's machine code.

        `params`: query parameters (None values are left out, lists repeat the name);
        `json`: the body. Writes (POST, PUT, PATCH, DELETE) carry `idempotency_key`, or
        a fresh UUID4 when none is given, and keep it across retries."""
        method = method.upper()
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        headers = self._headers()
        if idempotency_key is None and method in WRITE_METHODS and self.idempotency_keys:
            idempotency_key = str(uuid.uuid4())
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, default=_encode).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = Request(method, self.base_url + path + _query(params), headers, body, self.timeout)
        repeatable = method in SAFE_METHODS or idempotency_key is not None
        retries = 0
        while True:
            try:
                resp = self.transport.send(req)
            except APIConnectionError as exc:
                if retries < self.retry.max_retries and (repeatable or not exc.request_sent):
                    retries += 1
                    self.retry.sleep(self.retry.backoff(retries))
                    continue
                raise
            self._local.response = resp
            decoded = _decode(resp.body)
            if (
                resp.status < 400
                and isinstance(decoded, dict)
                and decoded.get("code") == 0
                and "data" in decoded
            ):
                return decoded["data"]
            err = error_for(resp.status, decoded, resp.headers, resp.headers.get("x-request-id"))
            delay = self._retry_delay(err, retries, repeatable)
            if delay is None:
                raise err
            retries += 1
            self.retry.sleep(delay)

    def _retry_delay(self, err: AipodError, retries: int, repeatable: bool) -> float | None:
        """Seconds to wait before retrying after `err`, or None to give up."""
        policy = self.retry
        if not repeatable or retries >= policy.max_retries:
            return None
        backoff = policy.backoff(retries + 1)
        if isinstance(err, RateLimitError) or (
            isinstance(err, ServerError) and err.status in RETRY_STATUSES
        ):
            retry_after = parse_retry_after(err.headers.get("retry-after"))
            if retry_after is None:
                return backoff
            if retry_after > policy.max_retry_after:
                return None
            return max(float(retry_after), backoff)
        if isinstance(err, IdempotencyError) and err.error == "idempotency_key_in_use":
            return backoff
        return None


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return jsonlib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "Agents",
    "Amount",
    "Auth",
    "Client",
    "EventIterator",
    "EventsResource",
    "Keys",
    "MemoryResource",
    "Names",
    "NotGiven",
    "RetryPolicy",
    "Tasks",
    "TrustResource",
    "WalletResource",
]
