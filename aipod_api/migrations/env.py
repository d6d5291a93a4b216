"""Alembic environment: always called programmatically with a live connection."""

from __future__ import annotations

from alembic import context

# Imported for what they add to the metadata: the event, memory and webhook tables, and
# the tasks.status CHECK (derived from the transition table).
import aipod_api.events.tables
import aipod_api.memory.tables
import aipod_api.tasks.flows
import aipod_api.webhooks.tables  # noqa: F401
from aipod_api.core.tables import metadata

# FTS5 virtual tables (and their shadow tables) are created by raw SQL in the memory
# migration; autogenerate must not propose dropping them.
_RAW_PREFIXES = ("memory_fts", "memory_grams")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(_RAW_PREFIXES))


config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI path
    from aipod_api.core.db import make_null_pool_engine

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection")
    engine = make_null_pool_engine(url)
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=metadata,
            render_as_batch=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        transactional_ddl=True,
        include_object=include_object,
    )
    context.run_migrations()
