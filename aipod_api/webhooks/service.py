"""Webhooks: the receivers an agent registers, and the delivery queue. Framework-free:
connection first, keyword-only rest, typed results; callers own the transaction.

Two halves:

- The API (`create_webhook` ... `replay_delivery`): only the owner sees its webhooks;
  another agent's webhook or delivery is "not found" (404).
- The delivery queue, driven by worker.py in short transactions of its own:
  `dispatch` turns new outbox events into deliveries (per webhook, after its `cursor`,
  through the events service's access rules), `claim` leases webhooks whose oldest
  pending delivery is due (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so any number of
  processes share the work and a webhook is sent by one worker at a time, in order),
  `record` stores an attempt's outcome and hands back the webhook's next delivery when
  it is due at once. Nothing here waits on the network.

The signing secret is stored as is (a receiver's HMAC key must be known to sign; a hash
cannot sign): it is returned only by the create and rotate answers, never by a read and
never logged; access to the database is access to the secrets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, literal, or_, select, update

from aipod_api.core.errors import ApiError, Conflict, NotFound
from aipod_api.core.i18n import register_messages
from aipod_api.core.openapi import Deleted
from aipod_api.core.tables import agents
from aipod_api.core.types import Page, PublicIdCodec, capped_count, fetch_page, iso, page_data
from aipod_api.webhooks import outbox, sender, signing
from aipod_api.webhooks.schemas import (
    DeliveryPublic,
    DeliveryStatus,
    PingQueued,
    SecretRotated,
    WebhookCreated,
    WebhookPublic,
)
from aipod_api.webhooks.tables import webhook_deliveries, webhooks

WEBHOOK_ID = PublicIdCodec("wh", 3)
DELIVERY_ID = PublicIdCodec("whd", 6)
TEST_TYPE: Final = "webhook.test"
DISABLED_TYPE = "webhook.disabled"
DISPATCH_BATCH = 100  # events turned into deliveries per webhook per round
MAX_RETRY_AFTER_S = 86_400.0

register_messages(
    {
        "webhook_not_found": ("Webhook 不存在: {webhook_id}", "No such webhook: {webhook_id}"),
        "webhook_delivery_not_found": (
            "投递记录不存在: {delivery_id}",
            "No such delivery: {delivery_id}",
        ),
        "too_many_webhooks": (
            "每个节点最多 {limit} 个 webhook",
            "An agent may have at most {limit} webhooks",
        ),
        "webhook_disabled": (
            "该 webhook 已停用({reason}),请先用 PATCH 重新启用",
            "The webhook is disabled ({reason}); re-enable it with PATCH first",
        ),
        "webhook_url_refused": (
            "不允许的 webhook URL: {reason}",
            "Webhook URL not allowed: {reason}",
        ),
        "webhook_url.malformed": ("不是合法的 URL", "not a valid absolute URL"),
        "webhook_url.scheme": (
            "必须使用 https(http 仅在服务器允许时用于本机或内网地址)",
            "must be https (http only to loopback/private addresses, where the server allows it)",
        ),
        "webhook_url.credentials": ("URL 不能包含用户名或密码", "must not contain credentials"),
        "webhook_url.http_public": (
            "公网地址必须使用 https",
            "public addresses must use https",
        ),
        "webhook_url.private_address": (
            "不允许本机或内网地址 {detail}",
            "loopback and private addresses such as {detail} are not allowed",
        ),
        "webhook_url.forbidden_address": (
            "不允许的地址 {detail}(链路本地、组播、保留地址)",
            "the address {detail} is not allowed (link-local, multicast or reserved)",
        ),
        "webhook_url.unresolvable": ("无法解析主机 {detail}", "cannot resolve the host {detail}"),
    }
)


class WebhookNotFound(NotFound):
    key = "webhook_not_found"


class DeliveryNotFound(NotFound):
    key = "webhook_delivery_not_found"


class TooManyWebhooks(Conflict):
    key = "too_many_webhooks"


class WebhookDisabled(Conflict):
    key = "webhook_disabled"


class UrlRefused(ApiError):
    """400 naming the rule the URL breaks (the reason is localised when rendered)."""

    status = 400
    key = "webhook_url_refused"

    def __init__(self, exc: sender.UrlRefused) -> None:
        super().__init__()
        self.reason = exc.reason
        self.detail = exc.detail

    def render(self, english: bool) -> tuple[str, Any]:
        """Shaped like a validation error (`errors: [{field, message}]`, as every 400
        is), plus the machine-readable `reason`."""
        from aipod_api.core.i18n import message as t

        reason = t(f"webhook_url.{self.reason}", english, detail=self.detail)
        message = t(self.key, english, reason=reason)
        return message, {"errors": [{"field": "url", "message": message}], "reason": self.reason}


# --- the API ---------------------------------------------------------------------------


def _public(row: Any) -> WebhookPublic:
    return {
        "webhook_id": WEBHOOK_ID.format(row.seq),
        "url": row.url,
        "types": orjson.loads(row.types),
        "enabled": bool(row.enabled),
        "disabled_reason": row.disabled_reason,
        "consecutive_failures": int(row.consecutive_failures),
        "previous_secret_expires_at": iso(row.prev_secret_until) if row.prev_secret else None,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _own(conn: Connection, *, agent_id: str, webhook_id: str, lock: bool = False) -> Any:
    seq = WEBHOOK_ID.parse(webhook_id)
    if seq is None:
        raise WebhookNotFound(webhook_id=webhook_id[:40])
    query = select(webhooks).where(webhooks.c.seq == seq, webhooks.c.agent_id == agent_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise WebhookNotFound(webhook_id=webhook_id)
    return row


def check_url(url: str, *, allow_private: bool) -> None:
    try:
        sender.check_url(url, allow_private=allow_private)
    except sender.UrlRefused as exc:
        raise UrlRefused(exc) from exc


def create_webhook(
    conn: Connection,
    *,
    agent_id: str,
    url: str,
    types: list[str],
    now: int,
    allow_private: bool,
    max_per_agent: int,
) -> WebhookCreated:
    """A new enabled webhook receiving the events committed from now on."""
    check_url(url, allow_private=allow_private)
    outbox.check_types(types)
    # The agent's row lock serialises its own creations, so the cap holds under races.
    conn.execute(select(agents.c.seq).where(agents.c.agent_id == agent_id).with_for_update())
    count = conn.execute(
        select(func.count()).select_from(webhooks).where(webhooks.c.agent_id == agent_id)
    ).scalar_one()
    if count >= max_per_agent:
        raise TooManyWebhooks(limit=max_per_agent)
    secret = signing.new_secret()
    seq = conn.execute(
        insert(webhooks)
        .values(
            agent_id=agent_id,
            url=url,
            types=orjson.dumps(types).decode(),
            secret=secret,
            enabled=True,
            consecutive_failures=0,
            cursor=outbox.latest_id(conn),
            created_at=now,
            updated_at=now,
        )
        .returning(webhooks.c.seq)
    ).scalar_one()
    row = conn.execute(select(webhooks).where(webhooks.c.seq == seq)).one()
    return {**_public(row), "secret": secret}


def list_webhooks(
    conn: Connection, *, agent_id: str, page: int, page_size: int
) -> Page[WebhookPublic]:
    cond = webhooks.c.agent_id == agent_id
    total = capped_count(conn, select(literal(1)).select_from(webhooks).where(cond))
    rows, has_more = fetch_page(
        conn, select(webhooks).where(cond).order_by(webhooks.c.seq), page=page, page_size=page_size
    )
    return page_data(
        [_public(r) for r in rows], page=page, page_size=page_size, total=total, has_more=has_more
    )


def get_webhook(conn: Connection, *, agent_id: str, webhook_id: str) -> WebhookPublic:
    return _public(_own(conn, agent_id=agent_id, webhook_id=webhook_id))


def update_webhook(
    conn: Connection,
    *,
    agent_id: str,
    webhook_id: str,
    url: str | None,
    types: list[str] | None,
    enabled: bool | None,
    now: int,
    allow_private: bool,
) -> WebhookPublic:
    """Change the URL or types, or enable/disable. Re-enabling resets the failure count;
    deliveries still pending are retried from now."""
    row = _own(conn, agent_id=agent_id, webhook_id=webhook_id, lock=True)
    values: dict[str, Any] = {"updated_at": now}
    if url is not None:
        check_url(url, allow_private=allow_private)
        values["url"] = url
    if types is not None:
        outbox.check_types(types)
        values["types"] = orjson.dumps(types).decode()
    if enabled is True and not row.enabled:
        values.update(enabled=True, disabled_reason=None, disabled_at=None, consecutive_failures=0)
        conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.webhook_seq == row.seq,
                webhook_deliveries.c.status == "pending",
            )
            .values(next_attempt_at=now * 1000)
        )
    elif enabled is False and row.enabled:
        values.update(enabled=False, disabled_reason="manual", disabled_at=now)
    conn.execute(update(webhooks).where(webhooks.c.seq == row.seq).values(**values))
    return _public(conn.execute(select(webhooks).where(webhooks.c.seq == row.seq)).one())


def delete_webhook(conn: Connection, *, agent_id: str, webhook_id: str) -> Deleted:
    row = _own(conn, agent_id=agent_id, webhook_id=webhook_id, lock=True)
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_seq == row.seq))
    conn.execute(delete(webhooks).where(webhooks.c.seq == row.seq))
    return {"id": webhook_id, "deleted": True}


def rotate_secret(
    conn: Connection, *, agent_id: str, webhook_id: str, now: int, grace_s: int
) -> SecretRotated:
    """A new secret; the current one keeps signing (as a second signature) for
    `grace_s` seconds, so receivers can switch without missing a delivery."""
    row = _own(conn, agent_id=agent_id, webhook_id=webhook_id, lock=True)
    secret = signing.new_secret()
    until = now + grace_s if grace_s > 0 else None
    conn.execute(
        update(webhooks)
        .where(webhooks.c.seq == row.seq)
        .values(
            secret=secret,
            prev_secret=row.secret if until else None,
            prev_secret_until=until,
            updated_at=now,
        )
    )
    return {"webhook_id": webhook_id, "secret": secret, "previous_secret_expires_at": iso(until)}


def _webhook_of(data: Any) -> Any:
    hook = data.get("webhook") if isinstance(data, dict) else None
    return hook.get("webhook_id") if isinstance(hook, dict) else None


def send_test(conn: Connection, *, agent_id: str, webhook_id: str, now: int) -> PingQueued:
    """Emit a `webhook.test` event (`data: {webhook}`); it is delivered to this webhook
    only, whatever its types, and appears in the owner's feed."""
    row = _own(conn, agent_id=agent_id, webhook_id=webhook_id)
    if not row.enabled:
        raise WebhookDisabled(reason=row.disabled_reason)
    outbox.emit(conn, type=TEST_TYPE, agent_id=agent_id, data={"webhook": _public(row)}, now=now)
    return {"webhook_id": webhook_id, "type": TEST_TYPE, "queued": True}


