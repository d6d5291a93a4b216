"""Shared memory: write, list/filter/search, get, delete. Framework-free.

Visibility: a "participants" memory is seen only by its author and its participants,
by every path (list, each filter, search, totals, get, delete). The rule is part of the
same SQL as the items and the total; a hidden memory is "not found" (404), never 403.

Listing (docs/memory-search.md): the visible set is read as two ordered streams merged
newest first — public memories from a public-only index (participant > author > tag > q >
all memories, the first filter given, chooses it), and the caller's own private ones from
the caller's access index — with every other filter a per-candidate probe. No stream
reads another agent's private memory, so the cost follows what the caller may see. A
page stops after `offset + page_size + 1` visible candidates. Unfiltered and tag-only
lists take an exact total from the kept counters; other filters count up to `COUNT_CAP`
(then `total = COUNT_CAP`, `total_capped = true`); `has_more` is always exact (one extra
row is fetched).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    String,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)

from aipod_api.core import counters
from aipod_api.core.errors import ApiError, Forbidden, NotFound
from aipod_api.core.i18n import message, register_messages
from aipod_api.core.openapi import Deleted
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agents
from aipod_api.core.types import COUNT_CAP as SHARED_COUNT_CAP
from aipod_api.core.types import MEMORY_ID, iso
from aipod_api.events import outbox
from aipod_api.memory import search
from aipod_api.memory.schemas import MemoryPage, MemoryPublic
from aipod_api.memory.tables import memories, memory_access, memory_participants, memory_tags

COUNT_CAP = SHARED_COUNT_CAP

register_messages(
    {
        "memory_unknown_participants": (
            "参与节点不存在: {ids}",
            "Unknown participant agent(s): {ids}",
        ),
        "memory_unknown_participant": ("节点不存在: {agent_id}", "No such agent: {agent_id}"),
        "memory_not_author": (
            "只有作者可以删除这条记忆",
            "Only the author can delete this memory",
        ),
    }
)


class MemoryNotFound(NotFound):
    key = "memory_not_found"


class NotAuthor(Forbidden):
    key = "memory_not_author"


class UnknownParticipants(ApiError):
    """400 naming each unknown participant; the messages are localised when rendered."""

    status = 400
    key = "memory_unknown_participants"

    def __init__(self, unknown: list[tuple[int, str]]) -> None:
        super().__init__(ids=", ".join(p for _, p in unknown))
        self.unknown = unknown

    def render(self, english: bool) -> tuple[str, Any]:
        errors = [
            {
                "field": f"participants[{i}]",
                "message": message("memory_unknown_participant", english, agent_id=p),
            }
            for i, p in self.unknown
        ]
        return message(self.key, english, **self.params), {"errors": errors}


def serialize(row: Any) -> MemoryPublic:
    return {
        "memory_id": MEMORY_ID.format(row.seq),
        "content": row.content,
        "participants": orjson.loads(row.participants),
        "tags": orjson.loads(row.tags),
        "author_id": row.author_id,
        "visibility": row.visibility,
        "created_at": iso(row.created_at),
    }


def _check_participants(conn: Connection, participants: list[str]) -> None:
    if not participants:
        return
    known = set(
        conn.execute(select(agents.c.agent_id).where(agents.c.agent_id.in_(participants)))
        .scalars()
        .all()
    )
    unknown = [(i, p) for i, p in enumerate(participants) if p not in known]
    if unknown:
        raise UnknownParticipants(unknown)


def create_memory(
    conn: Connection,
    *,
    author_id: str,
    content: str,
    participants: list[str],
    tags: list[str],
    visibility: str,
    now: int,
) -> MemoryPublic:
    _check_participants(conn, participants)
    public = visibility == "public"
    seq = int(
        conn.execute(
            insert(memories)
            .values(
                content=content,
                participants=orjson.dumps(participants).decode(),
                tags=orjson.dumps(tags).decode(),
                author_id=author_id,
                visibility=visibility,
                created_at=now,
            )
            .returning(memories.c.seq)
        ).scalar_one()
    )
    if tags:
        # Sorted: each public tag bumps its counter row (migration 0004), and rows locked
        # in one order cannot deadlock with another writer's (wallet/ledger.py).
        conn.execute(
            insert(memory_tags),
            [{"tag": tag, "memory_seq": seq, "public": public} for tag in sorted(tags)],
        )
    if participants:
        conn.execute(
            insert(memory_participants),
            [{"agent_id": p, "memory_seq": seq, "public": public} for p in participants],
        )
    if not public:
        members = dict.fromkeys([author_id, *participants])
        conn.execute(insert(memory_access), [{"memory_seq": seq, "agent_id": m} for m in members])
    search.for_dialect(conn.dialect.name).index(conn, seq, content, public=public)
    row = conn.execute(select(memories).where(memories.c.seq == seq)).one()
    shown = serialize(row)
    shared_with = [p for p in participants if p != author_id]
    if shared_with:
        # Every participant may read the memory (public, or a member of a "participants"
        # one), so each is told, with the memory as `GET /v1/memory/{id}` shows it.
        outbox.emit(
            conn, type="memory.shared", data={"memory": shown}, recipients=shared_with, now=now
        )
    return shown


def _visible_row(conn: Connection, memory_id: str, viewer_id: str) -> Any:
    seq = MEMORY_ID.parse(memory_id)
    row = None
    if seq is not None:
        row = conn.execute(select(memories).where(memories.c.seq == seq)).first()
    if row is None or not _can_see(conn, row, viewer_id):
        raise MemoryNotFound(memory_id=memory_id)
    return row


def _can_see(conn: Connection, row: Any, viewer_id: str) -> bool:
    if row.visibility == "public" or row.author_id == viewer_id:
        return True
    member = conn.execute(
        select(memory_access.c.agent_id).where(
            memory_access.c.memory_seq == row.seq, memory_access.c.agent_id == viewer_id
        )
    ).first()
    return member is not None


def get_memory(conn: Connection, *, memory_id: str, viewer_id: str) -> MemoryPublic:
    return serialize(_visible_row(conn, memory_id, viewer_id))


def delete_memory(conn: Connection, *, memory_id: str, caller_id: str) -> Deleted:
    row = _visible_row(conn, memory_id, caller_id)
    if row.author_id != caller_id:
        raise NotAuthor()
    seq = row.seq
    search.for_dialect(conn.dialect.name).unindex(
        conn, seq, row.content, public=row.visibility == "public"
    )
    conn.execute(delete(memory_tags).where(memory_tags.c.memory_seq == seq))
    conn.execute(delete(memory_participants).where(memory_participants.c.memory_seq == seq))
    conn.execute(delete(memory_access).where(memory_access.c.memory_seq == seq))
    conn.execute(delete(memories).where(memories.c.seq == seq))
    return {"id": memory_id, "deleted": True}


# --- listing -------------------------------------------------------------------------


# Visible = public memories ∪ the caller's own "participants" memories. A list reads
# them as two disjoint streams, each already in seq order, merged newest first:
# - the *public* stream, from an index holding public rows only (the first filter given
#   chooses which: participant > author > tag > q > all); the other filters are probes;
# - the *member* stream: the caller's rows of `memory_access` (agent_id, memory_seq),
#   each probed for every filter.
# Neither ever reads another agent's private memory, so what a request costs depends
# only on what the caller may see (docs/memory-search.md).
_PUBLIC_SOURCES: dict[str, search.Source] = {
    "participant": search.Source(
        from_="memory_participants d",
        where="d.agent_id = :participant AND d.public = :yes",
        seq="d.memory_seq",
    ),
    "author": search.Source(
        from_="memories d", where="d.author_id = :author AND d.visibility = 'public'", seq="d.seq"
    ),
    "tag": search.Source(
        from_="memory_tags d", where="d.tag = :tag AND d.public = :yes", seq="d.memory_seq"
    ),
    "all": search.Source(from_="memories d", where="d.visibility = 'public'", seq="d.seq"),
}
_MEMBER_SOURCE = search.Source(
    from_="memory_access va", where="va.agent_id = :me", seq="va.memory_seq"
)


def _filter_probes(
    backend: search.SearchBackend,
    seq: str,
    *,
    skip: str,
    member: bool,
    participant: str | None,
    author: str | None,
    tag: str | None,
    q: str | None,
) -> tuple[list[str], dict[str, Any]]:
    """Per-candidate probes for every given filter except the stream's own source."""
    probes: list[str] = []
    params: dict[str, Any] = {}
    probe = backend.probe
    if participant is not None and skip != "participant":
        probes.append(
            probe(
                "SELECT 1 FROM memory_participants fp WHERE fp.agent_id = :participant"
                f" AND fp.memory_seq = {seq}"
            )
        )
    if author is not None and skip != "author":
        probes.append(
            probe(f"SELECT 1 FROM memories fa WHERE fa.seq = {seq} AND fa.author_id = :author")
        )
    if tag is not None and skip != "tag":
        probes.append(
            probe(f"SELECT 1 FROM memory_tags ft WHERE ft.tag = :tag AND ft.memory_seq = {seq}")
        )
    if q is not None and skip != "q":
        sql, extra = (backend.member_condition if member else backend.condition)(q, seq)
        probes.append(sql)
        params.update(extra)
    return probes, params


