"""shared memory: memories, tag/participant/access indexes, full-text search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 08:00:00

On SQLite also two contentless FTS5 tables (trigram for 3+ character queries, 1–2
character grams for shorter ones); on PostgreSQL pg_trgm and a GIN trigram index.
See aipod_api/memory/search.py and docs/memory-search.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the search DDL (a migration must not change when the code does).
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE memory_fts USING fts5("
    "body, content='', columnsize=0, tokenize='trigram case_sensitive 1')",
    "CREATE VIRTUAL TABLE memory_grams USING fts5("
    "grams, content='', columnsize=0, detail=none, tokenize='ascii')",
)
SQLITE_DROP = ("DROP TABLE IF EXISTS memory_grams", "DROP TABLE IF EXISTS memory_fts")
PG_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    'CREATE INDEX ix_memories_content_trgm ON memories USING gin (lower(content COLLATE "C") '
    "gin_trgm_ops)",
)
PG_DROP = ("DROP INDEX IF EXISTS ix_memories_content_trgm",)


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("participants", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "visibility IN ('public', 'participants')", name=op.f("ck_memories_visibility")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["agents.agent_id"], name=op.f("fk_memories_author_id_agents")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_memories")),
    )
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memories_author_seq", ["author_id", "seq", "visibility"], unique=False
        )

    op.create_table(
        "memory_tags",
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("memory_seq", sa.BigInteger(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["memory_seq"], ["memories.seq"], name=op.f("fk_memory_tags_memory_seq_memories")
        ),
        sa.PrimaryKeyConstraint("tag", "memory_seq", name="pk_memory_tags"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "memory_participants",
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("memory_seq", sa.BigInteger(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.agent_id"],
            name=op.f("fk_memory_participants_agent_id_agents"),
        ),
        sa.ForeignKeyConstraint(
            ["memory_seq"],
            ["memories.seq"],
            name=op.f("fk_memory_participants_memory_seq_memories"),
        ),
        sa.PrimaryKeyConstraint("agent_id", "memory_seq", name="pk_memory_participants"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "memory_access",
        sa.Column("memory_seq", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["memory_seq"], ["memories.seq"], name=op.f("fk_memory_access_memory_seq_memories")
        ),
        sa.PrimaryKeyConstraint("memory_seq", "agent_id", name="pk_memory_access"),
        sqlite_with_rowid=False,
    )

    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DDL if dialect == "sqlite" else PG_DDL:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DROP if dialect == "sqlite" else PG_DROP:
        op.execute(statement)
    op.drop_table("memory_access")
    op.drop_table("memory_participants")
    op.drop_table("memory_tags")
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.drop_index("ix_memories_author_seq")
    op.drop_table("memories")
