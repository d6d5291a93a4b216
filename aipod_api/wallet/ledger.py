"""The double-entry ledger: accounts and the money movements. Framework-free; callers own
the transaction. (The wallet's reads, which settle due tasks first, are wallet/service.py.)

Every movement is one `ledger_transactions` row with two balanced `ledger_entries`
(debit one account, credit another by the same amount). Agent accounts can never go
below zero: the debit is a conditional UPDATE (and a CHECK constraint backs it up).
`statement_lines` is the agent-facing view used by `GET /v1/transactions`. Each line
with a non-zero amount is also an event for its agent (`wallet.credited` /
`wallet.debited`, events/outbox.py), carrying the line as `GET /v1/transactions` shows it.

Statements per movement (the write path's fixed cost): the balances and the agents'
statement counters (`held_cents`, `earned_cents`, `spent_cents`) move in ONE UPDATE —
escrow in: the publisher's conditional debit by agent id (`_HOLD`), then its escrow
account is opened holding the amount; escrow out: the escrow's conditional debit, the
credit and every counter of both agents in one `_RELEASE` (CASE per column), which also
returns the balances the statement lines show. Then one INSERT each for the
transaction, its two entries and its statement lines. A settlement is 4 statements on
SQLite (5 on PostgreSQL, with its lock), where it was 13.

Lock order (PostgreSQL; SQLite has one writer): a transaction locks task rows first (its
conditional transition), then the counters its triggers bump, then accounts in ascending
`account_id` order (`lock_accounts`, `lock_agent_accounts`, `_LOCK_RELEASE`), then agent
rows. A movement touching two agents (settlement: publisher and assignee) or a batch
touching many (expiry) takes every account lock up front in that order, so P paying Q
while Q pays P cannot deadlock. (A task's escrow account is written only by the winner
of the task's conditional transition, under that task's row lock: it is never waited
for, so a refund, which writes the escrow and one agent's account, locks no more.)
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
    case,
    insert,
    literal_column,
    or_,
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


class ShortEscrow(RuntimeError):
    """A task's escrow holds less than a release takes (never: a bug, answered 500)."""


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
_NEW_ENTRIES = Prepared(
    insert(ledger_entries).values(
        [
            {
                "tx_seq": _p("tx_seq", BigInteger),
                "account_id": _p(f"{side}_account", BigInteger),
                "amount_cents": _p(f"{side}_amount", BigInteger),
                "balance_after_cents": _p(f"{side}_after", BigInteger),
            }
            for side in ("debit", "credit")
        ]
    )
)
# A settlement's two statement lines (payment and settlement), in one statement.
_NEW_LINES_2 = Prepared(
    insert(statement_lines).values(
        [
            {
                "agent_id": _p(f"agent_id{i}", String),
                "tx_seq": _p("tx_seq", BigInteger),
                "type": _p(f"type{i}", String),
                "amount_cents": _p(f"amount{i}", BigInteger),
                "balance_after_cents": _p(f"balance_after{i}", BigInteger),
                "task_seq": _p("task_seq", BigInteger),
                "counterparty_id": _p(f"counterparty_id{i}", String),
                "created_at": _p("now", BigInteger),
            }
            for i in range(2)
        ]
    )
)

# Escrow in: the publisher's conditional debit and its `held_cents`, by agent id, in one
# UPDATE; the escrow account is then opened holding the amount.
_HOLD = Prepared(
    update(accounts)
    .where(
        and_(
            accounts.c.agent_id == _p("agent_id", String),
            accounts.c.balance_cents >= _p("amount", BigInteger),
        )
    )
    .values(
        balance_cents=accounts.c.balance_cents - _p("amount", BigInteger),
        held_cents=accounts.c.held_cents + _p("amount", BigInteger),
    )
    .returning(accounts.c.account_id, accounts.c.balance_cents)
)
_AGENT_BALANCE = Prepared(
    select(accounts.c.balance_cents).where(accounts.c.agent_id == _p("agent_id", String))
)
_ESCROW_BALANCE = Prepared(
    select(accounts.c.balance_cents).where(accounts.c.task_seq == _p("task_seq", BigInteger))
)
_OPEN_ESCROW = Prepared(
    insert(accounts)
    .values(
        kind="escrow",
        agent_id=None,
        task_seq=_p("task_seq", BigInteger),
        balance_cents=_p("amount", BigInteger),
        held_cents=0,
        earned_cents=0,
        spent_cents=0,
    )
    .returning(accounts.c.account_id)
)

# Escrow out: the task's escrow debited (conditionally) and up to two agents' accounts
# (`a1`, `a2`; None matches nothing) credited and their statement counters moved, all in
# ONE UPDATE: each column is `column + CASE WHEN agent_id = :a1 THEN :a1_<delta>
# WHEN agent_id = :a2 THEN :a2_<delta> ELSE <the escrow's delta> END`.
_A1 = accounts.c.agent_id == _p("a1", String)
_A2 = accounts.c.agent_id == _p("a2", String)
_COUNTER_COLUMNS = ("balance", "held", "earned", "spent")


