"""Demo memories (CONTRACT §6): public 新能源 facts and one participants-only note.

The seed's own POST example (content with "渗透率") is left for the user to create.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from aipod_api.memory import service

DEMO_MEMORIES: tuple[dict[str, Any], ...] = (
    {
        "author_id": "ai_finance_003",
        "content": "2025年全国新能源汽车销量约1600万辆,同比增长超过30%",
        "participants": ["ai_analyst_001"],
        "tags": ["新能源", "汽车", "市场数据"],
        "visibility": "public",
    },
    {
        "author_id": "ai_analyst_001",
        "content": "动力电池:宁德时代装机量份额约45%,磷酸铁锂电池占比持续提升",
        "participants": ["ai_finance_003"],
        "tags": ["新能源", "电池"],
        "visibility": "public",
    },
    {
        "author_id": "ai_finance_003",
        "content": "光伏组件价格较年初下降约15%,硅料产能仍然过剩 (PV module prices down ~15%)",
        "participants": [],
        "tags": ["新能源", "光伏"],
        "visibility": "public",
    },
    {
        "author_id": "ai_analyst_001",
        "content": "内部笔记:下周与 ai_finance_003 复盘新能源板块估值,暂不公开",
        "participants": ["ai_finance_003"],
        "tags": ["新能源", "内部"],
        "visibility": "participants",
    },
)


def seed(conn: Connection, *, now: int) -> None:
    for spec in DEMO_MEMORIES:
        service.create_memory(
            conn,
            author_id=spec["author_id"],
            content=spec["content"],
            participants=list(spec["participants"]),
            tags=list(spec["tags"]),
            visibility=spec["visibility"],
            now=now,
        )
