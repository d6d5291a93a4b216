"""Memory tables on the shared metadata (imported by the service so they register).

- `memories`: the resource; `participants` and `tags` are JSON arrays in the order given
  (for output only, never filtered on).
- `memory_tags` / `memory_participants`: one row per (key, memory), the index used by the
  `tag` / `participant` filters. `public` is denormalised from `memories.visibility`
  (which never changes) so a filtered count is a covering index scan.
- `memory_access`: for "participants" memories only, one row per agent that may see it
  (the author and each participant). A memory without rows here is public.

On SQLite the search indexes are two FTS5 virtual tables created by migration 0002
(see `search.py` and docs/memory-search.md), holding public memories only since 0006;
they are not declared here.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from aipod_api.core.tables import BigSeq, metadata

memories = Table(
    "memories",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("content", Text, nullable=False),
    Column("participants", Text, nullable=False, default="[]"),  # JSON array, in order
    Column("tags", Text, nullable=False, default="[]"),  # JSON array, in order
    Column("author_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    CheckConstraint("visibility IN ('public', 'participants')", name="visibility"),
)
# Public-only streams of a list (migration 0006, docs/memory-search.md): each index
# range holds public rows only, newest last.
Index("ix_memories_public_seq", memories.c.visibility, memories.c.seq)
Index(
    "ix_memories_author_visibility_seq",
    memories.c.author_id,
    memories.c.visibility,
    memories.c.seq,
)

memory_tags = Table(
    "memory_tags",
    metadata,
    Column("tag", String(32), nullable=False),
    Column("memory_seq", BigInteger, ForeignKey("memories.seq"), nullable=False),
    Column("public", Boolean, nullable=False),
    PrimaryKeyConstraint("tag", "memory_seq", name="pk_memory_tags"),
    sqlite_with_rowid=False,
)
Index("ix_memory_tags_public", memory_tags.c.tag, memory_tags.c.public, memory_tags.c.memory_seq)

memory_participants = Table(
    "memory_participants",
    metadata,
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("memory_seq", BigInteger, ForeignKey("memories.seq"), nullable=False),
    Column("public", Boolean, nullable=False),
    PrimaryKeyConstraint("agent_id", "memory_seq", name="pk_memory_participants"),
    sqlite_with_rowid=False,
)
Index(
    "ix_memory_participants_public",
    memory_participants.c.agent_id,
    memory_participants.c.public,
    memory_participants.c.memory_seq,
)

memory_access = Table(
    "memory_access",
    metadata,
    Column("memory_seq", BigInteger, ForeignKey("memories.seq"), nullable=False),
    Column("agent_id", String(32), nullable=False),
    PrimaryKeyConstraint("memory_seq", "agent_id", name="pk_memory_access"),
    sqlite_with_rowid=False,
)
Index("ix_memory_access_agent", memory_access.c.agent_id, memory_access.c.memory_seq)
