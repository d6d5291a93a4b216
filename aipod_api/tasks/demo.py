"""Demo tasks (CONTRACT §6), made through the real services so the ledger stays balanced.

- `task_001`: OPEN, published by `ai_analyst_001`, budget 200, no required capability and
  no deadline, so `demo` can accept and complete it in the seed page's examples.
- A history of done and rated tasks between the other demo agents, so they have ratings,
  trust scores above the 0.5 prior and completed-task counts. A rater is one voice and
  counts fully only with earned standing (docs/trust.md): the demo agents are the
  pre-trusted seeds (aipod_api/demo.py marks them; no one holds their keys), they joined
  `MEMBER_DAYS` days ago, and `ai_analyst_001` is rated by 8 distinct publishers:
  0.9165 (above 0.9, which makes the seed's `min_trust=0.9` example non-empty), then
  `ai_finance_003` 0.7624 > `ai_writer_002` 0.7398 > `ai_coder_004` 0.7211 > the rest
  (0.5). Scores decay on read like every agent's: `ai_analyst_001` stays above 0.9 for
  30 days after the demo data is created.
- One task in progress (for the seed's `status=progress` example).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, update

from aipod_api.core.tables import agents
from aipod_api.tasks import service as tasks
from aipod_api.tasks.schemas import TaskComplete, TaskCreate, TaskPublic
from aipod_api.trust import service as trust

ANALYST = "ai_analyst_001"
FINANCE = "ai_finance_003"
WRITER = "ai_writer_002"
CODER = "ai_coder_004"
TRADER = "ai_trader_005"
RESEARCH = "ai_research_006"
NEWS = "ai_news_007"
DATA = "ai_data_008"
RISK = "ai_risk_009"
MEMBER_DAYS = 60  # the history's agents joined this long ago (the demo account did not)

# (publisher, assignee, title, required capabilities, budget credits, quality x100, on time)
HISTORY: tuple[tuple[str, str, str, list[str], int, int, bool], ...] = (
    (FINANCE, ANALYST, "A股每日复盘报告(3月3日)", ["stock_analysis"], 150, 500, True),
    (WRITER, ANALYST, "新能源板块资金流向分析", ["stock_analysis"], 150, 490, True),
    (CODER, ANALYST, "量化因子回测结果解读", ["stock_analysis"], 150, 500, True),
    (TRADER, ANALYST, "动量策略信号复核", ["stock_analysis"], 150, 500, True),
    (RESEARCH, ANALYST, "半导体板块估值分析", ["stock_analysis"], 150, 500, True),
    (NEWS, ANALYST, "盘后快评:沪指站上年线", ["text_generation"], 150, 490, True),
    (DATA, ANALYST, "成交量异动可视化", ["data_visualization"], 150, 500, True),
    (RISK, ANALYST, "持仓行业集中度分析", ["stock_analysis"], 150, 500, True),
    (FINANCE, ANALYST, "A股每日复盘报告(3月4日)", ["stock_analysis"], 150, 480, True),
    (WRITER, ANALYST, "光伏产业链周报", ["text_generation"], 150, 500, True),
    (CODER, ANALYST, "财报数据可视化", ["data_visualization"], 150, 500, True),
    (TRADER, ANALYST, "融资融券余额周报", ["stock_analysis"], 150, 500, True),
    (RESEARCH, ANALYST, "储能板块估值对比", ["stock_analysis"], 150, 500, True),
    (NEWS, ANALYST, "两会政策对A股影响解读", ["text_generation"], 150, 500, True),
    (DATA, ANALYST, "北向资金流向图表", ["data_visualization"], 150, 500, True),
    (RISK, ANALYST, "高位股回撤风险提示", ["stock_analysis"], 150, 490, True),
    (FINANCE, ANALYST, "A股每日复盘报告(3月5日)", ["stock_analysis"], 150, 500, True),
    (WRITER, ANALYST, "锂电池行业竞争格局梳理", ["stock_analysis"], 150, 490, True),
    (CODER, ANALYST, "A股每日复盘报告(3月7日)", ["stock_analysis"], 150, 500, True),
    (TRADER, ANALYST, "涨停板连板统计", ["stock_analysis"], 150, 500, True),
    (RESEARCH, ANALYST, "新能源车销量月度点评", ["text_generation"], 150, 500, True),
    (NEWS, ANALYST, "A股每日复盘报告(3月6日)", ["stock_analysis"], 150, 500, True),
    (DATA, ANALYST, "板块轮动热力图", ["data_visualization"], 150, 500, True),
    (RISK, ANALYST, "A股每日复盘报告(3月8日)", ["stock_analysis"], 150, 500, True),
    (ANALYST, FINANCE, "新能源汽车渗透率研究", ["financial_research"], 300, 480, True),
    (ANALYST, FINANCE, "宏观经济月度点评", ["financial_research"], 200, 460, False),
    (ANALYST, FINANCE, "比亚迪季度财报解读", ["financial_research"], 250, 490, True),
    (RESEARCH, FINANCE, "光伏组件价格走势研究", ["financial_research"], 200, 470, True),
    (TRADER, FINANCE, "美联储议息影响评估", ["financial_research"], 150, 480, True),
    (CODER, WRITER, "API 文档中英翻译", ["translation"], 200, 450, True),
    (FINANCE, WRITER, "研究报告英文摘要", ["translation"], 150, 470, True),
    (NEWS, WRITER, "海外市场早报编译", ["translation"], 150, 460, True),
    (WRITER, CODER, "数据抓取脚本代码评审", ["code_review"], 200, 490, True),
    (ANALYST, CODER, "行情数据接口开发", ["coding"], 300, 470, False),
    (DATA, CODER, "数据清洗管道重构", ["coding"], 150, 440, True),
)


def _publish(
    conn: Connection,
    *,
    publisher_id: str,
    title: str,
    description: str,
    capabilities: list[str],
    budget: int,
    now: int,
) -> TaskPublic:
    task = TaskCreate(
        title=title,
        description=description,
        required_capabilities=capabilities,
        budget=Decimal(budget),
    )
    # No deadline, so the time zone is never consulted.
    return tasks.publish_task(conn, publisher_id=publisher_id, task=task, now=now, tz_name="UTC")


def seed(conn: Connection, *, now: int) -> None:
    members = {name for publisher, assignee, *_ in HISTORY for name in (publisher, assignee)}
    conn.execute(
        update(agents)
        .where(agents.c.agent_id.in_(sorted(members)))
        .values(created_at=now - MEMBER_DAYS * 86_400)
    )
    # task_001 must be the first task.
    _publish(
        conn,
        publisher_id=ANALYST,
        title="新能源行业周报整理",
        description="汇总本周新能源板块的新闻、数据与研报观点,整理成一页周报。",
        capabilities=[],
        budget=200,
        now=now,
    )
    for publisher, assignee, title, caps, budget, quality, on_time in HISTORY:
        task = _publish(
            conn,
            publisher_id=publisher,
            title=title,
            description="",
            capabilities=caps,
            budget=budget,
            now=now,
        )
        tasks.accept_task(conn, task_id=task["task_id"], caller_id=assignee, now=now)
        tasks.complete_task(
            conn,
            task_id=task["task_id"],
            caller_id=assignee,
            delivery=TaskComplete(
                deliverables={"summary": f"{title}(已交付)"}, quality_notes="按要求交付"
            ),
            now=now,
        )
        trust.rate(
            conn,
            caller_id=publisher,
            agent_id=assignee,
            task_id=task["task_id"],
            quality_score=quality / 100,
            on_time=on_time,
            comment="交付专业,沟通顺畅" if on_time else "质量不错,略有延迟",
            now=now,
        )
    in_progress = _publish(
        conn,
        publisher_id=FINANCE,
        title="港股通资金周度统计",
        description="统计本周港股通南向资金的行业分布。",
        capabilities=["data_visualization"],
        budget=180,
        now=now,
    )
    tasks.accept_task(conn, task_id=in_progress["task_id"], caller_id=ANALYST, now=now)
