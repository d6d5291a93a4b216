"""memory: search and list within what the caller may see

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00

A list or search used to walk every memory matching the filter — other agents' private
("participants") ones included — and drop the invisible ones afterwards, so its cost
(and its latency, observable by anyone) grew with data the caller may not see. Now it
reads two disjoint ordered streams and merges them (docs/memory-search.md): the public
memories from indexes that hold only public rows, and the caller's own private ones from
the caller's access index. This migration builds the public-only indexes:

- `memories (visibility, seq)`, `memories (author_id, visibility, seq)` (replacing
  `(author_id, seq, visibility)`), `memory_tags (tag, public, memory_seq)`,
  `memory_participants (agent_id, public, memory_seq)`;
- SQLite: the FTS5 tables keep public memories only (private ones are removed; a private
  memory's content is checked directly, for its members only);
- PostgreSQL: the trigram index becomes partial, `WHERE visibility = 'public'`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the documents aipod_api/memory/search.py indexes (contentless FTS5
# tables delete a row only when given exactly the indexed text again).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _token(gram: str) -> str:
    if all(ord(c) > 127 or c.isalnum() for c in gram):
        return gram
    return "zz" + "".join(f"{ord(c):06x}" for c in gram)


def _documents(content: str) -> tuple[str, str]:
    normalized = content.translate(_ASCII_LOWER)
    grams = dict.fromkeys(normalized)
    grams.update(dict.fromkeys(normalized[i : i + 2] for i in range(len(normalized) - 1)))
    return normalized, " ".join(_token(g) for g in grams)


PG_TRGM_ALL = (
    'CREATE INDEX ix_memories_content_trgm ON memories USING gin (lower(content COLLATE "C") '
    "gin_trgm_ops)"
)
PG_TRGM_PUBLIC = (
    "CREATE INDEX ix_memories_public_content_trgm ON memories USING gin "
    "(lower(content COLLATE \"C\") gin_trgm_ops) WHERE visibility = 'public'"
)
BATCH = 1000


def _private_documents() -> Iterator[list[dict[str, object]]]:
    rows = op.get_bind().execute(
        sa.text("SELECT seq, content FROM memories WHERE visibility <> 'public' ORDER BY seq")
    )
    batch: list[dict[str, object]] = []
    for seq, content in rows:
        body, grams = _documents(content)
        batch.append({"seq": seq, "body": body, "grams": grams})
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _fts(command: str) -> None:
    """Insert (`command=''`) or delete (`'delete'`) every private memory's FTS rows."""
    conn = op.get_bind()
    for batch in list(_private_documents()):
        if command:
            conn.execute(
                sa.text(
                    "INSERT INTO memory_fts (memory_fts, rowid, body) "
                    "VALUES ('delete', :seq, :body)"
                ),
                batch,
            )
            conn.execute(
                sa.text(
                    "INSERT INTO memory_grams (memory_grams, rowid, grams) "
                    "VALUES ('delete', :seq, :grams)"
                ),
                batch,
            )
        else:
            conn.execute(
                sa.text("INSERT INTO memory_fts (rowid, body) VALUES (:seq, :body)"), batch
            )
            conn.execute(
                sa.text("INSERT INTO memory_grams (rowid, grams) VALUES (:seq, :grams)"), batch
            )


def upgrade() -> None:
    op.create_index("ix_memories_public_seq", "memories", ["visibility", "seq"])
    op.drop_index("ix_memories_author_seq", table_name="memories")
    op.create_index(
        "ix_memories_author_visibility_seq", "memories", ["author_id", "visibility", "seq"]
    )
    op.create_index("ix_memory_tags_public", "memory_tags", ["tag", "public", "memory_seq"])
    op.create_index(
        "ix_memory_participants_public",
        "memory_participants",
        ["agent_id", "public", "memory_seq"],
    )
    if op.get_bind().dialect.name == "sqlite":
        _fts("delete")
    else:
        op.execute("DROP INDEX IF EXISTS ix_memories_content_trgm")
        op.execute(PG_TRGM_PUBLIC)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _fts("")
    else:
        op.execute("DROP INDEX IF EXISTS ix_memories_public_content_trgm")
        op.execute(PG_TRGM_ALL)
    op.drop_index("ix_memory_participants_public", table_name="memory_participants")
    op.drop_index("ix_memory_tags_public", table_name="memory_tags")
    op.drop_index("ix_memories_author_visibility_seq", table_name="memories")
    op.create_index("ix_memories_author_seq", "memories", ["author_id", "seq", "visibility"])
    op.drop_index("ix_memories_public_seq", table_name="memories")
