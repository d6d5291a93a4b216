"""Property: search == brute-force substring filter over the caller's visible memories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ALPHABET = "新能源渗透率电池比亚迪领先市场数据光伏汽车的了AaBbQq01 %,\"*'-:"
AUTHORS = ("alice", "bob", "carol")


def _norm(value: str) -> str:
    """The documented rule: ASCII letters compare case-insensitively, nothing else changes."""
    return "".join(c.lower() if c.isascii() else c for c in value)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from aipod_api.core import migrate
    from aipod_api.core.db import make_null_pool_engine, transaction

    path: Path = tmp_path_factory.mktemp("prop") / "prop.db"
    eng = make_null_pool_engine(f"sqlite:///{path}")
    migrate.upgrade(eng)
    from aipod_api.agents import service as agents_service

    with transaction(eng, write=True) as conn:
        for name in AUTHORS:
            agents_service.create_agent(
                conn,
                username=name,
                email=f"{name}@x.test",
                nickname=None,
                capabilities=[],
                password_hash=None,
                now=0,
            )
    yield eng
    eng.dispose()


memory_st = st.tuples(
    st.text(alphabet=ALPHABET, min_size=1, max_size=30).filter(lambda s: s.strip()),
    st.sampled_from(AUTHORS),
    st.sampled_from(("public", "participants")),
    st.lists(st.sampled_from(AUTHORS), max_size=2, unique=True),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    corpus=st.lists(memory_st, min_size=1, max_size=12),
    picks=st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 30), st.integers(1, 6)), max_size=6
    ),
    extra=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=4), max_size=3),
    viewer=st.sampled_from(AUTHORS),
)
def test_search_equals_brute_force(
    engine: Any,
    corpus: list[tuple[str, str, str, list[str]]],
    picks: list[tuple[int, int, int]],
    extra: list[str],
    viewer: str,
) -> None:
    from aipod_api.core.db import transaction
    from aipod_api.memory import service

    with transaction(engine, write=True) as conn:
        try:
            made = []
            for content, author, visibility, participants in corpus:
                m = service.create_memory(
                    conn,
                    author_id=author,
                    content=content,
                    participants=participants,
                    tags=[],
                    visibility=visibility,
                    now=0,
                )
                made.append((m, author, visibility, participants))
            queries = list(extra)
            for index, start, length in picks:
                content = corpus[index % len(corpus)][0]
                queries.append(content[start % len(content) :][:length])
            for raw in queries:
                q = raw.strip()
                if not q:
                    continue
                expected = [
                    m["memory_id"]
                    for m, author, visibility, participants in reversed(made)
                    if _norm(q) in _norm(m["content"])
                    and (visibility == "public" or viewer == author or viewer in participants)
                ]
                for sort in ("newest", "relevance"):
                    data = service.list_memories(
                        conn, viewer_id=viewer, q=q, sort=sort, page_size=100
                    )
                    got = [item["memory_id"] for item in data["items"]]
                    if sort == "newest":
                        assert got == expected, (q, viewer)
                    else:
                        assert sorted(got) == sorted(expected), (q, viewer)
                    assert data["total"] == len(expected)
            # deleting removes from every index
            for m, author, _, _ in made:
                service.delete_memory(conn, memory_id=m["memory_id"], caller_id=author)
            for raw in queries:
                if raw.strip():
                    assert (
                        service.list_memories(conn, viewer_id=viewer, q=raw.strip())["items"] == []
                    )
        finally:
            conn.rollback()
