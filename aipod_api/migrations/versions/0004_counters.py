"""counters: list totals kept beside the data, by database triggers

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-11-24 10:00:00

`counters(name, shard, value)`: the number of rows per list filter that is cheap to keep
exact — tasks per stored status, agents in all and per capability, public memories in
all and per tag. The database maintains them with row triggers on the tables themselves,
in the same transaction as the change, so no code path (the API, the demo data, the
bulk loader, a hand-written INSERT) can forget one. A total is `SUM(value)` over a name's
shards. PostgreSQL spreads each name over 8 shards picked at random per change, so
concurrent writers do not queue on one hot row; SQLite has one writer, so one shard.
Existing rows are counted once here (backfill).

Also `agent_capabilities.trust_score`, a copy of the agent's score kept by triggers (on
insert of a capability row, on update of `agents.trust_score`), indexed as
`(capability, trust_score DESC, agent_id)`: "agents with capability X, most trusted
first" becomes one index range instead of walking every agent in trust order and probing
for X (269 probes for a capability 7.5% of agents have).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger name, table, event, WHEN condition, [(counter-name SQL, delta), ...])
TRIGGERS: list[tuple[str, str, str, str | None, list[tuple[str, int]]]] = [
    ("tasks_count_ins", "tasks", "INSERT", None, [("'tasks.status:' || NEW.status", 1)]),
    (
        "tasks_count_upd",
        "tasks",
        "UPDATE OF status",
        "OLD.status <> NEW.status",
        [("'tasks.status:' || OLD.status", -1), ("'tasks.status:' || NEW.status", 1)],
    ),
    ("tasks_count_del", "tasks", "DELETE", None, [("'tasks.status:' || OLD.status", -1)]),
    ("agents_count_ins", "agents", "INSERT", None, [("'agents.all'", 1)]),
    ("agents_count_del", "agents", "DELETE", None, [("'agents.all'", -1)]),
    (
        "agent_caps_count_ins",
        "agent_capabilities",
        "INSERT",
        None,
        [("'agents.capability:' || NEW.capability", 1)],
    ),
    (
        "agent_caps_count_del",
        "agent_capabilities",
        "DELETE",
        None,
        [("'agents.capability:' || OLD.capability", -1)],
    ),
    (
        "memories_count_ins",
        "memories",
        "INSERT",
        "NEW.visibility = 'public'",
        [("'memory.public'", 1)],
    ),
    (
        "memories_count_del",
        "memories",
        "DELETE",
        "OLD.visibility = 'public'",
        [("'memory.public'", -1)],
    ),
    (
        "memory_tags_count_ins",
        "memory_tags",
        "INSERT",
        "NEW.public",
        [("'memory.tag.public:' || NEW.tag", 1)],
    ),
    (
        "memory_tags_count_del",
        "memory_tags",
        "DELETE",
        "OLD.public",
        [("'memory.tag.public:' || OLD.tag", -1)],
    ),
]

BACKFILL = [
    "SELECT 'tasks.status:' || status, count(*) FROM tasks GROUP BY status",
    "SELECT 'agents.all', count(*) FROM agents",
    "SELECT 'agents.capability:' || capability, count(*) FROM agent_capabilities"
    " GROUP BY capability",
    "SELECT 'memory.public', count(*) FROM memories WHERE visibility = 'public'",
    "SELECT 'memory.tag.public:' || tag, count(*) FROM memory_tags WHERE public GROUP BY tag",
]

UPSERT = (
    "INSERT INTO counters (name, shard, value) VALUES ({name}, {shard}, {delta}) "
    "ON CONFLICT (name, shard) DO UPDATE SET value = counters.value + excluded.value"
)
PG_SHARDS = 8


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "shard", name="pk_counters"),
        sqlite_with_rowid=False,
    )
    # The caller's own "participants" memories, for per-viewer totals.
    op.create_index("ix_memory_access_agent", "memory_access", ["agent_id", "memory_seq"])
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("agent_capabilities") as batch_op:
        batch_op.add_column(
            sa.Column("trust_score", sa.Float(), nullable=False, server_default="0.5")
        )
    op.execute(
        "UPDATE agent_capabilities SET trust_score = "
        "(SELECT a.trust_score FROM agents a WHERE a.agent_id = agent_capabilities.agent_id)"
    )
    op.create_index(
        "ix_agent_capabilities_cap_trust",
        "agent_capabilities",
        ["capability", sa.text("trust_score DESC"), "agent_id"],
    )
    trust_sync = (
        "UPDATE agent_capabilities SET trust_score = NEW.trust_score WHERE agent_id = NEW.agent_id"
    )
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER agent_caps_trust_ins AFTER INSERT ON agent_capabilities FOR EACH ROW "
            "BEGIN UPDATE agent_capabilities SET trust_score = "
            "(SELECT a.trust_score FROM agents a WHERE a.agent_id = NEW.agent_id) "
            "WHERE agent_id = NEW.agent_id AND capability = NEW.capability; END"
        )
        op.execute(
            "CREATE TRIGGER agents_trust_upd AFTER UPDATE OF trust_score ON agents FOR EACH ROW "
            f"WHEN OLD.trust_score <> NEW.trust_score BEGIN {trust_sync}; END"
        )
    else:
        op.execute(
            "CREATE FUNCTION agent_caps_trust_ins() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN NEW.trust_score := (SELECT a.trust_score FROM agents a "
            "WHERE a.agent_id = NEW.agent_id); RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER agent_caps_trust_ins BEFORE INSERT ON agent_capabilities "
            "FOR EACH ROW EXECUTE FUNCTION agent_caps_trust_ins()"
        )
        op.execute(
            "CREATE FUNCTION agents_trust_upd() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {trust_sync}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER agents_trust_upd AFTER UPDATE OF trust_score ON agents FOR EACH ROW "
            "WHEN (OLD.trust_score <> NEW.trust_score) EXECUTE FUNCTION agents_trust_upd()"
        )
    for select in BACKFILL:
        op.execute(f"INSERT INTO counters (name, value, shard) SELECT q.*, 0 FROM ({select}) q")
    for name, table, event, when, bumps in TRIGGERS:
        if dialect == "sqlite":
            body = " ".join(
                UPSERT.format(name=expr, shard=0, delta=delta) + ";" for expr, delta in bumps
            )
            cond = f" WHEN {when}" if when else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{cond} "
                f"BEGIN {body} END"
            )
        else:
            shard = f"floor(random() * {PG_SHARDS})::int"
            body = " ".join(
                UPSERT.format(name=expr, shard=shard, delta=delta) + ";" for expr, delta in bumps
            )
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body} RETURN NULL; END $$"
            )
            cond = f" WHEN ({when})" if when else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{cond} "
                f"EXECUTE FUNCTION {name}()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table in (
        ("agent_caps_trust_ins", "agent_capabilities"),
        ("agents_trust_upd", "agents"),
    ):
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_agent_capabilities_cap_trust", table_name="agent_capabilities")
    with op.batch_alter_table("agent_capabilities") as batch_op:
        batch_op.drop_column("trust_score")
    for name, table, _event, _when, _bumps in TRIGGERS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_memory_access_agent", table_name="memory_access")
    op.drop_table("counters")
