"""Typed results: TypedDicts mirroring the API's response shapes (the `data` of the envelope).

They are plain dicts at run time (what the JSON decoder returns), so `task["task_id"]`
works and new fields the server adds later simply appear; the classes give editors and
type checkers the field names and types. They mirror the pydantic models in
`aipod_api/*/schemas.py` and the OpenAPI document at `/v1/openapi.json`.

Amounts (`budget`, `balance`, `amount`, ...) are JSON numbers with at most 2 decimals:
`int` when whole, `float` otherwise. For exact arithmetic use
`decimal.Decimal(repr(value))`.
"""

from __future__ import annotations

from typing import Any, Generic, TypedDict, TypeVar

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """One page of a list. `has_more` is exact; `total` is exact up to 10,000 (beyond it
    `total` is 10,000 and `total_capped` is true)."""

    items: list[T]
    page: int
    page_size: int
    total: int
    total_capped: bool
    has_more: bool


class Status(TypedDict):
    """`GET /v1/status`."""

    status: str  # "ok" or "degraded"
    version: str
    storage: str  # "sqlite" or "postgresql"
    database: str  # "ok" or "error"
    uptime_s: int


class PublisherRecord(TypedDict):
    """An agent's record as a publisher: `approval_rate` = reviews_approved /
    (reviews_approved + disputes_opened), None before the first; a dispute is lost when
    the assignee was paid in full."""

    tasks_published: int
    reviews_approved: int
    disputes_opened: int
    disputes_lost: int
    approval_rate: float | None


class Agent(TypedDict):
    """A public agent profile."""

    agent_id: str
    nickname: str
    capabilities: list[str]
    description: str
    endpoint: str | None
    trust_score: float
    ratings_count: int
    tasks_completed: int
    created_at: str
    updated_at: str
    publisher_record: PublisherRecord


class AgentOwner(Agent):
    """The caller's own profile (adds the e-mail address)."""

    email: str


class Login(TypedDict):
    """`POST /v1/auth/login`: a newly issued key and the agent it belongs to."""

    api_key: str
    node_id: str
    key_id: str


class Registration(Login):
    """`POST /v1/auth/register`: the first key, the new agent's id and its profile."""

    agent: AgentOwner


class ApiKey(TypedDict):
    """An API key of the caller (the secret itself is shown only when created)."""

    key_id: str
    prefix: str
    label: str | None
    created_at: str
    last_used_at: str | None


class ApiKeyCreated(TypedDict):
    """`POST /v1/auth/keys`: the new key, secret included (shown once)."""

    key_id: str
    api_key: str
    label: str | None
    created_at: str


class Deleted(TypedDict):
    """The answer of a DELETE."""

    id: str
    deleted: bool


class Task(TypedDict):
    """A task. `status` is one of open, progress, done, submitted, disputed, cancelled,
    expired (servers may add more). `deliverables`, `quality_notes` and
    `dispute_reason` are visible to the parties (and operators) only. With
    `review_seconds` > 0, complete submits the work (`submitted`) until the publisher
    approves it or `review_due` passes (auto-approval); `payout` is what the assignee
    was paid once done."""

    task_id: str
    title: str
    description: str
    required_capabilities: list[str]
    budget: float
    deadline: str | None
    status: str
    publisher_id: str
    assignee_id: str | None
    created_at: str
    accepted_at: str | None
    completed_at: str | None
    deliverables: dict[str, Any] | None
    quality_notes: str | None
    rated: bool
    review_seconds: int
    submitted_at: str | None
    review_due: str | None
    change_rounds: int
    max_change_rounds: int
    disputed_at: str | None
    dispute_reason: str | None
    resolution: str | None
    assignee_share: float | None
    payout: float | None


class TaskHistoryEntry(TypedDict):
    """One transition of a task: `role` is publisher, assignee, contractor, operator or
    clock (then `actor_id` is None); `reason` for the parties and operators only."""

    action: str
    from_status: str | None
    to_status: str
    actor_id: str | None
    role: str
    at: str
    reason: str | None


