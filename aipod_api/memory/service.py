"""Shared memory: write, list/filter/search, get, delete. Framework-free.

Visibility: a "participants" memory is seen only by its author and its participants,
by every path (list, each filter, search, totals, get, delete). The rule is part of the
same SQL as the items and the total; a hidden memory is "not found" (404), never 403.

Listing (docs/memory-search.md): one *source* yields candidate seqs in seq order from an
index — participant > author > tag > q > all memories, the first filter given — and every
other filter is a per-candidate index probe. Newest first is the source's own order, so
a page stops after `offset + page_size + 1` visible candidates. Unfiltered and tag-only
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
    exists,
    func,
    insert,
    select,
    text,
)

from aipod_api.core import counters
from aipod_api.core.errors import ApiError, Forbidden, NotFound
from aipod_api.core.i18n import register_messages
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agents
from aipod_api.core.types import COUNT_CAP as SHARED_COUNT_CAP
from aipod_api.core.types import MEMORY_ID, iso
from aipod_api.memory import search
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
    status = 400
    key = "memory_unknown_participants"


def serialize(row: Any) -> dict[str, Any]:
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
    if not unknown:
        return
    from aipod_api.core.i18n import t

    errors = [
        {"field": f"participants[{i}]", "message": t("memory_unknown_participant", agent_id=p)}
        for i, p in unknown
    ]
    raise UnknownParticipants(data={"errors": errors}, ids=", ".join(p for _, p in unknown))


def create_memory(
    conn: Connection,
    *,
    author_id: str,
    content: str,
    participants: list[str],
    tags: list[str],
    visibility: str,
    now: int,
) -> dict[str, Any]:
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
        conn.execute(
            insert(memory_tags),
            [{"tag": tag, "memory_seq": seq, "public": public} for tag in tags],
        )
    if participants:
        conn.execute(
            insert(memory_participants),
            [{"agent_id": p, "memory_seq": seq, "public": public} for p in participants],
        )
    if not public:
        members = dict.fromkeys([author_id, *participants])
        conn.execute(insert(memory_access), [{"memory_seq": seq, "agent_id": m} for m in members])
    search.for_dialect(conn.dialect.name).index(conn, seq, content)
    row = conn.execute(select(memories).where(memories.c.seq == seq)).one()
    return serialize(row)


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


def get_memory(conn: Connection, memory_id: str, *, viewer_id: str) -> dict[str, Any]:
    return serialize(_visible_row(conn, memory_id, viewer_id))


def delete_memory(conn: Connection, memory_id: str, *, caller_id: str) -> None:
    row = _visible_row(conn, memory_id, caller_id)
    if row.author_id != caller_id:
        raise NotAuthor()
    seq = row.seq
    search.for_dialect(conn.dialect.name).unindex(conn, seq, row.content)
    conn.execute(delete(memory_tags).where(memory_tags.c.memory_seq == seq))
    conn.execute(delete(memory_participants).where(memory_participants.c.memory_seq == seq))
    conn.execute(delete(memory_access).where(memory_access.c.memory_seq == seq))
    conn.execute(delete(memories).where(memories.c.seq == seq))


# --- listing -------------------------------------------------------------------------


def _link_source(table: str, key_column: str, param: str) -> search.Source:
    seq = "d.memory_seq"
    return search.Source(
        from_=f"{table} d",
        where=f"d.{key_column} = :{param}",
        seq=seq,
        visible=f"(d.public = :yes OR {search.member_rule(seq)})",
    )


def _memories_source(where: str) -> search.Source:
    return search.Source(
        from_="memories d",
        where=where,
        seq="d.seq",
        visible=f"(d.visibility = 'public' OR {search.member_rule('d.seq')})",
    )


_PRIVATE_VISIBLE = Prepared(
    select(func.count())
    .select_from(memory_access)
    .where(memory_access.c.agent_id == bindparam("me", type_=String))
)
# Driven from the caller's own access rows (ix_memory_access_agent), each probed for the
# tag: a correlated EXISTS fixes that order (a join lets SQLite start from the tag's rows).
_PRIVATE_VISIBLE_TAGGED = Prepared(
    select(func.count())
    .select_from(memory_access)
    .where(
        memory_access.c.agent_id == bindparam("me", type_=String),
        exists().where(
            memory_tags.c.tag == bindparam("tag", type_=String),
            memory_tags.c.memory_seq == memory_access.c.memory_seq,
            memory_tags.c.public.is_(False),
        ),
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
) -> dict[str, Any]:
    backend = search.for_dialect(conn.dialect.name)
    params: dict[str, Any] = {
        "me": viewer_id,
        "yes": True,
        "participant": participant,
        "tag": tag,
        "author": author,
    }

    source_kind = next(
        (
            k
            for k, v in (("participant", participant), ("author", author), ("tag", tag), ("q", q))
            if v is not None
        ),
        "all",
    )
    if source_kind == "participant":
        source = _link_source("memory_participants", "agent_id", "participant")
    elif source_kind == "author":
        source = _memories_source("d.author_id = :author")
    elif source_kind == "tag":
        source = _link_source("memory_tags", "tag", "tag")
    elif source_kind == "q":
        assert q is not None
        source = backend.source(q)
    else:
        source = _memories_source("1 = 1")
    params.update(source.params)

    seq = source.seq
    conditions = [source.where, source.visible]
    if participant is not None and source_kind != "participant":
        conditions.append(
            "EXISTS (SELECT 1 FROM memory_participants fp WHERE fp.agent_id = :participant"
            f" AND fp.memory_seq = {seq})"
        )
    if author is not None and source_kind != "author":
        conditions.append(
            f"EXISTS (SELECT 1 FROM memories fa WHERE fa.seq = {seq} AND fa.author_id = :author)"
        )
    if tag is not None and source_kind != "tag":
        conditions.append(
            f"EXISTS (SELECT 1 FROM memory_tags ft WHERE ft.tag = :tag AND ft.memory_seq = {seq})"
        )
    if q is not None and source_kind != "q":
        sql, extra = backend.condition(q, seq)
        conditions.append(sql)
        params.update(extra)
    where = " AND ".join(f"({c})" for c in conditions)
    body = f"FROM {source.from_} WHERE {where}"

    if source_kind in ("tag", "all") and participant is None and author is None and q is None:
        # Exact from the kept counters (core/counters.py) plus the caller's own
        # "participants" memories, read from memory_access by the caller's index.
        total, capped = _kept_total(conn, viewer_id=viewer_id, tag=tag), False
    else:
        params["cap1"] = count_cap + 1
        counted = int(
            _prepared_text(
                f"SELECT count(*) FROM (SELECT 1 AS one {body} LIMIT :cap1) counted", rows=False
            )
            .execute(conn, params)
            .scalar()
        )
        capped = counted > count_cap
        total = min(counted, count_cap)

    params["lim"] = page_size + 1
    params["off"] = (page - 1) * page_size
    newest = f"SELECT {seq} AS seq {body} ORDER BY {seq} DESC"
    if sort == "relevance" and q is not None:
        # Rank the newest `count_cap` matches: occurrences of q, then shorter content,
        # then newest. (The same candidates the total counts.)
        params["qn"] = search.normalize(q)
        params["cap"] = count_cap
        lowered = backend.lower_sql("m.content")
        occurrences = f"(length({lowered}) - length(replace({lowered}, :qn, '')))"
        sql = (
            f"SELECT c.seq FROM ({newest} LIMIT :cap) c JOIN memories m ON m.seq = c.seq "
            f"ORDER BY {occurrences} DESC, length(m.content) ASC, c.seq DESC "
            "LIMIT :lim OFFSET :off"
        )
    else:
        # Newest first: the page's rows in the same statement.
        sql = (
            f"SELECT {_ROW_COLUMNS} FROM ({newest} LIMIT :lim OFFSET :off) p "
            "JOIN memories m ON m.seq = p.seq ORDER BY m.seq DESC"
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
