"""The wallet as agents read it: balance and statement, right at read time, and the
ledger's invariants. Framework-free; callers own the transaction.

The money movements themselves are wallet/ledger.py. A read first settles the caller's
own tasks the clock has already closed (`tasks.service.settle_before_read`): an open task
past its deadline reads as expired, so its escrow must read as refunded too.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Engine, and_, bindparam, func, literal, select

from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import (
    accounts,
    ledger_entries,
    ledger_transactions,
    statement_lines,
    tasks,
)
from aipod_api.core.types import (
    TASK_ID,
    Page,
    capped_count,
    fetch_page,
    money_out,
    page_data,
)
from aipod_api.tasks import flows
from aipod_api.tasks.service import settle_before_read
from aipod_api.wallet import ledger
from aipod_api.wallet.schemas import TransactionPublic, TransactionsQuery, WalletPublic

_GET_WALLET = Prepared(
    select(
        accounts.c.balance_cents,
        accounts.c.held_cents,
        accounts.c.earned_cents,
        accounts.c.spent_cents,
    ).where(accounts.c.agent_id == bindparam("agent_id"))
)


def get_wallet(conn: Connection, *, agent_id: str, now: int, engine: Engine) -> WalletPublic:
    """Balance, escrow and totals. `engine`: where the settlement of due tasks, if there
    is any, runs its own short write transaction."""
    settle_before_read(conn, engine=engine, agent_id=agent_id, now=now)
    row = _GET_WALLET.execute(conn, {"agent_id": agent_id}).one()
    return {
        "agent_id": agent_id,
        "balance": money_out(row.balance_cents),
        "escrow": money_out(row.held_cents),
        "total_earned": money_out(row.earned_cents),
        "total_spent": money_out(row.spent_cents),
        "currency": "credit",
    }


def list_transactions(
    conn: Connection, *, agent_id: str, query: TransactionsQuery, now: int, engine: Engine
) -> Page[TransactionPublic]:
    """The caller's statement, newest first. A `task_id` that is no task id matches
    nothing (an empty page, not an error)."""
    settle_before_read(conn, engine=engine, agent_id=agent_id, now=now)
    page, page_size = query.page, query.page_size
    cond = statement_lines.c.agent_id == agent_id
    if query.type is not None:
        cond = and_(cond, statement_lines.c.type == query.type)
    if query.task_id is not None:
        task_seq = TASK_ID.parse(query.task_id)
        if task_seq is None:
            return page_data([], page=page, page_size=page_size, total=0)
        cond = and_(cond, statement_lines.c.task_seq == task_seq)
    total = capped_count(conn, select(literal(1)).select_from(statement_lines).where(cond))
    rows, has_more = fetch_page(
        conn,
        select(statement_lines).where(cond).order_by(statement_lines.c.seq.desc()),
        page=page,
        page_size=page_size,
    )
    items = [
        cast(
            TransactionPublic,
            ledger.statement_item(
                tx_seq=r.tx_seq,
                tx_type=r.type,
                amount_cents=r.amount_cents,
                balance_after_cents=r.balance_after_cents,
                task_seq=r.task_seq,
                counterparty_id=r.counterparty_id,
                created_at=r.created_at,
            ),
        )
        for r in rows
    ]
    return page_data(items, page=page, page_size=page_size, total=total, has_more=has_more)


# --- invariants (CONTRACT §5), used by tests and the admin check ----------------------


def check_invariants(conn: Connection) -> list[str]:
    """Return a list of violated invariants (empty when all hold)."""
    problems: list[str] = []
    total = conn.execute(select(func.coalesce(func.sum(accounts.c.balance_cents), 0))).scalar_one()
    if int(total) != 0:
        problems.append(f"sum of all account balances is {total}, not 0")
    negative = conn.execute(
        select(func.count())
        .select_from(accounts)
        .where(and_(accounts.c.kind != "issuance", accounts.c.balance_cents < 0))
    ).scalar_one()
    if negative:
        problems.append(f"{negative} accounts below zero")
    unbalanced = conn.execute(
        select(ledger_entries.c.tx_seq)
        .group_by(ledger_entries.c.tx_seq)
        .having(func.sum(ledger_entries.c.amount_cents) != 0)
    ).all()
    if unbalanced:
        problems.append(f"unbalanced transactions: {[r[0] for r in unbalanced][:10]}")
    escrow_rows = conn.execute(
        select(
            tasks.c.seq, tasks.c.status, tasks.c.budget_cents, accounts.c.balance_cents
        ).select_from(tasks.join(accounts, accounts.c.task_seq == tasks.c.seq, isouter=True))
    ).all()
    held: dict[str, int] = {}
    for seq, status, budget, escrow in escrow_rows:
        expected = budget if status in flows.HELD else 0
        if (escrow or 0) != expected:
            problems.append(f"{TASK_ID.format(seq)} ({status}) escrow {escrow} != {expected}")
    for seq, status, budget, _ in escrow_rows:
        if status in flows.HELD:
            pub = conn.execute(select(tasks.c.publisher_id).where(tasks.c.seq == seq)).scalar_one()
            held[pub] = held.get(pub, 0) + budget
    for agent_id, held_cents in conn.execute(
        select(accounts.c.agent_id, accounts.c.held_cents).where(accounts.c.kind == "agent")
    ).all():
        if held.get(agent_id, 0) != held_cents:
            problems.append(f"{agent_id} held {held_cents} != open budgets {held.get(agent_id, 0)}")
    # Each task's escrow is paid out at most once and refunded at most once (a dispute
    # split does one of each), and the two parts add up to its budget once closed.
    settle_counts = conn.execute(
        select(ledger_transactions.c.task_seq, ledger_transactions.c.type, func.count())
        .where(ledger_transactions.c.type.in_(("task_payment", "escrow_refund")))
        .group_by(ledger_transactions.c.task_seq, ledger_transactions.c.type)
        .having(func.count() > 1)
    ).all()
    if settle_counts:
        problems.append(f"tasks settled or refunded more than once: {settle_counts[:10]}")
    released = {
        int(seq): int(total or 0)
        for seq, total in conn.execute(
            select(ledger_transactions.c.task_seq, func.sum(ledger_entries.c.amount_cents))
            .select_from(
                ledger_transactions.join(
                    ledger_entries, ledger_entries.c.tx_seq == ledger_transactions.c.seq
                ).join(accounts, accounts.c.account_id == ledger_entries.c.account_id)
            )
            .where(
                and_(
                    ledger_transactions.c.type.in_(("task_payment", "escrow_refund")),
                    accounts.c.kind == "escrow",
                )
            )
            .group_by(ledger_transactions.c.task_seq)
        ).all()
    }
    for seq, status, budget, _ in escrow_rows:
        out = -released.get(int(seq), 0)
        if status not in flows.HELD and out != budget:
            problems.append(f"{TASK_ID.format(seq)} ({status}) released {out} != {budget}")
    return problems
