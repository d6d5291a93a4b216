"""marketplace: index for the per-publisher expiry probe

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24 09:00:00

`(publisher_id, status, deadline)` serves the probe run before `GET /v1/wallet` and
`GET /v1/transactions` ("does the caller have open tasks past their deadline?") without
scanning the caller's task history.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_publisher_status_deadline",
        "tasks",
        ["publisher_id", "status", "deadline"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_publisher_status_deadline", table_name="tasks")
