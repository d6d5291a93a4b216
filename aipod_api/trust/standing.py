"""Earned standing of raters, stored and maintained per payment (migration 0012).

A rater's standing (`formula.standing`) comes from its *vouched earnings*
(``agents.trust_vouched_cents``): task pay it received from payers who had earned standing
themselves — all of it from a pre-trusted seed (``agents.trust_seed``: the operators of
``AIPOD_OPERATORS`` and the demo data's own agents), ``pay * earned_standing(payer)``
from anyone else — counted on the net flow between the two only (``trust_flows``,
`formula.settle_flow`). Money granted at signup is paid by no one, so it vouches for
nothing, and accounts that have earned nothing vouch for nothing however much they pay
each other.

Cost: one payment reads the two rows of its pair and the payer's row (one statement) and
writes at most the two pair rows and the two agents' rows — O(1), in the payment's
transaction, under the account locks the settlement takes anyway (both agents' accounts,
in id order: wallet/ledger.py), so two payments within one pair are serialised. A rating reads its
rater's row (O(1)) and stores the standing with the rating.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Connection, String, and_, bindparam, insert, or_, select, update

from aipod_api.core.prepared import Prepared
from aipod_api.core.tables import agents, trust_flows
from aipod_api.trust.formula import DEFAULT_PARAMS, Flow, TrustParams, settle_flow, standing

_PAYER = bindparam("payer_id", type_=String)
_PAYEE = bindparam("payee_id", type_=String)
# The payer's row and the pair's two flows (either may be missing), in one statement.
_PAIR = Prepared(
    select(
        agents.c.trust_vouched_cents,
        agents.c.trust_seed,
        trust_flows.c.payer_id,
        trust_flows.c.paid_cents,
        trust_flows.c.credited_cents,
        trust_flows.c.vouched_cents,
    )
    .select_from(
        agents.outerjoin(
            trust_flows,
            or_(
                and_(trust_flows.c.payer_id == _PAYER, trust_flows.c.payee_id == _PAYEE),
                and_(trust_flows.c.payer_id == _PAYEE, trust_flows.c.payee_id == _PAYER),
            ),
        )
    )
    .where(agents.c.agent_id == _PAYER)
)
_FLOW_VALUES = {
    "paid_cents": bindparam("paid", type_=BigInteger),
    "credited_cents": bindparam("credited", type_=BigInteger),
    "vouched_cents": bindparam("vouched", type_=BigInteger),
}
_NEW_FLOW = Prepared(insert(trust_flows).values(payer_id=_PAYER, payee_id=_PAYEE, **_FLOW_VALUES))
_SET_FLOW = Prepared(
    update(trust_flows)
    .where(and_(trust_flows.c.payer_id == _PAYER, trust_flows.c.payee_id == _PAYEE))
    .values(**_FLOW_VALUES)
)
_AGENT = bindparam("agent_id", type_=String)
_BUMP = Prepared(
    update(agents)
    .where(agents.c.agent_id == _AGENT)
    .values(trust_vouched_cents=agents.c.trust_vouched_cents + bindparam("delta", type_=BigInteger))
)
# The payee's row once per payment: its vouched earnings and its completed tasks.
_BUMP_COMPLETED = Prepared(
    update(agents)
    .where(agents.c.agent_id == _AGENT)
    .values(
        trust_vouched_cents=agents.c.trust_vouched_cents + bindparam("delta", type_=BigInteger),
        tasks_completed=agents.c.tasks_completed + 1,
    )
)


def _store(conn: Connection, payer_id: str, payee_id: str, old: Flow | None, new: Flow) -> None:
    if old is not None and old == new:
        return
    params = {
        "payer_id": payer_id,
        "payee_id": payee_id,
        "paid": new.paid,
        "credited": new.credited,
        "vouched": new.vouched,
    }
    (_NEW_FLOW if old is None else _SET_FLOW).execute(conn, params)


def _flow(row: Any) -> Flow:
    return Flow(int(row.paid_cents), int(row.credited_cents), int(row.vouched_cents))


def record_payment(
    conn: Connection,
    *,
    payer_id: str,
    payee_id: str,
    amount_cents: int,
    params: TrustParams = DEFAULT_PARAMS,
    completed: bool = False,
) -> int:
    """Record task pay from `payer_id` to `payee_id` (the caller holds both accounts'
    locks); returns the vouched earnings the payee gained (negative changes go to the
    payer, who paid back what the payee had paid it). `completed`: the payment is for a
    task the payee completed, counted (`agents.tasks_completed`) in the same UPDATE of
    the payee's row, which is then written even when nothing is vouched.

    Statements: one read (the payer's row and both flows of the pair), the flows that
    changed, then the payee's row and (rarely: paying back) the payer's."""
    gained = payer_delta = 0
    if payer_id != payee_id and amount_cents > 0:
        rows = _PAIR.execute(conn, {"payer_id": payer_id, "payee_id": payee_id}).all()
        if not rows:
            raise LookupError(f"no agent {payer_id}")
        payer = rows[0]
        forward = next((_flow(r) for r in rows if r.payer_id == payer_id), None)
        backward = next((_flow(r) for r in rows if r.payer_id == payee_id), None)
        new_forward, new_backward, gained, payer_delta = settle_flow(
            forward or Flow(),
            backward or Flow(),
            amount_cents,
            int(payer.trust_vouched_cents),
            params,
            payer_seed=bool(payer.trust_seed),
        )
        _store(conn, payer_id, payee_id, forward, new_forward)
        if backward is not None:
            _store(conn, payee_id, payer_id, backward, new_backward)
    if completed:
        _BUMP_COMPLETED.execute(conn, {"agent_id": payee_id, "delta": gained})
    elif gained:
        _BUMP.execute(conn, {"agent_id": payee_id, "delta": gained})
    if payer_delta:
        _BUMP.execute(conn, {"agent_id": payer_id, "delta": payer_delta})
    return gained


def rater_standing(
    conn: Connection,
    rater_id: str,
    *,
    now: int,
    public: bool,
    params: TrustParams = DEFAULT_PARAMS,
) -> float:
    """The rater's standing now, from its row (`formula.standing`)."""
    row = conn.execute(
        select(agents.c.created_at, agents.c.trust_vouched_cents, agents.c.trust_seed).where(
            agents.c.agent_id == rater_id
        )
    ).one()
    return standing(
        now - int(row.created_at),
        params,
        public=public,
        seed=bool(row.trust_seed) and not public,
        vouched_cents=int(row.trust_vouched_cents),
    )


def mark_seeds(conn: Connection, agent_ids: frozenset[str] | set[str]) -> int:
    """Make these existing agents pre-trusted seeds; returns how many rows changed."""
    if not agent_ids:
        return 0
    return conn.execute(
        update(agents)
        .where(agents.c.agent_id.in_(sorted(agent_ids)), agents.c.trust_seed.is_(False))
        .values(trust_seed=True)
    ).rowcount


def check(conn: Connection) -> list[str]:
    """Audit: every agent's vouched earnings are the sum of its pair flows' vouched parts,
    and every pair flow keeps its invariants."""
    problems = []
    totals: dict[str, int] = {}
    for row in conn.execute(select(trust_flows)).all():
        totals[row.payee_id] = totals.get(row.payee_id, 0) + int(row.vouched_cents)
        if not 0 <= row.credited_cents <= row.paid_cents:
            problems.append(f"{row.payer_id}->{row.payee_id}: credited {row.credited_cents}")
        most = min(row.credited_cents, DEFAULT_PARAMS.vouch_pair_cap_cents)
        if not 0 <= row.vouched_cents <= most:
            problems.append(f"{row.payer_id}->{row.payee_id}: vouched {row.vouched_cents}")
    for row in conn.execute(select(agents.c.agent_id, agents.c.trust_vouched_cents)).all():
        if int(row.trust_vouched_cents) != totals.get(row.agent_id, 0):
            problems.append(
                f"{row.agent_id}: vouched {row.trust_vouched_cents}, "
                f"flows {totals.get(row.agent_id, 0)}"
            )
    return problems