def _stream(source: search.Source, probes: list[str]) -> str:
    where = " AND ".join(f"({c})" for c in [source.where, *probes])
    return f"SELECT {source.seq} AS seq FROM {source.from_} WHERE {where}"


def visible_seqs_sql(
    backend: search.SearchBackend,
    *,
    participant: str | None,
    author: str | None,
    tag: str | None,
    q: str | None,
) -> tuple[str, str, dict[str, Any]]:
    """(newest-first SQL of the visible matching seqs, unordered SQL of the same, params)."""
    kind = next(
        (
            k
            for k, v in (("participant", participant), ("author", author), ("tag", tag), ("q", q))
            if v is not None
        ),
        "all",
    )
    public = backend.source(q) if kind == "q" and q is not None else _PUBLIC_SOURCES[kind]
    filters = {"participant": participant, "author": author, "tag": tag, "q": q}
    params = dict(public.params)
    public_probes, extra = _filter_probes(backend, public.seq, skip=kind, member=False, **filters)
    params.update(extra)
    member_probes, extra = _filter_probes(
        backend, _MEMBER_SOURCE.seq, skip="", member=True, **filters
    )
    params.update(extra)
    both = f"{_stream(public, public_probes)} UNION ALL {_stream(_MEMBER_SOURCE, member_probes)}"
    return f"SELECT seq FROM ({both}) v ORDER BY seq DESC", both, params


