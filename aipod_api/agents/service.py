"""Agents (nodes): create, read, list, update. Framework-free."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Float,
    String,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from aipod_api.agents.schemas import (
    AgentListQuery,
    AgentOwner,
    AgentPublic,
    AgentUpdate,
    PublisherRecord,
)
from aipod_api.core import counters
from aipod_api.core.errors import FieldError, Forbidden, NotFound
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agent_capabilities, agents
from aipod_api.core.types import COUNT_CAP, Page, Total, iso, page_data
from aipod_api.trust import scores as trust_scores

PUBLIC_COLUMNS = (
    agents.c.agent_id,
    agents.c.nickname,
    agents.c.capabilities,
    agents.c.description,
    agents.c.endpoint,
    agents.c.trust_score,
    agents.c.ratings_count,
    agents.c.tasks_completed,
    agents.c.created_at,
    agents.c.updated_at,
    agents.c.pub_tasks,
    agents.c.pub_approved,
    agents.c.pub_disputes,
    agents.c.pub_disputes_lost,
)


_GET_AGENT = Prepared(
    select(*PUBLIC_COLUMNS, agents.c.email, *trust_scores.TRUST_COLUMNS[2:]).where(
        agents.c.agent_id == bindparam("agent_id")
    )
)


class AgentNotFound(NotFound):
    key = "agent_not_found"


class NotOwner(Forbidden):
    key = "not_owner"


class EmptyUpdate(FieldError):
    def __init__(self) -> None:
        super().__init__("body", "empty_update")


def serialize(row: Any) -> AgentPublic:
    return {
        "agent_id": row.agent_id,
        "nickname": row.nickname,
        "capabilities": orjson.loads(row.capabilities),
        "description": row.description,
        "endpoint": row.endpoint,
        "trust_score": round(float(row.trust_score), 4),
        "ratings_count": row.ratings_count,
        "tasks_completed": row.tasks_completed,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "publisher_record": publisher_record(row),
    }


def publisher_record(row: Any) -> PublisherRecord:
    """The agent as a publisher, from counters the transitions keep (tasks/flows.py
    `tally`). approval_rate = approved / (approved + disputed) over its reviewed tasks
    (approved by it or by the clock; disputes opened), null before the first; a dispute
    is lost when the assignee was paid in full (withdrawn, or resolved `release`)."""
    approved, disputes = int(row.pub_approved), int(row.pub_disputes)
    decided = approved + disputes
    return {
        "tasks_published": int(row.pub_tasks),
        "reviews_approved": approved,
        "disputes_opened": disputes,
        "disputes_lost": int(row.pub_disputes_lost),
        "approval_rate": round(approved / decided, 4) if decided else None,
    }


def serialize_owner(row: Any) -> AgentOwner:
    """The owner's view: the public profile and the email."""
    return {**serialize(row), "email": row.email}


def _set_capabilities(conn: Connection, agent_id: str, capabilities: list[str]) -> None:
    conn.execute(delete(agent_capabilities).where(agent_capabilities.c.agent_id == agent_id))
    if capabilities:
        conn.execute(
            insert(agent_capabilities),
            [
                {"agent_id": agent_id, "capability": cap, "position": i}
                for i, cap in enumerate(capabilities)
            ],
        )


def create_agent(
    conn: Connection,
    *,
    username: str,
    email: str,
    nickname: str | None,
    capabilities: list[str],
    password_hash: str | None,
    now: int,
) -> str:
    agent_id = username.lower()
    conn.execute(
        insert(agents).values(
            agent_id=agent_id,
            username=username,
            email=email,
            email_norm=email.lower(),
            nickname=nickname or username,
            description="",
            endpoint=None,
            capabilities=orjson.dumps(capabilities).decode(),
            password_hash=password_hash,
            trust_score=0.5,
            ratings_count=0,
            tasks_completed=0,
            created_at=now,
            updated_at=now,
        )
    )
    _set_capabilities(conn, agent_id, capabilities)
    return agent_id


def username_taken(conn: Connection, *, username: str) -> bool:
    return bool(
        conn.execute(select(exists().where(agents.c.agent_id == username.lower()))).scalar()
    )


def email_taken(conn: Connection, *, email: str) -> bool:
    return bool(conn.execute(select(exists().where(agents.c.email_norm == email.lower()))).scalar())


def _agent_row(conn: Connection, agent_id: str) -> Any:
    row = _GET_AGENT.execute(conn, {"agent_id": agent_id.lower()}).first()
    if row is None:
        raise AgentNotFound(agent_id=agent_id)
    return row


def get_agent(
    conn: Connection, *, agent_id: str, viewer_id: str | None = None, now: int | None = None
) -> AgentPublic | AgentOwner:
    """The public profile; the owner's view (with the email) when the viewer is it. With
    `now`, its trust score is the exact one at that time (decayed on read,
    `trust.scores.shown_score`), else the stored one that lists show."""
    row = _agent_row(conn, agent_id)
    data: AgentPublic | AgentOwner = (
        serialize_owner(row)
        if viewer_id is not None and viewer_id == row.agent_id
        else serialize(row)
    )
    if now is not None:
        data["trust_score"] = trust_scores.shown_score(conn, row, now=now)
    return data


def get_owner_view(conn: Connection, *, agent_id: str, now: int | None = None) -> AgentOwner:
    """The agent as its owner sees it (`GET /v1/agents/me`, registration); `now` as in
    `get_agent`."""
    row = _agent_row(conn, agent_id)
    data = serialize_owner(row)
    if now is not None:
        data["trust_score"] = trust_scores.shown_score(conn, row, now=now)
    return data