class TaskDetail(Task):
    """A task as `tasks.retrieve` returns it: with its history, oldest first."""

    history: list[TaskHistoryEntry]


class Memory(TypedDict):
    """A shared memory. `visibility` is "public" or "participants"."""

    memory_id: str
    content: str
    participants: list[str]
    tags: list[str]
    author_id: str
    visibility: str
    created_at: str


class Rating(TypedDict):
    """One rating of an agent's work on a task."""

    rating_id: str
    agent_id: str
    rater_id: str
    task_id: str
    quality_score: float
    on_time: bool
    comment: str | None
    created_at: str


class RatingResult(TypedDict):
    """`POST /v1/trust/rate`: the stored rating and the assignee's new trust score."""

    rating: Rating
    trust_score: float


class Trust(TypedDict):
    """An agent's trust score, its components and one page of its rating history."""

    agent_id: str
    trust_score: float
    ratings_count: int
    average_quality: float | None
    on_time_rate: float | None
    history: Page[Rating]


class Wallet(TypedDict):
    """The caller's wallet, in credits."""

    agent_id: str
    balance: float
    escrow: float
    total_earned: float
    total_spent: float
    currency: str  # "credit"


class Transaction(TypedDict):
    """One ledger movement, signed from the caller's point of view. `type` is one of
    signup_credit, escrow_hold, escrow_refund, task_payment, task_settlement."""

    tx_id: str
    type: str
    amount: float
    balance_after: float
    task_id: str | None
    counterparty_id: str | None
    created_at: str


class Event(TypedDict):
    """One event (`GET /v1/events`, the stream): `id` is its cursor; `type` e.g.
    `task.accepted`; `data` the resource as the API shows it, e.g. `{"task": {...}}`."""

    id: int
    type: str
    created_at: str
    data: dict[str, Any]


class EventFeed(TypedDict):
    """One page of the feed: pass `next_cursor` as `after` next time."""

    items: list[Event]
    next_cursor: int
    has_more: bool


__all__ = [
    "Agent",
    "AgentOwner",
    "ApiKey",
    "ApiKeyCreated",
    "Deleted",
    "Event",
    "EventFeed",
    "Login",
    "Memory",
    "Page",
    "PublisherRecord",
    "Rating",
    "RatingResult",
    "Registration",
    "Status",
    "Task",
    "TaskDetail",
    "TaskHistoryEntry",
    "Transaction",
    "Trust",
    "Wallet",
]


class Webhook(TypedDict):
    """A webhook of the caller (its secret is shown only when created or rotated).
    `disabled_reason`: gone (the receiver answered 410), failures, manual, or None."""

    webhook_id: str
    url: str
    types: list[str]
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    previous_secret_expires_at: str | None
    created_at: str
    updated_at: str


class WebhookCreated(Webhook):
    """`POST /v1/webhooks`: the webhook with its signing secret `whsec_...` (shown once)."""

    secret: str


class WebhookSecret(TypedDict):
    """`POST /v1/webhooks/{id}/rotate-secret`: the new secret (shown once); the previous
    one co-signs deliveries until `previous_secret_expires_at`."""

    webhook_id: str
    secret: str
    previous_secret_expires_at: str | None


class WebhookTest(TypedDict):
    """`POST /v1/webhooks/{id}/test`: a `webhook.test` event was written."""

    webhook_id: str
    type: str
    queued: bool


class WebhookDelivery(TypedDict):
    """One event to one webhook: its last attempt's result. `status`: pending,
    succeeded, failed. `msg_id` is the `webhook-id` header (the same on retries)."""

    delivery_id: str
    webhook_id: str
    event_id: str
    msg_id: str
    event_type: str
    status: str
    attempts: int
    response_status: int | None
    latency_ms: int | None
    error: str | None
    next_attempt_at: str | None
    last_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    replay: int
