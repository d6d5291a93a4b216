"""Webhook request/response models. Response shapes are TypedDicts (one definition for
what the service returns and for the OpenAPI schema)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema
from typing_extensions import TypedDict

from aipod_api.core.types import Body, PageQuery, Query, StrictBool, StrictStr

MAX_URL = 2048
MAX_TYPES = 32
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
DeliveryStatus = Literal["pending", "succeeded", "failed"]


def _types(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("必须是字符串数组|must be an array of strings")
    out: dict[str, None] = {}
    for item in value:
        name = item.strip()
        if not TYPE_RE.fullmatch(name) or len(name) > 64:
            raise ValueError(
                f"事件类型 {item[:70]!r} 格式不正确(应为以点分隔的小写名称)"
                f"|event type {item[:70]!r} is not a dotted name such as task.published"
            )
        out.setdefault(name)
    return list(out)


EventTypes = Annotated[
    list[str],
    BeforeValidator(_types),
    Field(max_length=MAX_TYPES),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "pattern": TYPE_RE.pattern},
            "maxItems": MAX_TYPES,
            "description": "事件类型,空数组表示全部 / event types; empty: every type",
        }
    ),
]


class WebhookCreate(Body):
    url: StrictStr = Field(
        min_length=1,
        max_length=MAX_URL,
        description="https URL (http only to loopback/private addresses when the server allows it)",
    )
    types: EventTypes = Field(default_factory=list)


class WebhookUpdate(Body):
    url: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_URL)
    types: EventTypes | None = None
    enabled: StrictBool | None = Field(
        default=None, description="true re-enables a disabled webhook (failures reset)"
    )


class WebhookPath(Query):
    webhook_id: str = Field(max_length=40, description="wh_001")


class DeliveryPath(Query):
    webhook_id: str = Field(max_length=40, description="wh_001")
    delivery_id: str = Field(max_length=40, description="whd_000001")


class DeliveriesQuery(PageQuery):
    status: DeliveryStatus | None = Field(default=None, description="投递状态 / delivery status")


class WebhookPublic(TypedDict):
    webhook_id: str
    url: str
    types: list[str]
    enabled: bool
    disabled_reason: Literal["gone", "failures", "manual"] | None
    consecutive_failures: int
    previous_secret_expires_at: str | None
    created_at: str
    updated_at: str


class WebhookCreated(WebhookPublic):
    secret: Annotated[str, Field(description="whsec_...: shown only in this response")]


class SecretRotated(TypedDict):
    webhook_id: str
    secret: Annotated[str, Field(description="the new whsec_ secret, shown only here")]
    previous_secret_expires_at: Annotated[
        str | None,
        Field(description="until then deliveries also carry a signature by the old secret"),
    ]


class DeliveryPublic(TypedDict):
    delivery_id: str
    webhook_id: str
    event_id: str
    msg_id: Annotated[str, Field(description="the webhook-id header (the same on retries)")]
    event_type: str
    status: DeliveryStatus
    attempts: int
    response_status: int | None
    latency_ms: int | None
    error: str | None
    next_attempt_at: Annotated[str | None, Field(description="pending deliveries only")]
    last_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    replay: Annotated[int, Field(description="0, or n for the n-th replay of the event")]


class PingQueued(TypedDict):
    webhook_id: str
    type: Literal["webhook.test"]
    queued: Annotated[bool, Field(description="the event is written; delivery follows")]
