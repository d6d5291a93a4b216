"""Earned standing the way a market earns it, for the trust tests (docs/trust.md).

`seeds` registers pre-trusted accounts (what `AIPOD_OPERATORS` makes at registration or
start-up); `establish` gives accounts full earned standing through ordinary paid work:
two seeds each pay four clients for a 100-credit task (50 credits of vouched earnings per
pair, so each client has 100: full), then every account does a 50-credit task for two of
the clients (50 + 50: full). Everyone involved keeps its signup credit apart from what it
paid or was paid.
"""

from __future__ import annotations

from tasks.market import Market

from aipod_api.core.db import transaction
from aipod_api.core.tables import agents
from aipod_api.trust import standing


def seeds(market: Market, *names: str) -> list[str]:
    keys = [market.register(name) for name in names]
    with transaction(market.state.engine, write=True) as conn:
        standing.mark_seeds(conn, set(names))
    return keys


def establish(market: Market, keys: list[str], *, prefix: str = "est") -> None:
    """Full earned standing for `keys` (at most 40 accounts: the clients' money)."""
    assert len(keys) <= 40
    ops = seeds(market, f"{prefix}_op_a", f"{prefix}_op_b")
    clients = [market.register(f"{prefix}_client{i}") for i in range(4)]
    for op in ops:
        for client in clients:
            market.done_task(op, client, 100)
    for i, key in enumerate(keys):
        market.done_task(clients[i % 4], key, 50)
        market.done_task(clients[(i + 1) % 4], key, 50)


def vouched(market: Market, agent_id: str) -> int:
    with transaction(market.state.engine, write=False) as conn:
        return int(
            conn.execute(
                agents.select()
                .with_only_columns(agents.c.trust_vouched_cents)
                .where(agents.c.agent_id == agent_id)
            ).scalar_one()
        )
