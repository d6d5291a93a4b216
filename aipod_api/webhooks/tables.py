"""Webhook tables on the shared metadata (migration 0011).

- `webhooks`: one receiver of one agent. `secret` is the current signing secret in its
  `whsec_` form; `prev_secret` the one it replaced, still used to sign (as a second
  signature) until `prev_secret_until`. `cursor` is the id of the last event of the
  outbox already turned into deliveries; `lease_owner` / `lease_until` (milliseconds)
  mark the worker that is sending this webhook's deliveries right now (at most one at a
  time: deliveries go out in order, one after the other).
- `webhook_deliveries`: one event to one webhook: the exact body sent (frozen when the
  delivery is created, so every retry is the same bytes under the same `msg_id`), its
  state, the number of attempts and the last attempt's result. `replay_no` is 0 for
  the delivery the event produced and 1, 2, ... for replays.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from aipod_api.core.tables import BigSeq, metadata

DELIVERY_STATUSES = ("pending", "succeeded", "failed")

webhooks = Table(
    "webhooks",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("types", Text, nullable=False, default="[]"),  # JSON array; empty: every type
    Column("secret", String(128), nullable=False),
    Column("prev_secret", String(128), nullable=True),
    Column("prev_secret_until", BigInteger, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(32), nullable=True),
    Column("disabled_at", BigInteger, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("cursor", BigInteger, nullable=False, default=0),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
Index("ix_webhooks_agent_id", webhooks.c.agent_id, webhooks.c.seq)
Index("ix_webhooks_enabled", webhooks.c.enabled, webhooks.c.cursor)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column(
        "webhook_seq",
        BigInteger,
        ForeignKey("webhooks.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger, nullable=False),
    Column("replay_no", Integer, nullable=False, default=0),
    Column("msg_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=False),  # ms
    Column("last_attempt_at", BigInteger, nullable=True),  # ms
    Column("response_status", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("error", String(300), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    UniqueConstraint("webhook_seq", "event_id", "replay_no", name="uq_webhook_deliveries_event"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
)
# The head of a webhook's queue (its oldest pending delivery), and the log, newest first.
Index(
    "ix_webhook_deliveries_queue",
    webhook_deliveries.c.webhook_seq,
    webhook_deliveries.c.status,
    webhook_deliveries.c.seq,
)
# "What is due next?" across webhooks, and the purge of old deliveries.
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.status,
    webhook_deliveries.c.next_attempt_at,
)
Index("ix_webhook_deliveries_created", webhook_deliveries.c.created_at)
