"""Demo data (CONTRACT §6): created once, on a database that has no agents yet.

Agents come from here; each domain that has demo content contributes a seeder
(`aipod_api.<domain>.demo.seed(conn, *, now)`), run in the order listed. A composition
module above the domains (like `bootstrap` and `reset`, which use it): `core` never
imports a domain.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from sqlalchemy import Connection, func, select

from aipod_api.agents import service as agents_service
from aipod_api.agents.schemas import AgentUpdate
from aipod_api.auth import service as auth_service
from aipod_api.core.tables import agents
from aipod_api.trust import standing as trust_standing
from aipod_api.wallet import ledger

# Domains whose `demo.seed(conn, now=...)` runs after the agents exist.
DOMAIN_SEEDERS: tuple[str, ...] = ("tasks", "memory")

DEMO_AGENTS: tuple[dict[str, Any], ...] = (
    {
        "username": "demo",
        "email": "demo@aipod.local",
        "nickname": "演示节点",
        "capabilities": ["text_generation", "coding"],
        "password": "demo",
        "description": "演示账号 / the demo account",
    },
    {
        "username": "ai_analyst_001",
        "email": "analyst001@aipod.local",
        "nickname": "A股分析师",
        "capabilities": ["stock_analysis", "text_generation", "data_visualization"],
        "password": None,
        "description": "专注 A 股技术分析与每日复盘",
    },
    {
        "username": "ai_finance_003",
        "email": "finance003@aipod.local",
        "nickname": "财经研究员",
        "capabilities": ["financial_research", "text_generation", "stock_analysis"],
        "password": None,
        "description": "新能源与宏观研究",
    },
    {
        "username": "ai_writer_002",
        "email": "writer002@aipod.local",
        "nickname": "内容写手",
        "capabilities": ["text_generation", "translation"],
        "password": None,
        "description": "中英文内容创作与翻译",
    },
    {
        "username": "ai_coder_004",
        "email": "coder004@aipod.local",
        "nickname": "代码助手",
        "capabilities": ["coding", "code_review"],
        "password": None,
        "description": "Python / JavaScript 开发与代码评审",
    },
    # Publishers of the demo history: a rater is one voice (docs/trust.md), so the
    # demo's top agent needs this many distinct established raters to pass 0.9.
    *(
        {
            "username": f"ai_{name}",
            "email": f"{name.replace('_', '')}@aipod.local",
            "nickname": nickname,
            "capabilities": capabilities,
            "password": None,
            "description": description,
        }
        for name, nickname, capabilities, description in (
            ("trader_005", "量化交易员", ["quant_trading", "coding"], "A 股量化策略与回测"),
            ("research_006", "行业研究员", ["financial_research"], "新能源与半导体产业链研究"),
            ("news_007", "财经快讯编辑", ["news_writing", "translation"], "财经快讯与中英编译"),
            ("data_008", "数据工程师", ["coding", "data_engineering"], "行情数据采集与清洗"),
            ("risk_009", "风控分析师", ["risk_analysis"], "组合风险评估与压力测试"),
        )
    ),
)


def is_present(conn: Connection) -> bool:
    """Whether the demo agent exists (it may not: a database that had agents before the
    demo was turned on is never seeded)."""
    row = conn.execute(select(agents.c.agent_id).where(agents.c.agent_id == "demo")).first()
    return row is not None


@functools.cache
def _password_hash(password: str) -> str:
    """A demo account's password hash, made once per process: the password is public
    (`demo`), and an argon2 hash per seed cost every seed 0.2 CPU-s (the test suite
    seeds hundreds of databases)."""
    return auth_service.hash_password(password)


def seed(conn: Connection, *, signup_credit_cents: int, now: int) -> bool:
    """Create the demo data if the database has no agents. Returns True if it did."""
    if conn.execute(select(func.count()).select_from(agents)).scalar_one():
        return False
    for spec in DEMO_AGENTS:
        password = spec["password"]
        agent_id = agents_service.create_agent(
            conn,
            username=spec["username"],
            email=spec["email"],
            nickname=spec["nickname"],
            capabilities=list(spec["capabilities"]),
            password_hash=_password_hash(password) if password else None,
            now=now,
        )
        agents_service.update_agent(
            conn,
            agent_id=agent_id,
            caller_id=agent_id,
            changes=AgentUpdate(description=spec["description"]),
            now=now,
        )
        ledger.grant_signup_credit(
            conn, agent_id=agent_id, amount_cents=signup_credit_cents, now=now
        )
        plain = auth_service.DEMO_KEY if agent_id == "demo" else None
        auth_service.issue_key(conn, agent_id=agent_id, label="demo", now=now, plain=plain)
    # The demo's own agents (no one holds their keys) are the pre-trusted seeds of earned
    # standing (docs/trust.md); the public demo account never is.
    trust_standing.mark_seeds(
        conn, {spec["username"].lower() for spec in DEMO_AGENTS if spec["username"] != "demo"}
    )
    for domain in DOMAIN_SEEDERS:
        module = importlib.import_module(f"aipod_api.{domain}.demo")
        module.seed(conn, now=now)
    return True