def _released(column: str, escrow: Any) -> Any:
    return accounts.c[f"{column}_cents"] + case(
        (_A1, _p(f"a1_{column}", BigInteger)),
        (_A2, _p(f"a2_{column}", BigInteger)),
        else_=escrow,
    )


_RELEASE = Prepared(
    update(accounts)
    .where(
        or_(
            and_(
                accounts.c.task_seq == _p("task_seq", BigInteger),
                accounts.c.balance_cents >= _p("amount", BigInteger),
            ),
            _A1,
            _A2,
        )
    )
    .values(
        {
            f"{column}_cents": _released(
                column, -_p("amount", BigInteger) if column == "balance" else literal_column("0")
            )
            for column in _COUNTER_COLUMNS
        }
    )
    .returning(accounts.c.account_id, accounts.c.agent_id, accounts.c.balance_cents)
)
_LOCK_RELEASE = Prepared(
    select(accounts.c.account_id)
    .where(or_(accounts.c.task_seq == _p("task_seq", BigInteger), _A1, _A2))
    .order_by(accounts.c.account_id)
    .with_for_update()
)


def _deltas(**given: int) -> dict[str, int]:
    """The bind values of `_RELEASE`'s per-agent deltas (0 unless given)."""
    out = {f"{a}_{c}": 0 for a in ("a1", "a2") for c in _COUNTER_COLUMNS}
    for name, value in given.items():
        if name not in out:
            raise ValueError(f"no such delta: {name}")
        out[name] = value
    return out


def _book(
    conn: Connection,
    *,
    tx_type: str,
    task_seq: int | None,
    now: int,
    debit: tuple[int, int],
    credit: tuple[int, int],
    amount_cents: int,
) -> int:
    """The ledger transaction of a movement already applied to the balances, with its two
    entries ((account_id, balance after) of each side); returns its seq."""
    tx_seq = int(
        _NEW_TX.execute(conn, {"type": tx_type, "task_seq": task_seq, "now": now}).scalar_one()
    )
    _NEW_ENTRIES.execute(
        conn,
        {
            "tx_seq": tx_seq,
            "debit_account": debit[0],
            "debit_amount": -amount_cents,
            "debit_after": debit[1],
            "credit_account": credit[0],
            "credit_amount": amount_cents,
            "credit_after": credit[1],
        },
    )
    return tx_seq


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


