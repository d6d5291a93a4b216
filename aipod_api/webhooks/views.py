"""Webhook routes: register, list, get, update, delete, rotate the secret, test, the
delivery log and replay. Delivery itself is worker.py, never a request."""

from __future__ import annotations

import time

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.openapi import AUTH_ERRORS, Deleted, Envelope, Page, responses
from aipod_api.core.types import PageQuery
from aipod_api.http.context import caller_id, clock, db, reads, state, tx, writes
from aipod_api.http.envelope import created, ok
from aipod_api.webhooks import service
from aipod_api.webhooks.schemas import (
    DeliveriesQuery,
    DeliveryPath,
    DeliveryPublic,
    PingQueued,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookPath,
    WebhookPublic,
    WebhookUpdate,
)

tag = Tag(
    name="webhooks",
    description="Webhooks: signed event deliveries (Standard Webhooks: webhook-id, "
    "webhook-timestamp, webhook-signature v1 HMAC-SHA256)",
)
bp = APIBlueprint(
    "webhooks", __name__, url_prefix="/v1/webhooks", abp_tags=[tag], abp_security=[{"bearer": []}]
)
NOT_FOUND = (*AUTH_ERRORS, 404)


def _wake_worker() -> None:
    """Have this process's delivery worker look for work once the request's transaction
    has committed (a replay queues a delivery, an update may re-enable a webhook: no
    event says so). Commits that wrote events wake it by themselves (worker.install)."""
    worker = state().webhook_worker
    if worker is not None and worker.enabled:
        tx().after_commit(worker.nudge)


@bp.post(
    "",
    summary="注册 webhook / Register a webhook",
    description=(
        "Returns the signing secret `whsec_...` **once**. Deliveries are POSTs with the "
        "headers `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 "
        "HMAC-SHA256 of {id}.{timestamp}.{body}>`. `types`: the event types to receive "
        "(empty: all). The URL must be https (http only to loopback/private addresses "
        "where the server sets AIPOD_WEBHOOK_ALLOW_PRIVATE=1)."
    ),
    responses=responses(Envelope[WebhookCreated], status=201, errors=(*AUTH_ERRORS, 409)),
)
@writes
def create_webhook(body: WebhookCreate) -> Response:
    _wake_worker()
    st = state().settings
    data = service.create_webhook(
        db(),
        agent_id=caller_id(),
        url=body.url,
        types=body.types,
        now=clock(),
        allow_private=st.webhook_allow_private,
        max_per_agent=st.webhook_max_per_agent,
    )
    return created(data)


@bp.get(
    "",
    summary="我的 webhook 列表 / The caller's webhooks",
    responses=responses(Envelope[Page[WebhookPublic]], errors=AUTH_ERRORS),
)
@reads
def list_webhooks(query: PageQuery) -> Response:
    data = service.list_webhooks(
        db(), agent_id=caller_id(), page=query.page, page_size=query.page_size
    )
    return ok(data)


@bp.get(
    "/<webhook_id>",
    summary="获取 webhook / Get a webhook",
    responses=responses(Envelope[WebhookPublic], errors=NOT_FOUND),
)
@reads
def get_webhook(path: WebhookPath) -> Response:
    return ok(service.get_webhook(db(), agent_id=caller_id(), webhook_id=path.webhook_id))


@bp.patch(
    "/<webhook_id>",
    summary="修改或重新启用 webhook / Update or re-enable a webhook",
    responses=responses(Envelope[WebhookPublic], errors=NOT_FOUND),
)
@writes
def update_webhook(path: WebhookPath, body: WebhookUpdate) -> Response:
    _wake_worker()
    data = service.update_webhook(
        db(),
        agent_id=caller_id(),
        webhook_id=path.webhook_id,
        url=body.url,
        types=body.types,
        enabled=body.enabled,
        now=clock(),
        allow_private=state().settings.webhook_allow_private,
    )
    return ok(data, message_key="updated")


@bp.delete(
    "/<webhook_id>",
    summary="删除 webhook / Delete a webhook",
    responses=responses(Envelope[Deleted], errors=NOT_FOUND),
)
@writes
def delete_webhook(path: WebhookPath) -> Response:
    _wake_worker()
    data = service.delete_webhook(db(), agent_id=caller_id(), webhook_id=path.webhook_id)
    return ok(data, message_key="deleted")


@bp.post(
    "/<webhook_id>/rotate-secret",
    summary="轮换签名密钥 / Rotate the signing secret",
    description=(
        "Returns the new secret once. For AIPOD_WEBHOOK_SECRET_GRACE_S seconds deliveries "
        "carry two signatures (new and previous secret, space-separated), so a receiver "
        "can switch without rejecting a delivery."
    ),
    responses=responses(Envelope[SecretRotated], status=201, errors=NOT_FOUND),
)
@writes
def rotate_secret(path: WebhookPath) -> Response:
    _wake_worker()
    data = service.rotate_secret(
        db(),
        agent_id=caller_id(),
        webhook_id=path.webhook_id,
        now=clock(),
        grace_s=state().settings.webhook_secret_grace_s,
    )
    return created(data)


@bp.post(
    "/<webhook_id>/test",
    summary="发送测试事件 / Send a webhook.test event",
    responses=responses(Envelope[PingQueued], status=202, errors=(*NOT_FOUND, 409)),
)
@writes
def test_webhook(path: WebhookPath) -> Response:
    _wake_worker()
    data = service.send_test(db(), agent_id=caller_id(), webhook_id=path.webhook_id, now=clock())
    return ok(data, status=202)


@bp.get(
    "/<webhook_id>/deliveries",
    summary="投递记录(最新在前)/ Delivery log, newest first",
    responses=responses(Envelope[Page[DeliveryPublic]], errors=NOT_FOUND),
)
@reads
def list_deliveries(path: WebhookPath, query: DeliveriesQuery) -> Response:
    data = service.list_deliveries(
        db(),
        agent_id=caller_id(),
        webhook_id=path.webhook_id,
        status=query.status,
        page=query.page,
        page_size=query.page_size,
    )
    return ok(data)


@bp.post(
    "/<webhook_id>/deliveries/<delivery_id>/replay",
    summary="重新投递 / Replay a delivery",
    description="Queues the same event again: same body, same `webhook-id`.",
    responses=responses(Envelope[DeliveryPublic], status=202, errors=(*NOT_FOUND, 409)),
)
@writes
def replay_delivery(path: DeliveryPath) -> Response:
    _wake_worker()
    data = service.replay_delivery(
        db(),
        agent_id=caller_id(),
        webhook_id=path.webhook_id,
        delivery_id=path.delivery_id,
        now_ms=int(time.time() * 1000),
    )
    return ok(data, status=202)
