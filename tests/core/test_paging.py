"""Capped totals and exact has_more (core.types)."""

from __future__ import annotations

from helpers import Api
from sqlalchemy import literal, select

from aipod_api.core.db import make_null_pool_engine, transaction
from aipod_api.core.tables import agents
from aipod_api.core.types import capped_count, fetch_page, page_data


def test_capped_count_and_fetch_page(api: Api, database_url: str) -> None:
    for i in range(7):
        api.register(f"pg_agent_{i}")
    engine = make_null_pool_engine(database_url)
    try:
        with transaction(engine, write=False) as conn:
            rows = select(literal(1)).select_from(agents)
            assert capped_count(conn, rows, cap=10).value == 7
            capped = capped_count(conn, rows, cap=5)
            assert (capped.value, capped.capped) == (5, True)
            exact = capped_count(conn, rows, cap=7)
            assert (exact.value, exact.capped) == (7, False)
            ordered = select(agents.c.agent_id).order_by(agents.c.seq)
            page, more = fetch_page(conn, ordered, page=3, page_size=3)
            assert [r.agent_id for r in page] == ["pg_agent_6"] and more is False
            page, more = fetch_page(conn, ordered, page=2, page_size=3)
            assert len(page) == 3 and more is True
            # past the cap, has_more still tells the truth
            data = page_data(["x"], page=9, page_size=1, total=capped, has_more=False)
            assert data["total"] == 5 and data["total_capped"] is True
            assert data["has_more"] is False
    finally:
        engine.dispose()