_PRIVATE_VISIBLE = Prepared(
    select(func.count())
    .select_from(memory_access)
    .where(memory_access.c.agent_id == bindparam("me", type_=String))
)
# Driven from the caller's own access rows (ix_memory_access_agent), each probed for the
# tag: a correlated EXISTS fixes that order (a join lets SQLite start from the tag's rows,
# and PostgreSQL hash every private row of the tag); OFFSET 0 keeps PostgreSQL from
# turning it into a join.
_PRIVATE_VISIBLE_TAGGED = Prepared(
    select(func.count())
    .select_from(memory_access)
    .where(
        memory_access.c.agent_id == bindparam("me", type_=String),
        select(literal(1))
        .where(
            memory_tags.c.tag == bindparam("tag", type_=String),
            memory_tags.c.memory_seq == memory_access.c.memory_seq,
            memory_tags.c.public.is_(False),
        )
        .offset(0)
        .exists(),
    )
)


_ROW_COLUMNS = "m.seq, m.content, m.participants, m.tags, m.author_id, m.visibility, m.created_at"
_TEXT_CACHE: dict[tuple[str, bool], Prepared] = {}
_TEXT_CACHE_MAX = 512


def _prepared_text(sql: str, *, rows: bool) -> Prepared:
    """The list's SQL for one filter shape, prepared once (values are always parameters;
    the SQL text depends only on which filters are present and the search backend)."""
    found = _TEXT_CACHE.get((sql, rows))
    if found is None:
        stmt: Any = text(sql)
        if rows:
            stmt = stmt.columns(*(memories.c[c.split(".")[1]] for c in _ROW_COLUMNS.split(", ")))
        else:
            stmt = stmt.columns(column("v"))
        found = Prepared(stmt)
        if len(_TEXT_CACHE) < _TEXT_CACHE_MAX:
            _TEXT_CACHE[(sql, rows)] = found
    return found