def _delivery_public(row: Any, webhook_id: str) -> DeliveryPublic:
    status: DeliveryStatus = row.status
    return {
        "delivery_id": DELIVERY_ID.format(row.seq),
        "webhook_id": webhook_id,
        "event_id": outbox.public_id(row.event_id),
        "msg_id": row.msg_id,
        "event_type": row.event_type,
        "status": status,
        "attempts": int(row.attempts),
        "response_status": row.response_status,
        "latency_ms": row.latency_ms,
        "error": row.error,
        "next_attempt_at": iso(row.next_attempt_at // 1000) if status == "pending" else None,
        "last_attempt_at": iso(row.last_attempt_at // 1000) if row.last_attempt_at else None,
        "created_at": iso(row.created_at),
        "delivered_at": iso(row.delivered_at),
        "replay": int(row.replay_no),
    }


_DELIVERY_COLUMNS = [c for c in webhook_deliveries.c if c.name != "payload"]


def list_deliveries(
    conn: Connection,
    *,
    agent_id: str,
    webhook_id: str,
    status: DeliveryStatus | None,
    page: int,
    page_size: int,
) -> Page[DeliveryPublic]:
    """The webhook's delivery log, newest first."""
    row = _own(conn, agent_id=agent_id, webhook_id=webhook_id)
    cond = webhook_deliveries.c.webhook_seq == row.seq
    if status is not None:
        cond = and_(cond, webhook_deliveries.c.status == status)
    total = capped_count(conn, select(literal(1)).select_from(webhook_deliveries).where(cond))
    rows, has_more = fetch_page(
        conn,
        select(*_DELIVERY_COLUMNS).where(cond).order_by(webhook_deliveries.c.seq.desc()),
        page=page,
        page_size=page_size,
    )
    items = [_delivery_public(r, webhook_id) for r in rows]
    return page_data(items, page=page, page_size=page_size, total=total, has_more=has_more)


def replay_delivery(
    conn: Connection, *, agent_id: str, webhook_id: str, delivery_id: str, now_ms: int
) -> DeliveryPublic:
    """Queue the same event again (same body, same `webhook-id`) as a new delivery."""
    hook = _own(conn, agent_id=agent_id, webhook_id=webhook_id, lock=True)
    if not hook.enabled:
        raise WebhookDisabled(reason=hook.disabled_reason)
    seq = DELIVERY_ID.parse(delivery_id)
    original = None
    if seq is not None:
        original = conn.execute(
            select(webhook_deliveries).where(
                webhook_deliveries.c.seq == seq, webhook_deliveries.c.webhook_seq == hook.seq
            )
        ).first()
    if original is None:
        raise DeliveryNotFound(delivery_id=delivery_id[:40])
    replay_no = conn.execute(
        select(func.max(webhook_deliveries.c.replay_no)).where(
            webhook_deliveries.c.webhook_seq == hook.seq,
            webhook_deliveries.c.event_id == original.event_id,
        )
    ).scalar_one()
    new_seq = conn.execute(
        insert(webhook_deliveries)
        .values(
            webhook_seq=hook.seq,
            event_id=original.event_id,
            replay_no=int(replay_no or 0) + 1,
            msg_id=original.msg_id,
            event_type=original.event_type,
            payload=original.payload,
            status="pending",
            attempts=0,
            next_attempt_at=now_ms,
            created_at=now_ms // 1000,
        )
        .returning(webhook_deliveries.c.seq)
    ).scalar_one()
    row = conn.execute(select(*_DELIVERY_COLUMNS).where(webhook_deliveries.c.seq == new_seq)).one()
    return _delivery_public(row, webhook_id)


# --- the delivery queue (worker.py) ------------------------------------------------------


def dispatch(
    conn: Connection, *, now: int, first_delay_s: float = 0.0, limit: int = DISPATCH_BATCH
) -> int:
    """Turn the outbox events after each enabled webhook's cursor into deliveries, as the
    events service shows them to the webhook's owner. Returns how many were created.

    Only webhooks behind the newest event are read; a webhook another process is
    dispatching right now is skipped (`SKIP LOCKED`), and the unique key on (webhook,
    event, replay) makes a delivery exist once whatever happens."""
    latest = outbox.latest_id(conn)
    rows = conn.execute(
        select(webhooks.c.seq, webhooks.c.agent_id, webhooks.c.types, webhooks.c.cursor)
        .where(webhooks.c.enabled.is_(True), webhooks.c.cursor < latest)
        .order_by(webhooks.c.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    created = 0
    for row in rows:
        types: list[str] = orjson.loads(row.types)
        wanted = [*types, TEST_TYPE] if types else None
        webhook_id = WEBHOOK_ID.format(row.seq)
        events, cursor = outbox.fetch(
            conn, agent_id=row.agent_id, after=int(row.cursor), types=wanted, limit=limit, now=now
        )
        for event in events:
            if event.type == TEST_TYPE and _webhook_of(event.data) != webhook_id:
                continue  # a test of another webhook of the same agent
            if event.type == DISABLED_TYPE and _webhook_of(event.data) == webhook_id:
                continue  # its own notice: for the agent's other webhooks and its feed
            # Standard Webhooks' payload shape; `id` is the event's feed cursor.
            body = orjson.dumps(
                {
                    "id": event.id,
                    "type": event.type,
                    "timestamp": iso(event.created_at),
                    "data": event.data,
                }
            ).decode()
            # The webhook's row lock (or SQLite's single writer) and the cursor moving in
            # the same transaction make each (webhook, event) inserted once; the unique
            # key would refuse a second.
            conn.execute(
                insert(webhook_deliveries).values(
                    webhook_seq=row.seq,
                    event_id=event.id,
                    replay_no=0,
                    msg_id=outbox.public_id(event.id),
                    event_type=event.type,
                    payload=body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now * 1000 + int(first_delay_s * 1000),
                    created_at=now,
                )
            )
            created += 1
        if cursor > row.cursor:
            conn.execute(update(webhooks).where(webhooks.c.seq == row.seq).values(cursor=cursor))
    return created


@dataclass(frozen=True)
class Job:
    """One attempt to make: everything the sender needs, read in the claim."""

    webhook_seq: int
    delivery_seq: int
    url: str
    msg_id: str
    payload: bytes
    secrets: tuple[str, ...]
    attempts: int


def _secrets(hook: Any, *, now: int) -> tuple[str, ...]:
    if hook.prev_secret and hook.prev_secret_until and hook.prev_secret_until > now:
        return (hook.secret, hook.prev_secret)
    return (hook.secret,)


def _head(conn: Connection, webhook_seq: int) -> Any:
    return conn.execute(
        select(webhook_deliveries)
        .where(
            webhook_deliveries.c.webhook_seq == webhook_seq,
            webhook_deliveries.c.status == "pending",
        )
        .order_by(webhook_deliveries.c.seq)
        .limit(1)
    ).first()


def _job(hook: Any, head: Any, *, now_ms: int) -> Job:
    return Job(
        webhook_seq=int(hook.seq),
        delivery_seq=int(head.seq),
        url=hook.url,
        msg_id=head.msg_id,
        payload=head.payload.encode(),
        secrets=_secrets(hook, now=now_ms // 1000),
        attempts=int(head.attempts),
    )


def claim(conn: Connection, *, owner: str, now_ms: int, lease_ms: int, limit: int) -> list[Job]:
    """Lease up to `limit` webhooks whose oldest pending delivery is due, and return
    those deliveries. A lease that has run out (its worker died) is taken over: its
    delivery is sent again, with the same `webhook-id` (at least once)."""
    d = webhook_deliveries.alias("d")
    head_seq = (
        select(func.min(d.c.seq))
        .where(d.c.webhook_seq == webhooks.c.seq, d.c.status == "pending")
        .scalar_subquery()
    )
    rows = conn.execute(
        select(webhooks.c.seq)
        .select_from(webhooks)
        .join(webhook_deliveries, webhook_deliveries.c.seq == head_seq)
        .where(
            webhooks.c.enabled.is_(True),
            or_(webhooks.c.lease_until.is_(None), webhooks.c.lease_until < now_ms),
            webhook_deliveries.c.next_attempt_at <= now_ms,
        )
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=webhooks)
    ).all()
    jobs: list[Job] = []
    for (seq,) in rows:
        conn.execute(
            update(webhooks)
            .where(webhooks.c.seq == seq)
            .values(lease_owner=owner, lease_until=now_ms + lease_ms)
        )
        hook = conn.execute(select(webhooks).where(webhooks.c.seq == seq)).one()
        head = _head(conn, seq)
        if head is not None:
            jobs.append(_job(hook, head, now_ms=now_ms))
    return jobs


def next_due_ms(conn: Connection) -> int | None:
    """When the earliest pending delivery of an enabled webhook is due (or None)."""
    value = conn.execute(
        select(func.min(webhook_deliveries.c.next_attempt_at))
        .select_from(webhook_deliveries.join(webhooks))
        .where(webhook_deliveries.c.status == "pending", webhooks.c.enabled.is_(True))
    ).scalar_one()
    return None if value is None else int(value)


def retry_delay_s(delays: tuple[float, ...], attempts: int, retry_after_s: float | None) -> float:
    """The pause before the next attempt after `attempts` failed ones: the schedule's
    (with up to 10% jitter), or the receiver's Retry-After when that is longer."""
    base = delays[attempts] if attempts < len(delays) else delays[-1]
    delay = base * (1 + 0.1 * random.random())
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


def record(
    conn: Connection,
    *,
    owner: str,
    job: Job,
    outcome: sender.Outcome,
    now_ms: int,
    delays: tuple[float, ...],
    max_failures: int,
    lease_ms: int,
) -> Job | None:
    """Store the outcome of `job`'s attempt. Returns the webhook's next delivery when
    it is due now (the lease is kept for it), else releases the lease."""
    hook = conn.execute(
        select(webhooks).where(webhooks.c.seq == job.webhook_seq).with_for_update()
    ).first()
    if hook is None:
        return None  # deleted meanwhile (its deliveries with it)
    attempts = job.attempts + 1
    now = now_ms // 1000
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now_ms,
        "response_status": outcome.status,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    }
    hook_values: dict[str, Any] = {}
    disable_reason: str | None = None
    if outcome.ok:
        values.update(status="succeeded", delivered_at=now)
        hook_values["consecutive_failures"] = 0
    else:
        failures = int(hook.consecutive_failures) + 1
        hook_values["consecutive_failures"] = failures
        if outcome.status == 410:
            values["status"] = "failed"
            disable_reason = "gone"
        elif attempts >= len(delays):
            values["status"] = "failed"
        else:
            delay = retry_delay_s(delays, attempts, outcome.retry_after_s)
            values["next_attempt_at"] = now_ms + int(delay * 1000)
        if failures >= max_failures and disable_reason is None:
            disable_reason = "failures"
    # Only the attempt the claim made is recorded (a lease taken over meanwhile made
    # its own attempt of the same delivery, which records itself).
    conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.seq == job.delivery_seq,
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.attempts == job.attempts,
        )
        .values(**values)
    )
    ours = hook.lease_owner == owner
    if disable_reason is not None and hook.enabled:
        hook_values.update(enabled=False, disabled_reason=disable_reason, disabled_at=now)
        outbox.emit(
            conn,
            type=DISABLED_TYPE,
            agent_id=hook.agent_id,
            data={
                "webhook": {
                    **_public(hook),
                    "enabled": False,
                    "disabled_reason": disable_reason,
                    "consecutive_failures": hook_values["consecutive_failures"],
                }
            },
            now=now,
        )
    following: Job | None = None
    if ours and disable_reason is None and hook.enabled:
        head = _head(conn, hook.seq)
        if head is not None and head.next_attempt_at <= now_ms:
            hook_values["lease_until"] = now_ms + lease_ms
            following = _job(hook, head, now_ms=now_ms)
    if ours and following is None:
        hook_values.update(lease_owner=None, lease_until=None)
    if hook_values:
        conn.execute(update(webhooks).where(webhooks.c.seq == hook.seq).values(**hook_values))
    return following


def release(conn: Connection, *, owner: str, webhook_seq: int) -> None:
    """Give a lease back without an attempt (the worker is stopping)."""
    conn.execute(
        update(webhooks)
        .where(webhooks.c.seq == webhook_seq, webhooks.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def purge(conn: Connection, *, before: int) -> int:
    """Delete finished deliveries created before `before` (UNIX seconds)."""
    result = conn.execute(
        delete(webhook_deliveries).where(
            webhook_deliveries.c.created_at < before,
            webhook_deliveries.c.status != "pending",
        )
    )
    return int(result.rowcount or 0)


def has_undispatched(conn: Connection) -> bool:
    """Whether an enabled webhook is behind the newest event."""
    latest = outbox.latest_id(conn)
    row = conn.execute(
        select(literal(1))
        .select_from(webhooks)
        .where(webhooks.c.enabled.is_(True), webhooks.c.cursor < latest)
        .limit(1)
    ).first()
    return row is not None
