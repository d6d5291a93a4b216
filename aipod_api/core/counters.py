"""List totals kept beside the data (migration 0004 maintains them with row triggers).

A list's `total` used to be a COUNT over the matching rows, capped at 10,000 rows read —
the part of a list request that grew with the table. For the filters below the total is
now read from `counters` in a handful of index lookups, and it is exact at any size:

    tasks.status:<status>       tasks per stored status
    agents.all                  agents
    agents.capability:<cap>     agents having capability <cap>
    memory.public               public memories
    memory.tag.public:<tag>     public memories tagged <tag>

Filters without a counter keep the capped count.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text

from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import counters

_SUM = Prepared(
    select(func.coalesce(func.sum(counters.c.value), 0)).where(counters.c.name == bindparam("name"))
)

# What each counter must equal, recounted from the rows (for tests and audits).
RECOUNT = (
    "SELECT 'tasks.status:' || status AS name, count(*) AS n FROM tasks GROUP BY status",
    "SELECT 'agents.all' AS name, count(*) AS n FROM agents",
    "SELECT 'agents.capability:' || capability AS name, count(*) AS n"
    " FROM agent_capabilities GROUP BY capability",
    "SELECT 'memory.public' AS name, count(*) AS n FROM memories WHERE visibility = 'public'",
    "SELECT 'memory.tag.public:' || tag AS name, count(*) AS n FROM memory_tags"
    " WHERE public GROUP BY tag",
)


def total(conn: Connection, name: str) -> int:
    """The counter's value (0 when nothing was ever counted under that name)."""
    return int(_SUM.execute(conn, {"name": name}).scalar())


def check(conn: Connection) -> list[str]:
    """Every counter equals a fresh count of its rows, and every trigger-kept copy equals
    its source; returns the differences."""
    kept: dict[str, int] = {
        str(name): int(value)
        for name, value in conn.execute(
            select(counters.c.name, func.sum(counters.c.value)).group_by(counters.c.name)
        )
    }
    fresh: dict[str, Any] = {}
    for sql in RECOUNT:
        for name, n in conn.execute(text(sql)):
            fresh[str(name)] = int(n)
    problems = []
    stale = conn.execute(
        text(
            "SELECT count(*) FROM agent_capabilities c JOIN agents a ON a.agent_id = c.agent_id"
            " WHERE c.trust_score <> a.trust_score"
        )
    ).scalar_one()
    if stale:
        problems.append(f"{stale} agent_capabilities rows with a stale trust_score copy")
    for name in sorted(set(kept) | set(fresh)):
        if kept.get(name, 0) != fresh.get(name, 0):
            problems.append(
                f"counter {name}: kept {kept.get(name, 0)}, counted {fresh.get(name, 0)}"
            )
    return problems