def _kept_total(conn: Connection, *, viewer_id: str, tag: str | None) -> int:
    """Visible memories (optionally with `tag`): the public ones from the kept counter,
    plus the "participants" ones the caller is a member of (memory_access lists exactly
    those, one row per member)."""
    if tag is None:
        public = counters.total(conn, "memory.public")
        mine = _PRIVATE_VISIBLE.execute(conn, {"me": viewer_id}).scalar()
    else:
        public = counters.total(conn, f"memory.tag.public:{tag}")
        mine = _PRIVATE_VISIBLE_TAGGED.execute(conn, {"me": viewer_id, "tag": tag}).scalar()
    return public + int(mine)


def list_memories(
    conn: Connection,
    *,
    viewer_id: str,
    participant: str | None = None,
    tag: str | None = None,
    author: str | None = None,
    q: str | None = None,
    sort: str = "newest",
    page: int = 1,
    page_size: int = 20,
    count_cap: int = COUNT_CAP,
) -> MemoryPage:
    backend = search.for_dialect(conn.dialect.name)
    newest, unordered, params = visible_seqs_sql(
        backend, participant=participant, author=author, tag=tag, q=q
    )
    params.update(
        {"me": viewer_id, "yes": True, "participant": participant, "tag": tag, "author": author}
    )
    if participant is None and author is None and q is None:
        # Exact from the kept counters (core/counters.py) plus the caller's own
        # "participants" memories, read from memory_access by the caller's index.
        total, capped = _kept_total(conn, viewer_id=viewer_id, tag=tag), False
    else:
        params["cap1"] = count_cap + 1
        counted = int(
            _prepared_text(
                f"SELECT count(*) FROM (SELECT 1 AS one FROM ({unordered}) c LIMIT :cap1) counted",
                rows=False,
            )
            .execute(conn, params)
            .scalar()
        )
        capped = counted > count_cap
        total = min(counted, count_cap)

    params["lim"] = page_size + 1
    params["off"] = (page - 1) * page_size
    if sort == "relevance" and q is not None:
        # Rank the newest `count_cap` matches: occurrences of q, then shorter content,
        # then newest. (The same candidates the total counts.)
        params["qn"] = search.normalize(q)
        params["cap"] = count_cap
        lowered = backend.lower_sql("m.content")
        occurrences = f"(length({lowered}) - length(replace({lowered}, :qn, '')))"
        sql = (
            f"SELECT c.seq FROM ({newest} LIMIT :cap) c {backend.join_rows('c.seq')} "
            f"ORDER BY {occurrences} DESC, length(m.content) ASC, c.seq DESC "
            "LIMIT :lim OFFSET :off"
        )
    else:
        # Newest first: the page's rows in the same statement.
        sql = (
            f"SELECT {_ROW_COLUMNS} FROM ({newest} LIMIT :lim OFFSET :off) p "
            f"{backend.join_rows('p.seq')} ORDER BY m.seq DESC"
        )
        found = _prepared_text(sql, rows=True).execute(conn, params).all()
        return {
            "items": [serialize(r) for r in found[:page_size]],
            "page": page,
            "page_size": page_size,
            "total": total,
            "has_more": len(found) > page_size,
            "total_capped": capped,
        }
    seqs = [int(s) for s in _prepared_text(sql, rows=False).execute(conn, params).scalars()]
    has_more = len(seqs) > page_size
    seqs = seqs[:page_size]
    rows = {}
    if seqs:
        rows = {r.seq: r for r in conn.execute(select(memories).where(memories.c.seq.in_(seqs)))}
    return {
        "items": [serialize(rows[s]) for s in seqs if s in rows],
        "page": page,
        "page_size": page_size,
        "total": total,
        "has_more": has_more,
        "total_capped": capped,
    }