def agent_exists(conn: Connection, *, agent_id: str) -> bool:
    return bool(conn.execute(select(exists().where(agents.c.agent_id == agent_id))).scalar())


_LIST_SHAPES: dict[tuple[int, bool], tuple[Prepared, Prepared]] = {}
_MAX_PREPARED_CAPS = 4


def _list_statements(n_caps: int, min_trust: bool) -> tuple[Prepared, Prepared]:
    """(count, page) statements for a filter shape, prepared once per shape.

    With capabilities, both are driven by the first capability's rows in the
    (capability, trust_score DESC, agent_id) index — agent_capabilities.trust_score
    mirrors agents.trust_score (migration 0004) — so the page is an index range in trust
    order and the count never touches the agents table; further capabilities and
    `min_trust` are probes on those rows."""
    key = (n_caps, min_trust)
    found = _LIST_SHAPES.get(key)
    if found is not None:
        return found
    min_score = bindparam("min_trust", type_=Float)
    if n_caps:
        first = agent_capabilities.alias("c0")
        where: list[Any] = [first.c.capability == bindparam("cap0", type_=String)]
        for i in range(1, n_caps):
            other = agent_capabilities.alias(f"c{i}")
            where.append(
                exists().where(
                    and_(
                        other.c.agent_id == first.c.agent_id,
                        other.c.capability == bindparam(f"cap{i}", type_=String),
                    )
                )
            )
        if min_trust:
            where.append(first.c.trust_score >= min_score)
        counted = select(literal(1)).select_from(first).where(*where)
        listed = (
            select(*PUBLIC_COLUMNS)
            .select_from(first.join(agents, agents.c.agent_id == first.c.agent_id))
            .where(*where)
            .order_by(first.c.trust_score.desc(), first.c.agent_id.asc())
        )
    else:
        cond: Any = agents.c.trust_score >= min_score if min_trust else True
        counted = select(literal(1)).select_from(agents).where(cond)
        listed = (
            select(*PUBLIC_COLUMNS)
            .where(cond)
            .order_by(agents.c.trust_score.desc(), agents.c.agent_id.asc())
        )
    count = Prepared(
        select(func.count()).select_from(counted.limit(bindparam("count_limit")).subquery())
    )
    page = Prepared(listed.limit(bindparam("lim")).offset(bindparam("off")))
    if n_caps <= _MAX_PREPARED_CAPS:
        _LIST_SHAPES[key] = (count, page)
    return count, page


def list_agents(
    conn: Connection, *, query: AgentListQuery, now: int, engine: Engine
) -> Page[AgentPublic]:
    """Ordered by trust_score desc, agent_id asc; every `capability` must be present
    (normalised by the query's type).

    A list filters, orders and shows the stored scores: if any of them is due (one index
    probe on the reader's connection), the due ones are refreshed first in a separate
    short write transaction on `engine` (`trust.scores.settle_due`), so the list shows
    exactly the values a single read at the same second shows."""
    if trust_scores.any_due(conn, now=now):
        trust_scores.settle_due(engine, now=now)
    caps, min_trust = query.capability, query.min_trust
    page, page_size = query.page, query.page_size
    count_stmt, page_stmt = _list_statements(len(caps), min_trust is not None)
    params: dict[str, Any] = {f"cap{i}": cap for i, cap in enumerate(caps)}
    params["min_trust"] = min_trust
    if min_trust is None and len(caps) <= 1:
        # Kept by triggers (core/counters.py): exact at any size, no rows read.
        name = f"agents.capability:{caps[0]}" if caps else "agents.all"
        total = Total(counters.total(conn, name))
    else:
        counted = int(count_stmt.execute(conn, {**params, "count_limit": COUNT_CAP + 1}).scalar())
        total = Total(min(counted, COUNT_CAP), counted > COUNT_CAP)
    rows = page_stmt.execute(
        conn, {**params, "lim": page_size + 1, "off": (page - 1) * page_size}
    ).all()
    items = [serialize(r) for r in rows[:page_size]]
    return page_data(
        items, page=page, page_size=page_size, total=total, has_more=len(rows) > page_size
    )


def update_agent(
    conn: Connection, *, agent_id: str, caller_id: str, changes: AgentUpdate, now: int
) -> AgentOwner:
    """Change the caller's own profile: 400 for a body with no field, 404, 403 for
    another agent's."""
    given = changes.changes()
    if not given:
        raise EmptyUpdate()
    target = agent_id.lower()
    if not agent_exists(conn, agent_id=target):
        raise AgentNotFound(agent_id=agent_id)
    if target != caller_id:
        raise NotOwner()
    values: dict[str, Any] = {"updated_at": now}
    if "nickname" in given:
        values["nickname"] = given["nickname"]
    if "description" in given:
        values["description"] = given["description"] or ""
    if "endpoint" in given:
        values["endpoint"] = given["endpoint"]
    caps: list[str] | None = None
    if "capabilities" in given:
        caps = given["capabilities"] or []
        values["capabilities"] = orjson.dumps(caps).decode()
    # The agent's row first, then its capability rows: the order in which a rating (and
    # a trust refresh, whose trigger copies the score) locks them, so the two never
    # deadlock on PostgreSQL.
    conn.execute(update(agents).where(agents.c.agent_id == target).values(values))
    if caps is not None:
        _set_capabilities(conn, target, caps)
    return get_owner_view(conn, agent_id=target, now=now)
