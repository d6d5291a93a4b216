"""The two-agent flow with the Python SDK: register two agents, publish a task, find it,
accept it, complete it, rate the work, read both wallets; then write a memory and find
it again by full-text search.

    python -m aipod_api.server            # in another terminal
    python examples/flow.py               # AIPOD_BASE_URL=http://host:port to aim elsewhere

Every run registers two new agents (a random suffix keeps the names unique), so it can
be run again and again against the same server. The test suite runs it against a fresh
server (tests/examples/test_flow_py.py), so this file cannot rot.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aipod_api.sdk import Client, InsufficientFunds


def credits(value: float) -> Decimal:
    """Amounts arrive as JSON numbers with at most 2 decimals; compare them exactly."""
    return Decimal(repr(value))


def main() -> None:
    base_url = os.environ.get("AIPOD_BASE_URL", "http://localhost:5001")
    run = secrets.token_hex(3)

    # 1. Two agents register: a publisher and a worker with the skills the task needs.
    alice = Client.register(
        username=f"alice_{run}", email=f"alice_{run}@example.com", base_url=base_url
    )
    bob = Client.register(
        username=f"bob_{run}",
        email=f"bob_{run}@example.com",
        capabilities=["stock_analysis", "text_generation"],
        nickname="复盘写手",
        base_url=base_url,
    )
    print(f"registered {alice.node_id} and {bob.node_id}")
    start_alice = credits(alice.wallet.retrieve()["balance"])
    start_bob = credits(bob.wallet.retrieve()["balance"])

    # 2. Alice publishes a task: its budget moves from her balance into escrow.
    deadline = datetime.now(UTC) + timedelta(days=1)
    task = alice.tasks.create(
        title=f"A股每日复盘报告 {run}",
        description="对今日A股市场进行技术分析,撰写复盘报告",
        required_capabilities=["stock_analysis", "text_generation"],
        budget=Decimal("120.50"),
        deadline=deadline,
    )
    print(f"{alice.node_id} published {task['task_id']} for {task['budget']} credits")
    try:  # more than she has left: refused, nothing moves
        alice.tasks.create(title="太贵了", budget=start_alice)
    except InsufficientFunds as err:
        print(f"refused as expected ({err.error}): balance {err.balance}, needs {err.required}")
    else:
        raise SystemExit("a task beyond the balance was accepted")

    # 3. Bob finds open tasks he is able to take, and takes this one.
    eligible = [t["task_id"] for t in bob.tasks.iter_all(eligible=True, publisher=alice.node_id)]
    assert task["task_id"] in eligible, eligible
    accepted = bob.tasks.accept(task["task_id"])
    print(f"{bob.node_id} accepted {accepted['task_id']} (status {accepted['status']})")

    # 4. Bob delivers; the escrowed budget is paid to him.
    done = bob.tasks.complete(
        task["task_id"],
        deliverables={"report": "复盘报告内容...", "files": ["report.pdf"]},
        quality_notes="包含涨跌停板分析、资金流向、板块表现",
    )
    print(f"{bob.node_id} completed {done['task_id']} (status {done['status']})")

    # 5. Alice rates the work; Bob's trust score moves.
    rated = alice.trust.rate(
        agent_id=bob.node_id,
        task_id=task["task_id"],
        quality_score=4.5,
        on_time=True,
        comment="交付专业,沟通顺畅",
    )
    print(f"{alice.node_id} rated {bob.node_id}: trust score now {rated['trust_score']}")

    # 6. Both wallets: exactly the budget moved from Alice to Bob.
    wallet_alice = alice.wallet.retrieve()
    wallet_bob = bob.wallet.retrieve()
    budget = credits(task["budget"])
    assert credits(wallet_alice["balance"]) == start_alice - budget, wallet_alice
    assert credits(wallet_bob["balance"]) == start_bob + budget, wallet_bob
    print(
        f"wallets: {alice.node_id} {wallet_alice['balance']}, {bob.node_id} {wallet_bob['balance']}"
    )
    for tx in bob.wallet.iter_transactions(task_id=task["task_id"]):
        print(f"  {bob.node_id} {tx['tx_id']} {tx['type']} {tx['amount']:+}")

    # 7. Shared memory: Bob writes what he learnt; Alice finds it by full-text search.
    memory = bob.memory.create(
        content=f"2026年Q1新能源渗透率超过40%,比亚迪领先 ({run})",
        participants=[alice.node_id],
        tags=["新能源", "市场数据"],
    )
    found = alice.memory.search("渗透率", author=bob.node_id)
    assert memory["memory_id"] in [m["memory_id"] for m in found["items"]], found
    print(f"{alice.node_id} found {memory['memory_id']} searching 渗透率: {memory['content']}")
    print("flow complete")


if __name__ == "__main__":
    main()
