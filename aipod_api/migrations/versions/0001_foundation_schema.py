"""foundation schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 06:00:55.676407
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_norm", sa.String(length=254), nullable=False),
        sa.Column("nickname", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=512), nullable=True),
        sa.Column("capabilities", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("trust_score", sa.Float(), nullable=False),
        sa.Column("ratings_count", sa.Integer(), nullable=False),
        sa.Column("tasks_completed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_agents")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_agents_agent_id")),
        sa.UniqueConstraint("email_norm", name=op.f("uq_agents_email_norm")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agents_trust_order",
            [sa.literal_column("trust_score DESC"), "agent_id"],
            unique=False,
        )

    op.create_table(
        "ledger_transactions",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("task_seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_transactions")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_transactions_task", ["task_seq"], unique=False)

    op.create_table(
        "accounts",
        sa.Column(
            "account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("task_seq", sa.BigInteger(), nullable=True),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("held_cents", sa.BigInteger(), nullable=False),
        sa.Column("earned_cents", sa.BigInteger(), nullable=False),
        sa.Column("spent_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "kind = 'issuance' OR balance_cents >= 0", name=op.f("ck_accounts_non_negative")
        ),
        sa.CheckConstraint(
            "kind IN ('agent', 'escrow', 'issuance')", name=op.f("ck_accounts_kind")
        ),
        sa.CheckConstraint("held_cents >= 0", name=op.f("ck_accounts_held_non_negative")),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_accounts_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_accounts_agent_id")),
        sa.UniqueConstraint("task_seq", name=op.f("uq_accounts_task_seq")),
    )
    op.create_table(
        "agent_capabilities",
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_agent_capabilities_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("agent_id", "capability", name=op.f("pk_agent_capabilities")),
    )
    with op.batch_alter_table("agent_capabilities", schema=None) as batch_op:
        batch_op.create_index("ix_agent_capabilities_cap", ["capability", "agent_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_api_keys_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_agent", ["agent_id", "seq"], unique=False)

    op.create_table(
        "statement_lines",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("tx_seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=False),
        sa.Column("task_seq", sa.BigInteger(), nullable=True),
        sa.Column("counterparty_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_statement_lines_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["tx_seq"],
            ["ledger_transactions.seq"],
            name=op.f("fk_statement_lines_tx_seq_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_statement_lines")),
    )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.create_index("ix_statement_agent", ["agent_id", "seq"], unique=False)
        batch_op.create_index(
            "ix_statement_agent_task", ["agent_id", "task_seq", "seq"], unique=False
        )
        batch_op.create_index("ix_statement_agent_type", ["agent_id", "type", "seq"], unique=False)

    op.create_table(
        "tasks",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("required_capabilities", sa.Text(), nullable=False),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("publisher_id", sa.String(length=32), nullable=False),
        sa.Column("assignee_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("accepted_at", sa.BigInteger(), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("deliverables", sa.Text(), nullable=True),
        sa.Column("quality_notes", sa.Text(), nullable=True),
        sa.Column("rated", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'progress', 'done', 'cancelled', 'expired')",
            name=op.f("ck_tasks_status"),
        ),
        sa.CheckConstraint("budget_cents >= 0", name=op.f("ck_tasks_budget_non_negative")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["agents.agent_id"], name=op.f("fk_tasks_assignee_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["publisher_id"], ["agents.agent_id"], name=op.f("fk_tasks_publisher_id_agents")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_assignee_seq", ["assignee_id", "seq"], unique=False)
        batch_op.create_index("ix_tasks_publisher_seq", ["publisher_id", "seq"], unique=False)
        batch_op.create_index("ix_tasks_status_deadline", ["status", "deadline"], unique=False)
        batch_op.create_index("ix_tasks_status_seq", ["status", "seq"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tx_seq", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_ledger_entries_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["tx_seq"],
            ["ledger_transactions.seq"],
            name=op.f("fk_ledger_entries_tx_seq_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account", ["account_id", "seq"], unique=False)
        batch_op.create_index("ix_ledger_entries_tx", ["tx_seq"], unique=False)

    op.create_table(
        "ratings",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_seq", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("rater_id", sa.String(length=32), nullable=False),
        sa.Column("quality_x100", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "quality_x100 BETWEEN 100 AND 500", name=op.f("ck_ratings_quality_range")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agent_id"], name=op.f("fk_ratings_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["rater_id"], ["agents.agent_id"], name=op.f("fk_ratings_rater_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["task_seq"], ["tasks.seq"], name=op.f("fk_ratings_task_seq_tasks")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ratings")),
        sa.UniqueConstraint("task_seq", name="uq_ratings_task_seq"),
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.create_index("ix_ratings_agent_seq", ["agent_id", "seq"], unique=False)

    op.create_table(
        "task_capabilities",
        sa.Column("task_seq", sa.BigInteger(), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_seq"], ["tasks.seq"], name=op.f("fk_task_capabilities_task_seq_tasks")
        ),
        sa.PrimaryKeyConstraint("task_seq", "capability", name=op.f("pk_task_capabilities")),
    )
    with op.batch_alter_table("task_capabilities", schema=None) as batch_op:
        batch_op.create_index("ix_task_capabilities_cap", ["capability", "task_seq"], unique=False)

    # The system's issuance account: the counter-party of every signup credit.
    op.execute(
        "INSERT INTO accounts (kind, balance_cents, held_cents, earned_cents, spent_cents) "
        "VALUES ('issuance', 0, 0, 0, 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("task_capabilities", schema=None) as batch_op:
        batch_op.drop_index("ix_task_capabilities_cap")

    op.drop_table("task_capabilities")
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_agent_seq")

    op.drop_table("ratings")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_tx")
        batch_op.drop_index("ix_ledger_entries_account")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_status_seq")
        batch_op.drop_index("ix_tasks_status_deadline")
        batch_op.drop_index("ix_tasks_publisher_seq")
        batch_op.drop_index("ix_tasks_assignee_seq")

    op.drop_table("tasks")
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_agent_type")
        batch_op.drop_index("ix_statement_agent_task")
        batch_op.drop_index("ix_statement_agent")

    op.drop_table("statement_lines")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_agent")

    op.drop_table("api_keys")
    with op.batch_alter_table("agent_capabilities", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_capabilities_cap")

    op.drop_table("agent_capabilities")
    op.drop_table("accounts")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_transactions_task")

    op.drop_table("ledger_transactions")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index("ix_agents_trust_order")

    op.drop_table("agents")
