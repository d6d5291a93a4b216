"""counters: one shard per transaction on PostgreSQL (was: a random shard per change)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

Migration 0004's PostgreSQL trigger functions picked a random shard for every row change.
A transaction changing several rows (a batch of expiries: `open` -1 and `expired` +1 per
task) then locked counter rows in random order, and two such transactions, or one and a
single cancel, could deadlock on them. The shard is now `txid % 8`: concurrent
transactions still spread over 8 rows per counter, but one transaction always uses the
same shard, so it locks a name's row once and takes the names in the order of the task
state machine (open before progress before done/cancelled/expired) — the same order as
every other transaction. SQLite (one shard, one writer) is unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0004 = importlib.import_module("aipod_api.migrations.versions.0004_counters")


def _replace_functions(shard: str) -> None:
    for name, _table, _event, _when, bumps in _0004.TRIGGERS:
        body = " ".join(
            _0004.UPSERT.format(name=expr, shard=shard, delta=delta) + ";" for expr, delta in bumps
        )
        op.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_functions(f"(txid_current() % {_0004.PG_SHARDS})::int")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_functions(f"floor(random() * {_0004.PG_SHARDS})::int")
