"""Every example of the seed page, verbatim and in the page's order, against a real server
started as the README says (`python -m aipod_api.server`) on a fresh database with demo data.

All succeed (code 0; 201 where something is created) except the last one, where `demo`
rates its own work on a task it did not publish: 403 by design (CONTRACT §4 Trust). The
task example's deadline is replaced by a future one (a past deadline is 400, CONTRACT §6).

Needs the memory routes (`/v1/memory`) of the shared-memory domain.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import DEMO_KEY, LiveServer


def test_seed_page_examples_in_order(live: LiveServer) -> None:
    api = live.api
    key = DEMO_KEY

    def ok(r: object, status: int = 200) -> None:
        assert getattr(r, "status", None) == status, getattr(r, "body", r)
        assert r.code == 0, r.body  # type: ignore[attr-defined]

    # 健康检查
    r = api.get("/v1/status")
    ok(r)
    assert r.data["status"] == "ok"

    # 列出所有节点(需认证)
    r = api.get("/v1/agents", key=key)
    ok(r)
    assert r.data["total"] >= 5

    # 列出任务
    r = api.get("/v1/tasks", key=key)
    ok(r)
    assert r.data["total"] >= 1

    # 注册新用户/节点
    r = api.post(
        "/v1/auth/register",
        json={
            "username": "my_node",
            "email": "node@example.com",
            "capabilities": ["stock_analysis", "text_generation"],
        },
    )
    ok(r, 201)
    assert r.data["node_id"] == "my_node" and r.data["api_key"].startswith("fg_live_")
    assert r.message == "注册成功"

    # 使用用户名登录
    r = api.post("/v1/auth/login", json={"username": "demo", "password": "demo"})
    ok(r)
    assert r.data["node_id"] == "demo"

    # 列出节点:按能力与最低信任分筛选
    r = api.get("/v1/agents?capability=text_generation&min_trust=0.9", key=key)
    ok(r)
    assert r.data["items"], "the demo data has a text_generation agent above 0.9"
    assert all(a["trust_score"] >= 0.9 for a in r.data["items"])

    # 获取指定节点
    r = api.get("/v1/agents/demo", key=key)
    ok(r)

    # 更新节点信息(仅限本人)
    r = api.put("/v1/agents/demo", key=key, json={"nickname": "新昵称", "capabilities": ["coding"]})
    ok(r)
    assert r.data["nickname"] == "新昵称" and r.data["capabilities"] == ["coding"]

    # 列出所有进行中的任务
    r = api.get("/v1/tasks?status=progress", key=key)
    ok(r)
    assert all(t["status"] == "progress" for t in r.data["items"])

    # 发布新任务 (deadline: the seed's is in the past; use the same wall time tomorrow)
    deadline = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT08:00:00")
    r = api.post(
        "/v1/tasks",
        key=key,
        json={
            "title": "A股每日复盘报告",
            "description": "对今日A股市场进行技术分析,撰写复盘报告",
            "required_capabilities": ["stock_analysis", "text_generation"],
            "budget": 500,
            "deadline": deadline,
        },
    )
    ok(r, 201)
    assert r.data["status"] == "open" and r.data["budget"] == 500

    # 承接任务
    r = api.put("/v1/tasks/task_001/accept", key=key)
    ok(r)
    assert r.data["status"] == "progress" and r.data["assignee_id"] == "demo"

    # 完成任务交付
    r = api.put(
        "/v1/tasks/task_001/complete",
        key=key,
        json={
            "deliverables": {"report": "复盘报告内容...", "files": ["report.pdf"]},
            "quality_notes": "包含涨跌停板分析、资金流向、板块表现",
        },
    )
    ok(r)
    assert r.data["status"] == "done"
    assert r.data["deliverables"] == {"report": "复盘报告内容...", "files": ["report.pdf"]}

    # 查询共享记忆
    r = api.get("/v1/memory?tag=新能源", key=key)
    ok(r)
    assert r.data["items"], "demo data has public memories tagged 新能源"

    # 写入共享记忆
    r = api.post(
        "/v1/memory",
        key=key,
        json={
            "content": "2026年Q1新能源渗透率超过40%,比亚迪领先",
            "participants": ["ai_analyst_001", "ai_finance_003"],
            "tags": ["新能源", "市场数据"],
        },
    )
    ok(r, 201)

    # 对完成任务进行评价: demo rates itself on a task it did not publish -> 403 by design
    r = api.post(
        "/v1/trust/rate",
        key=key,
        json={
            "agent_id": "demo",
            "task_id": "task_001",
            "quality_score": 4.8,
            "on_time": True,
            "comment": "交付专业,沟通顺畅",
        },
    )
    assert r.status == 403 and r.code == 403, r.body

    # The wallet reflects the walk: 1000 - 500 (escrow) + 200 (task_001 paid to demo).
    r = api.get("/v1/wallet", key=key)
    ok(r)
    assert r.data["balance"] == 700 and r.data["escrow"] == 500
    assert r.data["total_earned"] == 200
