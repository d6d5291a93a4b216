"""Earned standing of raters, stored and maintained per payment (migration 0012).

A rater's standing (`formula.standing`) comes from its *vouched earnings*
(``agents.trust_vouched_cents``): task pay it received from payers who had earned standing
themselves — all of it from a pre-trusted seed (``agents.trust_seed``: the operators of
``AIPOD_OPERATORS`` and the demo data's own agents), ``pay * earned_standing(payer)``
from anyone else — counted on the net flow between the two only (``trust_flows``,
`formula.settle_flow`). Money granted at signup is paid by no one, so it vouches for
nothing, and accounts that have earned nothing vouch for nothing however much they pay
each other.

Cost: one payment reads the two rows of its pair and the payer's row and writes at most
the two pair rows and the two agents' rows — O(1), in the payment's transaction, under
the account locks the settlement takes anyway (both agents' accounts, in id order:
wallet/ledger.py), so two payments within one pair are serialised. A rating reads its
rater's row (O(1)) and stores the standing with the rating.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from aipod_api.core.tables import agents, trust_flows
from aipod_api.trust.formula import DEFAULT_PARAMS, Flow, TrustParams, settle_flow, standing


def _flow(conn: Connection, payer_id: str, payee_id: str) -> Flow | None:
    row = conn.execute(
        select(
            trust_flows.c.paid_cents, trust_flows.c.credited_cents, trust_flows.c.vouched_cents
        ).where(trust_flows.c.payer_id == payer_id, trust_flows.c.payee_id == payee_id)
    ).first()
    if row is None:
        return None
    return Flow(int(row.paid_cents), int(row.credited_cents), int(row.vouched_cents))


def _store(conn: Connection, payer_id: str, payee_id: str, old: Flow | None, new: Flow) -> None:
    values = {
        "paid_cents": new.paid,
        "credited_cents": new.credited,
        "vouched_cents": new.vouched,
    }
    if old is None:
        conn.execute(insert(trust_flows).values(payer_id=payer_id, payee_id=payee_id, **values))
    elif old != new:
        conn.execute(
            update(trust_flows)
            .where(trust_flows.c.payer_id == payer_id, trust_flows.c.payee_id == payee_id)
            .values(**values)
        )


def _bump(conn: Connection, agent_id: str, delta: int) -> None:
    if delta:
        conn.execute(
            update(agents)
            .where(agents.c.agent_id == agent_id)
            .values(trust_vouched_cents=agents.c.trust_vouched_cents + delta)
        )


def record_payment(
    conn: Connection,
    *,
    payer_id: str,
    payee_id: str,
    amount_cents: int,
    params: TrustParams = DEFAULT_PARAMS,
) -> int:
    """Record task pay from `payer_id` to `payee_id` (the caller holds both accounts'
    locks); returns the vouched earnings the payee gained (negative changes go to the
    payer, who paid back what the payee had paid it)."""
    if payer_id == payee_id or amount_cents <= 0:
        return 0
    payer = conn.execute(
        select(agents.c.trust_vouched_cents, agents.c.trust_seed).where(
            agents.c.agent_id == payer_id
        )
    ).one()
    forward = _flow(conn, payer_id, payee_id)
    backward = _flow(conn, payee_id, payer_id)
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
    _bump(conn, payee_id, gained)
    _bump(conn, payer_id, payer_delta)
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
