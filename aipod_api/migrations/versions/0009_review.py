"""review: pay on approval — the review window, change rounds, disputes, task history and
the publisher's record

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:30:00

- `tasks`: `review_seconds` (0 for every existing task: complete paid at once),
  `submitted_at`, `review_due`, `change_rounds`, `max_change_rounds`, `disputed_at`,
  `dispute_reason`, `resolution`, `assignee_share_bp`, `payout_cents`; indexes on
  (status, review_due) and per party for the auto-approval probes.
- The CHECK on `tasks.status` gains `submitted` and `disputed` (the transition table,
  aipod_api/tasks/flows.py). PostgreSQL: drop and add the constraint. SQLite cannot
  alter a constraint; the documented way for a change that existing rows already
  satisfy and that does not touch the stored format (sqlite.org/lang_altertable.html,
  "Making Other Kinds Of Table Schema Changes") is to rewrite the table's SQL text in
  `sqlite_schema` under `PRAGMA writable_schema` and bump `schema_version` — which keeps
  the table, its indexes and the counter triggers of migrations 0004/0006 as they are
  (a batch copy would drop those triggers).
- `task_history`: one row per transition (backfilled with a `publish` row per existing
  task; older transitions were not recorded).
- `agents.pub_*`: the publisher's record, `pub_tasks` backfilled from the tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_CHECK = "status IN ('open', 'progress', 'done', 'cancelled', 'expired')"
NEW_CHECK = (
    "status IN ('open', 'progress', 'done', 'submitted', 'disputed', 'cancelled', 'expired')"
)

TASK_COLUMNS: tuple[tuple[str, Any, str | None], ...] = (
    ("review_seconds", sa.Integer(), "0"),
    ("submitted_at", sa.BigInteger(), None),
    ("review_due", sa.BigInteger(), None),
    ("change_rounds", sa.Integer(), "0"),
    ("max_change_rounds", sa.Integer(), "0"),
    ("disputed_at", sa.BigInteger(), None),
    ("dispute_reason", sa.Text(), None),
    ("resolution", sa.String(length=8), None),
    ("assignee_share_bp", sa.Integer(), None),
    ("payout_cents", sa.BigInteger(), None),
)
AGENT_COLUMNS = ("pub_tasks", "pub_approved", "pub_disputes", "pub_disputes_lost")
INDEXES = (
    ("ix_tasks_status_review_due", ["status", "review_due"]),
    ("ix_tasks_assignee_status_review_due", ["assignee_id", "status", "review_due"]),
    ("ix_tasks_publisher_status_review_due", ["publisher_id", "status", "review_due"]),
)


def _set_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tasks'"
        ).scalar_one()
        if old not in sql:
            raise RuntimeError(f"tasks has no CHECK {old!r}: {sql}")
        version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
        bind.exec_driver_sql("PRAGMA writable_schema = ON")
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'tasks'",
            (sql.replace(old, new),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
        problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
        if problems != ["ok"]:
            raise RuntimeError(f"integrity check after the CHECK change: {problems}")
    else:
        op.execute("ALTER TABLE tasks DROP CONSTRAINT ck_tasks_status")
        op.execute(f"ALTER TABLE tasks ADD CONSTRAINT ck_tasks_status CHECK ({new})")


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (see 0008: a batch copy would drop the triggers).
    for name, type_, default in TASK_COLUMNS:
        op.add_column(
            "tasks", sa.Column(name, type_, nullable=default is None, server_default=default)
        )
    for name in AGENT_COLUMNS:
        op.add_column("agents", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    for index, columns in INDEXES:
        op.create_index(index, "tasks", columns)
    op.create_table(
        "task_history",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_seq", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_seq"], ["tasks.seq"], name=op.f("fk_task_history_task_seq_tasks")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_task_history")),
    )
    op.create_index("ix_task_history_task_seq", "task_history", ["task_seq", "seq"])
    op.execute(
        "INSERT INTO task_history (task_seq, action, from_status, to_status, actor_id, role, at)"
        " SELECT seq, 'publish', NULL, 'open', publisher_id, 'publisher', created_at FROM tasks"
        " ORDER BY seq"
    )
    op.execute(
        "UPDATE agents SET pub_tasks = "
        "(SELECT count(*) FROM tasks t WHERE t.publisher_id = agents.agent_id)"
    )
    _set_check(OLD_CHECK, NEW_CHECK)


def downgrade() -> None:
    bind = op.get_bind()
    left = bind.exec_driver_sql(
        "SELECT count(*) FROM tasks WHERE status IN ('submitted', 'disputed')"
    ).scalar_one()
    if left:
        raise RuntimeError(f"{left} task(s) in review or dispute; settle them before downgrading")
    _set_check(NEW_CHECK, OLD_CHECK)
    op.drop_index("ix_task_history_task_seq", table_name="task_history")
    op.drop_table("task_history")
    for index, _ in reversed(INDEXES):
        op.drop_index(index, table_name="tasks")
    for name in reversed(AGENT_COLUMNS):
        op.execute(f"ALTER TABLE agents DROP COLUMN {name}")
    for name, _, _ in reversed(TASK_COLUMNS):
        op.execute(f"ALTER TABLE tasks DROP COLUMN {name}")
