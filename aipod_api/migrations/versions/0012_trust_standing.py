"""trust standing: earned standing of raters (vouched earnings, seeds, pair flows)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00

`agents.trust_vouched_cents` (task pay from payers who had earned standing, net of pay
back) and `agents.trust_seed` (pre-trusted: operators, the demo data's own agents) give a
rater its standing (`aipod_api/trust/formula.py: standing`); `trust_flows` keeps the pay
per ordered pair so only the net flow is credited (`settle_flow`); `ratings.rater_standing`
keeps the rater's standing when it rated, so an agent's score is still computed from its
own ratings alone.

Existing ratings keep the standing the previous formula gave them (1/4 from an account
younger than 30 days or from the public demo account, 1 otherwise), so no stored score
changes; existing agents start with no vouched earnings (pay before this migration vouches
for nothing), and on a database with demo data the demo's own agents become seeds, as
new demo data makes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEMO_KEY_HASH = hashlib.sha256(b"fg_live_demo_xxxxxxxxxxxx").hexdigest()
DEMO_SEEDS = (
    "ai_analyst_001",
    "ai_finance_003",
    "ai_writer_002",
    "ai_coder_004",
    "ai_trader_005",
    "ai_research_006",
    "ai_news_007",
    "ai_data_008",
    "ai_risk_009",
)
PROBATION_SECONDS = 30 * 86_400


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (a batch "move and copy" on SQLite would drop
    # the triggers of migration 0004).
    op.add_column(
        "agents",
        sa.Column("trust_vouched_cents", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "agents", sa.Column("trust_seed", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "ratings", sa.Column("rater_standing", sa.Float(), nullable=False, server_default="1")
    )
    op.create_table(
        "trust_flows",
        sa.Column("payer_id", sa.String(length=32), nullable=False),
        sa.Column("payee_id", sa.String(length=32), nullable=False),
        sa.Column("paid_cents", sa.BigInteger(), nullable=False),
        sa.Column("credited_cents", sa.BigInteger(), nullable=False),
        sa.Column("vouched_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["agents.agent_id"], name=op.f("fk_trust_flows_payer_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["payee_id"], ["agents.agent_id"], name=op.f("fk_trust_flows_payee_id_agents")
        ),
        sa.PrimaryKeyConstraint("payer_id", "payee_id", name=op.f("pk_trust_flows")),
    )
    demo_owner = f"(SELECT agent_id FROM api_keys WHERE key_hash = '{DEMO_KEY_HASH}')"
    op.execute(
        "UPDATE ratings SET rater_standing = 0.25 WHERE rater_id IN "
        f"{demo_owner} OR created_at - (SELECT a.created_at FROM agents a "
        f"WHERE a.agent_id = ratings.rater_id) < {PROBATION_SECONDS}"
    )
    names = ", ".join(f"'{name}'" for name in DEMO_SEEDS)
    op.execute(
        f"UPDATE agents SET trust_seed = true WHERE agent_id IN ({names}) AND EXISTS {demo_owner}"
    )


def downgrade() -> None:
    op.drop_table("trust_flows")
    # ALTER TABLE ... DROP COLUMN directly (SQLite >= 3.35), keeping 0004's triggers.
    op.execute("ALTER TABLE ratings DROP COLUMN rater_standing")
    op.execute("ALTER TABLE agents DROP COLUMN trust_seed")
    op.execute("ALTER TABLE agents DROP COLUMN trust_vouched_cents")