def lock_agent_accounts(conn: Connection, agent_ids: Iterable[str]) -> None:
    """`lock_accounts` for agents' accounts, named by agent id: one statement that finds
    and locks them in ascending account id order (PostgreSQL; nothing on SQLite)."""
    wanted = sorted(set(agent_ids))
    if len(wanted) < 2 or conn.dialect.name == "sqlite":
        return
    found = conn.execute(
        select(accounts.c.account_id)
        .where(accounts.c.agent_id.in_(wanted))
        .order_by(accounts.c.account_id)
        .with_for_update()
    ).all()
    if len(found) != len(wanted):
        raise AccountMissing(", ".join(wanted))


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
    tx_seq = _book(
        conn,
        tx_type=tx_type,
        task_seq=task_seq,
        now=now,
        debit=(debit_account, int(debit)),
        credit=(credit_account, int(credit)),
        amount_cents=amount_cents,
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


def _announce_line(
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
    """A statement line with a non-zero amount is an event for its agent."""
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
    _announce_line(
        conn,
        agent_id=agent_id,
        tx_seq=tx_seq,
        tx_type=tx_type,
        amount_cents=amount_cents,
        balance_after_cents=balance_after_cents,
        task_seq=task_seq,
        counterparty_id=counterparty_id,
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
    """Move a new task's budget from the publisher into the task's own escrow account:
    the publisher's conditional debit (with its `held_cents`), then the escrow account
    opened holding the budget, the transaction with its two entries, the statement line."""
    debited = _HOLD.execute(conn, {"agent_id": publisher_id, "amount": amount_cents}).first()
    if debited is None:
        balance = _AGENT_BALANCE.execute(conn, {"agent_id": publisher_id}).scalar()
        if balance is None:
            raise AccountMissing(publisher_id)
        raise InsufficientFunds(balance_cents=int(balance), required_cents=amount_cents)
    publisher_account, after = int(debited.account_id), int(debited.balance_cents)
    escrow = int(
        _OPEN_ESCROW.execute(conn, {"task_seq": task_seq, "amount": amount_cents}).scalar_one()
    )
    tx_seq = _book(
        conn,
        tx_type="escrow_hold",
        task_seq=task_seq,
        now=now,
        debit=(publisher_account, after),
        credit=(escrow, amount_cents),
        amount_cents=amount_cents,
    )
    add_statement_line(
        conn,
        agent_id=publisher_id,
        tx_seq=tx_seq,
        tx_type="escrow_hold",
        amount_cents=-amount_cents,
        balance_after_cents=after,
        task_seq=task_seq,
        counterparty_id=None,
        now=now,
    )


def _release(
    conn: Connection,
    *,
    task_seq: int,
    amount_cents: int,
    credit: str,
    other: str | None,
    deltas: dict[str, int],
) -> dict[str | None, tuple[int, int]]:
    """Debit the task's escrow by `amount_cents` and credit agent `credit` with it, in ONE
    UPDATE that also applies the agents' statement counters (`deltas`: the bind values of
    `_RELEASE`) and touches agent `other`'s row (None: none) so that its balance comes
    back too. Returns agent_id (None: the escrow) -> (account_id, balance after).

    On PostgreSQL the two agents' accounts are locked first, with the escrow, in the
    global id order (`lock_accounts`): the UPDATE itself locks rows in whatever order its
    plan meets them. (The escrow alone is never contended: only the winner of the task's
    conditional transition writes it.)"""
    agents = (credit, other)
    if other is not None and conn.dialect.name != "sqlite":
        _LOCK_RELEASE.execute(conn, {"task_seq": task_seq, "a1": credit, "a2": other})
    rows = _RELEASE.execute(
        conn,
        {"task_seq": task_seq, "amount": amount_cents, "a1": credit, "a2": other, **deltas},
    ).all()
    found: dict[str | None, tuple[int, int]] = {
        r.agent_id: (int(r.account_id), int(r.balance_cents)) for r in rows
    }
    if None not in found:
        # The escrow holds the budget until one release empties it (the task's
        # conditional transition runs it once): a short escrow is a broken invariant, and
        # the agents' rows this UPDATE did credit go with the transaction's rollback.
        balance = _ESCROW_BALANCE.execute(conn, {"task_seq": task_seq}).scalar()
        raise ShortEscrow(f"task {task_seq}: escrow {balance}, releasing {amount_cents}")
    missing = [a for a in agents if a is not None and a not in found]
    if missing:
        raise AccountMissing(", ".join(missing))
    return found


def refund_escrow(
    conn: Connection, *, publisher_id: str, task_seq: int, amount_cents: int, now: int
) -> None:
    """Return a task's escrow (or what is left of it, `amount_cents`) to its publisher
    (cancel, expiry, concession, the rest of a split).

    Callers invoke this only after winning the task's own conditional state transition,
    which is what makes the refund happen exactly once.
    """
    found = _release(
        conn,
        task_seq=task_seq,
        amount_cents=amount_cents,
        credit=publisher_id,
        other=None,
        deltas=_deltas(a1_balance=amount_cents, a1_held=-amount_cents),
    )
    escrow, escrow_after = found[None]
    publisher_account, after = found[publisher_id]
    tx_seq = _book(
        conn,
        tx_type="escrow_refund",
        task_seq=task_seq,
        now=now,
        debit=(escrow, escrow_after),
        credit=(publisher_account, after),
        amount_cents=amount_cents,
    )
    add_statement_line(
        conn,
        agent_id=publisher_id,
        tx_seq=tx_seq,
        tx_type="escrow_refund",
        amount_cents=amount_cents,
        balance_after_cents=after,
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
    if publisher_id == assignee_id:
        raise ValueError("a task's publisher is never its assignee")
    found = _release(
        conn,
        task_seq=task_seq,
        amount_cents=amount_cents,
        credit=assignee_id,
        other=publisher_id,
        deltas=_deltas(
            a1_balance=amount_cents,
            a1_earned=amount_cents,
            a2_held=-amount_cents,
            a2_spent=amount_cents,
        ),
    )
    escrow, escrow_after = found[None]
    assignee_account, assignee_after = found[assignee_id]
    publisher_after = found[publisher_id][1]
    tx_seq = _book(
        conn,
        tx_type="task_payment",
        task_seq=task_seq,
        now=now,
        debit=(escrow, escrow_after),
        credit=(assignee_account, assignee_after),
        amount_cents=amount_cents,
    )
    lines = (
        (assignee_id, "task_payment", amount_cents, assignee_after, publisher_id),
        (publisher_id, "task_settlement", -amount_cents, publisher_after, assignee_id),
    )
    for agent_id, tx_type, amount, after, counterparty in lines:
        _announce_line(
            conn,
            agent_id=agent_id,
            tx_seq=tx_seq,
            tx_type=tx_type,
            amount_cents=amount,
            balance_after_cents=after,
            task_seq=task_seq,
            counterparty_id=counterparty,
            now=now,
        )
    params: dict[str, Any] = {"tx_seq": tx_seq, "task_seq": task_seq, "now": now}
    for i, (agent_id, tx_type, amount, after, counterparty) in enumerate(lines):
        params.update(
            {
                f"agent_id{i}": agent_id,
                f"type{i}": tx_type,
                f"amount{i}": amount,
                f"balance_after{i}": after,
                f"counterparty_id{i}": counterparty,
            }
        )
    _NEW_LINES_2.execute(conn, params)
