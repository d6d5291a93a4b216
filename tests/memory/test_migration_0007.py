"""Migration 0007 on a database written before it: private memories leave the search
indexes (SQLite FTS5; PostgreSQL's trigram index becomes partial) and every search still
answers exactly what the caller may see; the downgrade puts them back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, text

from aipod_api.core import migrate
from aipod_api.core.db import make_null_pool_engine, transaction
from aipod_api.memory import search, service

# Its database starts with no schema: the test migrates it to 0006 itself.
pytestmark = pytest.mark.empty_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_null_pool_engine(database_url)
    yield eng
    eng.dispose()


def _alembic(engine: Engine, fn: str, target: str) -> None:
    cfg = migrate.alembic_config()
    with transaction(engine, write=True) as conn:
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, target)


def _fts_rowids(engine: Engine, table: str, token: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT rowid FROM {table} WHERE {table} MATCH :m ORDER BY rowid"),
            {"m": search.fts_string(token)},
        )
        return [int(r[0]) for r in rows]


def test_upgrade_from_0006_keeps_search_exact(engine: Engine) -> None:
    from aipod_api.agents import service as agents_service

    _alembic(engine, "upgrade", "0006")
    sqlite = engine.dialect.name == "sqlite"
    with transaction(engine, write=True) as conn:
        for name in ("ann", "bob", "cyd"):
            agents_service.create_agent(
                conn,
                username=name,
                email=f"{name}@x.test",
                nickname=None,
                capabilities=[],
                password_hash=None,
                now=0,
            )
        # What the code before 0007 wrote: every memory, private ones too, in both FTS
        # tables (on PostgreSQL the trigram index simply covers every row).
        for seq, (author, vis, content) in enumerate(
            [
                ("ann", "public", "公开的电池数据"),
                ("ann", "participants", "私密的电池笔记"),
                ("bob", "participants", "Bob 的 secret 电池"),
            ],
            start=1,
        ):
            conn.execute(
                text(
                    "INSERT INTO memories (seq, content, participants, tags, author_id,"
                    " visibility, created_at) VALUES (:seq, :c, '[]', '[]', :a, :v, 0)"
                ),
                {"seq": seq, "c": content, "a": author, "v": vis},
            )
            if vis != "public":
                conn.execute(
                    text("INSERT INTO memory_access (memory_seq, agent_id) VALUES (:s, :a)"),
                    {"s": seq, "a": author},
                )
            if sqlite:
                body, grams = search.SqliteSearch.documents(content)
                conn.execute(
                    text("INSERT INTO memory_fts (rowid, body) VALUES (:s, :b)"),
                    {"s": seq, "b": body},
                )
                conn.execute(
                    text("INSERT INTO memory_grams (rowid, grams) VALUES (:s, :g)"),
                    {"s": seq, "g": grams},
                )
    if sqlite:
        assert _fts_rowids(engine, "memory_grams", "电池") == [1, 2, 3]

    _alembic(engine, "upgrade", "heads")

    if sqlite:
        assert _fts_rowids(engine, "memory_grams", "电池") == [1]
        assert _fts_rowids(engine, "memory_fts", "的电池") == [1]
    else:
        with engine.connect() as conn:
            indexdef = conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname ="
                    " 'ix_memories_public_content_trgm'"
                )
            ).scalar_one()
        assert "WHERE ((visibility)::text = 'public'::text)" in indexdef
    with engine.connect() as conn:
        for viewer, q, expected in (
            ("ann", "电池", ["mem_002", "mem_001"]),
            ("bob", "电池", ["mem_003", "mem_001"]),
            ("cyd", "电池", ["mem_001"]),
            ("bob", "SECRET", ["mem_003"]),
            ("ann", "私密的电池", ["mem_002"]),
            ("cyd", "私密", []),
        ):
            data = service.list_memories(conn, viewer_id=viewer, q=q)
            assert [m["memory_id"] for m in data["items"]] == expected, (viewer, q)
            assert data["total"] == len(expected)
        # Deleting a migrated private memory leaves the (public-only) indexes intact.
    with transaction(engine, write=True) as conn:
        service.delete_memory(conn, memory_id="mem_003", caller_id="bob")
        service.delete_memory(conn, memory_id="mem_001", caller_id="ann")
    if sqlite:
        assert _fts_rowids(engine, "memory_grams", "电池") == []

    _alembic(engine, "downgrade", "0006")
    if sqlite:
        assert _fts_rowids(engine, "memory_grams", "电池") == [2]
