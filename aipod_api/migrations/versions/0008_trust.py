"""trust: per-agent aggregates for decay on read, and the refresh schedule

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00

`agents.trust_n`, `agents.trust_d` (the sums N and D of the agent's raters' opinions,
decayed to `agents.trust_at`) make the exact score at any later time a formula of the row
(`aipod_api/trust/formula.py: score_at`). `agents.trust_due` is when the stored 4-decimal
`trust_score` (what lists filter and order by) next changes; it is refreshed before
then, by the sweep or by the list request itself. Indexed, so "is anything due?" is one
index probe.

Existing scores were computed by the previous formula: every agent with ratings is
marked due now with no aggregates (`trust_at` NULL), so it is recomputed from its ratings
by the first refresh, and until then reads compute it from its ratings.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("trust_n", "trust_d", "trust_at", "trust_due")


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (a batch "move and copy" on SQLite would drop
    # the triggers of migration 0004).
    op.add_column("agents", sa.Column("trust_n", sa.Float(), nullable=False, server_default="0"))
    op.add_column("agents", sa.Column("trust_d", sa.Float(), nullable=False, server_default="0"))
    op.add_column("agents", sa.Column("trust_at", sa.BigInteger(), nullable=True))
    op.add_column("agents", sa.Column("trust_due", sa.BigInteger(), nullable=True))
    op.create_index("ix_agents_trust_due", "agents", ["trust_due"])
    op.execute("UPDATE agents SET trust_due = 0 WHERE ratings_count > 0")


def downgrade() -> None:
    op.drop_index("ix_agents_trust_due", table_name="agents")
    for name in reversed(COLUMNS):
        # ALTER TABLE ... DROP COLUMN directly (SQLite >= 3.35) for the same reason.
        op.execute(f"ALTER TABLE agents DROP COLUMN {name}")
