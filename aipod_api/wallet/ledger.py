"""The double-entry ledger: accounts and the money movements. Framework-free; callers own
the transaction. (The wallet's reads, which settle due tasks first, are wallet/service.py.)

Every movement is one `ledger_transactions` row with two balanced `ledger_entries`
(debit one account, credit another by the same amount). Agent accounts can never go
below zero: the debit is a conditional UPDATE (and a CHECK constraint backs it up).
`statement_lines` is the agent-facing view used by `GET /v1/transactions`. Each line
with a non-zero amount is also an event for its agent (`wallet.credited` /
`wallet.debited`, events/outbox.py), carrying the line as `GET /v1/transactions` shows it.

Lock order (PostgreSQL; SQLite has one writer): a transaction locks task rows first (its
conditional transition), then the counters its triggers bump, then accounts in ascending
`account_id` order (`lock_accounts`), then agent rows. A movement touching two agents
(settlement: publisher and assignee) or a batch touching many (expiry) takes every
account lock up front in that order, so P paying Q while Q pays P cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    bindparam,
    insert,
    select,
    update,
)

from aipod_api.core.errors import Conflict
from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import accounts, ledger_entries, ledger_transactions, statement_lines
from aipod_api.core.types import TASK_ID, TX_ID, iso, money_out
from aipod_api.events import outbox

TX_TYPES = ("signup_credit", "escrow_hold", "escrow_refund", "task_payment", "task_settlement")


class InsufficientFunds(Conflict):
    key = "insufficient_funds"

    def __init__(self, *, balance_cents: int, required_cents: int) -> None:
        super().__init__(
            data={"balance": money_out(balance_cents), "required": money_out(required_cents)}
        )
        self.balance_cents = balance_cents
        self.required_cents = required_cents


class AccountMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Movement:
    tx_seq: int
    debit_balance_after: int
    credit_balance_after: int


def _p(name: str, type_: Any = None) -> Any:
    return bindparam(name, type_=type_)


# The ledger's statements, prepared once (core/prepared.py): every money movement runs
# these few statements, so they are the write path's fixed cost.
_ISSUANCE = Prepared(select(accounts.c.account_id).where(accounts.c.kind == "issuance"))
_AGENT_ACCOUNT = Prepared(
    select(accounts.c.account_id).where(accounts.c.agent_id == _p("agent_id", String))
)
_ESCROW_ACCOUNT = Prepared(
    select(accounts.c.account_id).where(accounts.c.task_seq == _p("task_seq", BigInteger))
)
_OPEN_ACCOUNT = Prepared(
    insert(accounts)
    .values(
        kind=_p("kind", String),
        agent_id=_p("agent_id", String),
        task_seq=_p("task_seq", BigInteger),
        balance_cents=0,
        held_cents=0,
        earned_cents=0,
        spent_cents=0,
    )
    .returning(accounts.c.account_id)
)
_DEBIT = Prepared(
    update(accounts)
    .where(
        and_(
            accounts.c.account_id == _p("account_id", BigInteger),
            (accounts.c.kind == "issuance")
            | (accounts.c.balance_cents >= _p("amount", BigInteger)),
        )
    )
    .values(balance_cents=accounts.c.balance_cents - _p("amount", BigInteger))
    .returning(accounts.c.balance_cents)
)
_CREDIT = Prepared(
    update(accounts)
    .where(accounts.c.account_id == _p("account_id", BigInteger))
    .values(balance_cents=accounts.c.balance_cents + _p("amount", BigInteger))
    .returning(accounts.c.balance_cents)
)
_BALANCE = Prepared(
    select(accounts.c.balance_cents).where(accounts.c.account_id == _p("account_id", BigInteger))
)
_NEW_TX = Prepared(
    insert(ledger_transactions)
    .values(
        type=_p("type", String),
        task_seq=_p("task_seq", BigInteger),
        created_at=_p("now", BigInteger),
    )
    .returning(ledger_transactions.c.seq)
)
_NEW_ENTRY = Prepared(
    insert(ledger_entries).values(
        tx_seq=_p("tx_seq", BigInteger),
        account_id=_p("account_id", BigInteger),
        amount_cents=_p("amount", BigInteger),
        balance_after_cents=_p("balance_after", BigInteger),
    )
)
_NEW_LINE = Prepared(
    insert(statement_lines).values(
        agent_id=_p("agent_id", String),
        tx_seq=_p("tx_seq", BigInteger),
        type=_p("type", String),
        amount_cents=_p("amount", BigInteger),
        balance_after_cents=_p("balance_after", BigInteger),
        task_seq=_p("task_seq", BigInteger),
        counterparty_id=_p("counterparty_id", String),
        created_at=_p("now", BigInteger),
    )
)
_BUMP = Prepared(
    update(accounts)
    .where(accounts.c.account_id == _p("account_id", BigInteger))
    .values(
        held_cents=accounts.c.held_cents + _p("held", BigInteger),
        earned_cents=accounts.c.earned_cents + _p("earned", BigInteger),
        spent_cents=accounts.c.spent_cents + _p("spent", BigInteger),
    )
)


def lock_accounts(conn: Connection, account_ids: Iterable[int]) -> None:
    """Lock accounts in ascending id order before moving money between them (PostgreSQL;
    a no-op on SQLite, whose single writer already excludes every other transaction)."""
    ids = sorted(set(account_ids))
    if len(ids) < 2 or conn.dialect.name == "sqlite":
        return
    conn.execute(
        select(accounts.c.account_id)
        .where(accounts.c.account_id.in_(ids))
        .order_by(accounts.c.account_id)
        .with_for_update()
    ).all()


def agent_account_ids(conn: Connection, agent_ids: Iterable[str]) -> dict[str, int]:
    """agent_id -> account_id for several agents in one statement."""
    wanted = sorted(set(agent_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        select(accounts.c.agent_id, accounts.c.account_id).where(accounts.c.agent_id.in_(wanted))
    ).all()
    found = {str(r.agent_id): int(r.account_id) for r in rows}
    missing = [a for a in wanted if a not in found]
    if missing:
        raise AccountMissing(", ".join(missing))
    return found


def issuance_account_id(conn: Connection) -> int:
    return int(_ISSUANCE.execute(conn).scalar_one())


def agent_account_id(conn: Connection, agent_id: str) -> int:
    row = _AGENT_ACCOUNT.execute(conn, {"agent_id": agent_id}).scalar()
    if row is None:
        raise AccountMissing(agent_id)
    return int(row)


def _open_account(
    conn: Connection, *, kind: str, agent_id: str | None = None, task_seq: int | None = None
) -> int:
    result = _OPEN_ACCOUNT.execute(conn, {"kind": kind, "agent_id": agent_id, "task_seq": task_seq})
    return int(result.scalar_one())


def open_agent_account(conn: Connection, *, agent_id: str) -> int:
    return _open_account(conn, kind="agent", agent_id=agent_id)


def open_escrow_account(conn: Connection, *, task_seq: int) -> int:
    """Each task holds its budget in an account of its own while open or in progress."""
    return _open_account(conn, kind="escrow", task_seq=task_seq)


def escrow_account_id(conn: Connection, task_seq: int) -> int:
    return int(_ESCROW_ACCOUNT.execute(conn, {"task_seq": task_seq}).scalar_one())


def transfer(
    conn: Connection,
    *,
    tx_type: str,
    debit_account: int,
    credit_account: int,
    amount_cents: int,
    task_seq: int | None,
    now: int,
) -> Movement:
    """Move `amount_cents` from one account to another as one balanced transaction.

    The debit is conditional on the balance (issuance may go negative), so two
    concurrent debits can never overdraw: the loser's UPDATE matches no row.
    """
    if amount_cents < 0:
        raise ValueError("amount must be >= 0")
    debit = _DEBIT.execute(conn, {"account_id": debit_account, "amount": amount_cents}).scalar()
    if debit is None:
        balance = _BALANCE.execute(conn, {"account_id": debit_account}).scalar_one()
        raise InsufficientFunds(balance_cents=int(balance), required_cents=amount_cents)
    credit = _CREDIT.execute(
        conn, {"account_id": credit_account, "amount": amount_cents}
    ).scalar_one()
    tx_seq = int(
        _NEW_TX.execute(conn, {"type": tx_type, "task_seq": task_seq, "now": now}).scalar_one()
    )
    for account_id, amount, after in (
        (debit_account, -amount_cents, int(debit)),
        (credit_account, amount_cents, int(credit)),
    ):
        _NEW_ENTRY.execute(
            conn,
            {"tx_seq": tx_seq, "account_id": account_id, "amount": amount, "balance_after": after},
        )
    return Movement(tx_seq=tx_seq, debit_balance_after=int(debit), credit_balance_after=int(credit))


def statement_item(
    *,
    tx_seq: int,
    tx_type: str,
    amount_cents: int,
    balance_after_cents: int,
    task_seq: int | None,
    counterparty_id: str | None,
    created_at: int,
) -> dict[str, Any]:
    """One statement line as `GET /v1/transactions` shows it."""
    return {
        "tx_id": TX_ID.format(tx_seq),
        "type": tx_type,
        "amount": money_out(amount_cents),
        "balance_after": money_out(balance_after_cents),
        "task_id": TASK_ID.format(task_seq) if task_seq is not None else None,
        "counterparty_id": counterparty_id,
        "created_at": iso(created_at),
    }


def add_statement_line(
    conn: Connection,
    *,
    agent_id: str,
    tx_seq: int,
    tx_type: str,
    amount_cents: int,
    balance_after_cents: int,
    task_seq: int | None,
    counterparty_id: str | None,
    now: int,
) -> None:
    if amount_cents:
        item = statement_item(
            tx_seq=tx_seq,
            tx_type=tx_type,
            amount_cents=amount_cents,
            balance_after_cents=balance_after_cents,
            task_seq=task_seq,
            counterparty_id=counterparty_id,
            created_at=now,
        )
        outbox.emit(
            conn,
            type="wallet.credited" if amount_cents > 0 else "wallet.debited",
            data={"transaction": item},
            recipients=(agent_id,),
            now=now,
        )
    _NEW_LINE.execute(
        conn,
        {
            "agent_id": agent_id,
            "tx_seq": tx_seq,
            "type": tx_type,
            "amount": amount_cents,
            "balance_after": balance_after_cents,
            "task_seq": task_seq,
            "counterparty_id": counterparty_id,
            "now": now,
        },
    )


def _bump(conn: Connection, account_id: int, **deltas: int) -> None:
    if any(deltas.values()):
        _BUMP.execute(
            conn,
            {
                "account_id": account_id,
                "held": deltas.get("held_cents", 0),
                "earned": deltas.get("earned_cents", 0),
                "spent": deltas.get("spent_cents", 0),
            },
        )


# --- the movements the marketplace needs ---------------------------------------------


def grant_signup_credit(conn: Connection, *, agent_id: str, amount_cents: int, now: int) -> None:
    account = open_agent_account(conn, agent_id=agent_id)
    if amount_cents <= 0:
        return
    move = transfer(
        conn,
        tx_type="signup_credit",
        debit_account=issuance_account_id(conn),
        credit_account=account,
        amount_cents=amount_cents,
        task_seq=None,
        now=now,
    )
    add_statement_line(
        conn,
        agent_id=agent_id,
        tx_seq=move.tx_seq,
        tx_type="signup_credit",
        amount_cents=amount_cents,
        balance_after_cents=move.credit_balance_after,
        task_seq=None,
        counterparty_id=None,
        now=now,
    )


def hold_escrow(
    conn: Connection, *, publisher_id: str, task_seq: int, amount_cents: int, now: int
) -> None:
    """Move a new task's budget from the publisher into the task's own escrow account."""
    publisher_account = agent_account_id(conn, publisher_id)
    escrow = open_escrow_account(conn, task_seq=task_seq)
    move = transfer(
        conn,
        tx_type="escrow_hold",
        debit_account=publisher_account,
        credit_account=escrow,
        amount_cents=amount_cents,
        task_seq=task_seq,
        now=now,
    )
    _bump(conn, publisher_account, held_cents=amount_cents)
    add_statement_line(
        conn,
        agent_id=publisher_id,
        tx_seq=move.tx_seq,
        tx_type="escrow_hold",
        amount_cents=-amount_cents,
        balance_after_cents=move.debit_balance_after,
        task_seq=task_seq,
        counterparty_id=None,
        now=now,
    )


def refund_escrow(
    conn: Connection, *, publisher_id: str, task_seq: int, amount_cents: int, now: int
) -> None:
    """Return a task's whole escrow to its publisher (cancel or expiry).

    Callers invoke this only after winning the task's own conditional state transition,
    which is what makes the refund happen exactly once.
    """
    publisher_account = agent_account_id(conn, publisher_id)
    move = transfer(
        conn,
        tx_type="escrow_refund",
        debit_account=escrow_account_id(conn, task_seq),
        credit_account=publisher_account,
        amount_cents=amount_cents,
        task_seq=task_seq,
        now=now,
    )
    _bump(conn, publisher_account, held_cents=-amount_cents)
    add_statement_line(
        conn,
        agent_id=publisher_id,
        tx_seq=move.tx_seq,
        tx_type="escrow_refund",
        amount_cents=amount_cents,
        balance_after_cents=move.credit_balance_after,
        task_seq=task_seq,
        counterparty_id=None,
        now=now,
    )


def settle_escrow(
    conn: Connection,
    *,
    publisher_id: str,
    assignee_id: str,
    task_seq: int,
    amount_cents: int,
    now: int,
) -> None:
    """Pay a task's escrow to its assignee (on completion): one ledger transaction,
    seen as `task_payment` by the assignee and `task_settlement` by the publisher."""
    publisher_account = agent_account_id(conn, publisher_id)
    assignee_account = agent_account_id(conn, assignee_id)
    escrow = escrow_account_id(conn, task_seq)
    # Both agents' accounts are written below; take them in the global order first.
    lock_accounts(conn, (escrow, publisher_account, assignee_account))
    move = transfer(
        conn,
        tx_type="task_payment",
        debit_account=escrow,
        credit_account=assignee_account,
        amount_cents=amount_cents,
        task_seq=task_seq,
        now=now,
    )
    _bump(conn, publisher_account, held_cents=-amount_cents, spent_cents=amount_cents)
    _bump(conn, assignee_account, earned_cents=amount_cents)
    publisher_balance = _BALANCE.execute(conn, {"account_id": publisher_account}).scalar_one()
    add_statement_line(
        conn,
        agent_id=assignee_id,
        tx_seq=move.tx_seq,
        tx_type="task_payment",
        amount_cents=amount_cents,
        balance_after_cents=move.credit_balance_after,
        task_seq=task_seq,
        counterparty_id=publisher_id,
        now=now,
    )
    add_statement_line(
        conn,
        agent_id=publisher_id,
        tx_seq=move.tx_seq,
        tx_type="task_settlement",
        amount_cents=-amount_cents,
        balance_after_cents=int(publisher_balance),
        task_seq=task_seq,
        counterparty_id=assignee_id,
        now=now,
    )
