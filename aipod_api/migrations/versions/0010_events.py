"""events: the transactional outbox (events, per-recipient inbox, discovery topics, clock)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:45:00

See aipod_api/events/tables.py and events/outbox.py. `event_clock` holds one row (id 1)
whose `last_id` hands out event ids at commit, in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_table(
        "event_inbox",
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "event_id", name=op.f("pk_event_inbox")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_event_inbox_event_id", "event_inbox", ["event_id"])
    op.create_table(
        "event_topics",
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("task_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "event_id", name=op.f("pk_event_topics")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_event_topics_event_id", "event_topics", ["event_id"])
    clock = op.create_table(
        "event_clock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_clock")),
    )
    op.bulk_insert(clock, [{"id": 1, "last_id": 0}])


def downgrade() -> None:
    op.drop_table("event_clock")
    op.drop_index("ix_event_topics_event_id", table_name="event_topics")
    op.drop_table("event_topics")
    op.drop_index("ix_event_inbox_event_id", table_name="event_inbox")
    op.drop_table("event_inbox")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_table("events")
