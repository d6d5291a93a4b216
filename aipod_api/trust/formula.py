"""Trust-score formula: a pure, framework-free Bayesian average of raters' opinions.

See ``docs/trust.md`` for the plain-words description, the threat model, the reasoning
behind every default and worked examples. Summary::

    s_i   = (1 - on_time_weight) * (q_i - 1) / 4 + on_time_weight * [on_time_i]
    b_i   = budget_i^k / (budget_i^k + B^k)         (saturating, 0 at budget 0, < 1)
    d(a)  = 0.5 ** (a / half_life)                  (exponential recency decay)

    A rater is one voice: all ratings by rater r of the agent form one opinion, dated by
    r's latest rating with a paid budget (age a_r):
    X_r   = sum(b_i * d(a_i - a_r))                 (r's paid volume, as of that rating)
    S_r   = sum(b_i * d(a_i - a_r) * s_i) / X_r     (r's recency-weighted mean score)
    W_r   = g_r * cap(X_r) * d(a_r)                 (the opinion's weight now)
            cap(X) = X up to 1, then rising to rater_cap (4/3) and never beyond
            g_r    = r's standing at that rating (`standing`): 1 for a pre-trusted seed;
                     probation_standing (0.25) while r's account is younger than
                     probation (30 days) or r is the public demo account; otherwise
                     0.25 + 0.75 * min(1, V_r / K): V_r = r's vouched earnings (`vouch`,
                     `settle_flow`: net task pay from payers with earned standing, at
                     most 50 credits per payer), K = 100 credits — age buys nothing more
    score = (prior * w0 + sum(W_r * S_r)) / (w0 + sum(W_r)), rounded to 4 decimals

Every opinion's weight decays from its own date by the same factor, so an agent's score
at any later time follows from two sums kept as of a reference time (`Aggregate`):
``score(t0 + e) = (prior * w0 + f * N) / (w0 + f * D)`` with ``f = 0.5 ** (e / half_life)``
— exactly (`score_at`), which is how reads apply decay without reading ratings.

Budgets are integer cents (money is never a float); only the dimensionless weights are
floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "DEFAULT_PARAMS",
    "SECONDS_PER_DAY",
    "Aggregate",
    "Flow",
    "Opinion",
    "RatingInput",
    "TrustParams",
    "aggregate",
    "budget_weight",
    "earned_standing",
    "next_change",
    "opinion_volume",
    "opinions",
    "rating_score",
    "rating_weight",
    "recency_weight",
    "score_at",
    "settle_flow",
    "standing",
    "trust_score",
    "vouch",
]

SECONDS_PER_DAY = 86_400
MIN_QUALITY = 1.0
MAX_QUALITY = 5.0
SHOWN_DECIMALS = 4
_HALF_STEP = 0.5 * 10.0**-SHOWN_DECIMALS  # half of the last shown decimal: 0.00005
_SAFETY = 1e-9  # next_change aims this far inside the rounding cell (never late)


@dataclass(frozen=True)
class RatingInput:
    """One rating as the formula sees it."""

    quality_score: Decimal | float  # 1.0-5.0
    on_time: bool
    budget_cents: int  # paid budget of the rated task, in cents, >= 0
    age_seconds: int  # now - rating.created_at; negative (clock skew) counts as 0
    rater_id: str  # ratings with the same rater form one opinion
    rater_standing: float = 1.0  # the rater's standing when it rated (see `standing`)


@dataclass(frozen=True)
class TrustParams:
    """Every tunable of the formula; see docs/trust.md for why each default."""

    prior: float = 0.5
    """Score of an agent without ratings, and the value small samples shrink toward."""
    prior_weight: float = 2.0
    """Pseudo-count ``w0``: how many full-weight opinions the prior is worth."""
    half_life_seconds: int = 90 * SECONDS_PER_DAY
    """A rating (an opinion) this old counts half as much as a fresh one."""
    budget_half_cents: int = 5_000
    """Budget ``B`` (50 credits) at which a rating gets half of the maximum weight 1."""
    budget_exponent: float = 2.0
    """Steepness ``k`` of the budget curve; ``k > 1`` makes splitting a budget pay less."""
    on_time_weight: float = 0.15
    """Share of a single rating's score given by on-time delivery (rest is quality)."""
    rater_cap: float = 4.0 / 3.0
    """Most weight one rater's opinion can have, however many ratings it gives; with
    ``w0 = 2`` a single rater can never lift an agent above (1 + 4/3) / (2 + 4/3) = 0.7."""
    probation_seconds: int = 30 * SECONDS_PER_DAY
    """Account age below which a rater is on probation."""
    probation_standing: float = 0.25
    """Standing of a rater that has not earned more (on probation, the public demo
    account, or an account with no vouched earnings): its opinion counts a quarter."""
    vouch_full_cents: int = 10_000
    """Vouched earnings ``K`` (100 credits) at which a rater's standing is full."""
    vouch_pair_cap_cents: int = 5_000
    """Most vouched earnings one payer can give one payee (50 credits): full standing
    needs vouched pay from at least ``K / cap`` = 2 distinct payers."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.prior <= 1.0:
            raise ValueError("prior must be in [0, 1]")
        if not self.prior_weight > 0.0 or not math.isfinite(self.prior_weight):
            raise ValueError("prior_weight must be a positive finite number")
        if self.half_life_seconds <= 0:
            raise ValueError("half_life_seconds must be > 0")
        if self.budget_half_cents <= 0:
            raise ValueError("budget_half_cents must be > 0")
        if not self.budget_exponent > 0.0 or not math.isfinite(self.budget_exponent):
            raise ValueError("budget_exponent must be a positive finite number")
        if not 0.0 <= self.on_time_weight <= 1.0:
            raise ValueError("on_time_weight must be in [0, 1]")
        if not 1.0 <= self.rater_cap < math.inf:
            raise ValueError("rater_cap must be a finite number >= 1")
        if self.probation_seconds < 0:
            raise ValueError("probation_seconds must be >= 0")
        if not 0.0 < self.probation_standing <= 1.0:
            raise ValueError("probation_standing must be in (0, 1]")
        if self.vouch_full_cents <= 0 or self.vouch_pair_cap_cents <= 0:
            raise ValueError("vouch_full_cents and vouch_pair_cap_cents must be > 0")


DEFAULT_PARAMS = TrustParams()


@dataclass(frozen=True)
class Opinion:
    """All ratings of one rater about one agent, as of the rater's latest paid rating."""

    rater_id: str
    score: float  # S_r in [0, 1]
    weight: float  # g_r * cap(X_r), as of its date (not yet decayed), in (0, rater_cap]
    age_seconds: int  # age of the opinion's date (the rater's latest paid rating), >= 0


@dataclass(frozen=True)
class Aggregate:
    """The two sums an agent's score is made of, as of one reference time t0:
    ``n = sum(W_r * S_r)`` and ``d = sum(W_r)`` with every weight decayed to t0."""

    n: float = 0.0
    d: float = 0.0


def rating_score(r: RatingInput, params: TrustParams = DEFAULT_PARAMS) -> float:
    """Score in [0, 1] of a single rating: quality mapped linearly, blended with on-time."""
    q = float(r.quality_score)
    if not (math.isfinite(q) and MIN_QUALITY <= q <= MAX_QUALITY):
        raise ValueError(f"quality_score must be in [1.0, 5.0], got {r.quality_score!r}")
    quality = (q - MIN_QUALITY) / (MAX_QUALITY - MIN_QUALITY)
    punctual = 1.0 if r.on_time else 0.0
    return (1.0 - params.on_time_weight) * quality + params.on_time_weight * punctual


def budget_weight(budget_cents: int, params: TrustParams = DEFAULT_PARAMS) -> float:
    """Saturating weight in [0, 1) of a paid budget: 0 at 0, 0.5 at ``budget_half_cents``."""
    if budget_cents < 0:
        raise ValueError("budget_cents must be >= 0")
    if budget_cents == 0:
        return 0.0
    # Ratio first (int / int, correctly rounded) so the power stays in float range.
    try:
        x = math.pow(budget_cents / params.budget_half_cents, params.budget_exponent)
    except OverflowError:
        return 1.0
    return 1.0 if math.isinf(x) else x / (1.0 + x)


def recency_weight(age_seconds: float, params: TrustParams = DEFAULT_PARAMS) -> float:
    """Exponential decay in (0, 1]: 1 for a fresh rating, 0.5 after one half-life."""
    age = max(0.0, age_seconds)
    return float(0.5 ** (age / params.half_life_seconds))


def rating_weight(r: RatingInput, params: TrustParams = DEFAULT_PARAMS) -> float:
    """Budget weight times recency weight of one rating, in [0, 1)."""
    return budget_weight(r.budget_cents, params) * recency_weight(r.age_seconds, params)


def earned_standing(vouched_cents: int, params: TrustParams = DEFAULT_PARAMS) -> float:
    """The earned part of a rater's standing, in [0, 1]: its vouched earnings (pay for
    tasks from payers who had earned standing themselves, net of what it paid them back;
    see `settle_flow`) over ``vouch_full_cents``, at most 1."""
    if vouched_cents <= 0:
        return 0.0
    return min(1.0, vouched_cents / params.vouch_full_cents)


def standing(
    rater_age_seconds: int,
    params: TrustParams = DEFAULT_PARAMS,
    *,
    public: bool = False,
    seed: bool = False,
    vouched_cents: int = 0,
) -> float:
    """A rater's standing when it rates, in [``probation_standing``, 1]:

    - 1 for a pre-trusted seed (an operator, or the demo data's own agents);
    - ``probation_standing`` for an account anyone may use (the public demo account) and
      while the account is younger than ``probation_seconds``;
    - otherwise ``probation_standing + (1 - probation_standing) * earned``, with
      ``earned = earned_standing(vouched_cents)``: age alone buys nothing above the
      base; standing is earned by being paid by payers who had earned it."""
    if seed:
        return 1.0
    base = params.probation_standing
    if public or rater_age_seconds < params.probation_seconds:
        return base
    return base + (1.0 - base) * earned_standing(vouched_cents, params)


def vouch(
    credit_cents: int,
    payer_vouched_cents: int,
    params: TrustParams = DEFAULT_PARAMS,
    *,
    payer_seed: bool = False,
) -> int:
    """Vouched cents a payment's credit (new net pay, in cents) carries: all of it from a
    seed, ``credit * earned_standing(payer)`` from anyone else (exact integers, rounded
    down) — so money from an account that earned nothing from earners (the signup grant,
    and anything passed around among such accounts) vouches for nothing."""
    if credit_cents <= 0:
        return 0
    if payer_seed or payer_vouched_cents >= params.vouch_full_cents:
        return credit_cents
    return credit_cents * max(0, payer_vouched_cents) // params.vouch_full_cents


@dataclass(frozen=True)
class Flow:
    """The task pay between one ordered pair (payer -> payee), in cents: ``paid`` in
    total, ``credited`` the part of the net flow already credited (<= max(0, net)), and
    ``vouched`` the vouched earnings it gave the payee (<= ``vouch_pair_cap_cents``)."""

    paid: int = 0
    credited: int = 0
    vouched: int = 0


def settle_flow(
    forward: Flow,
    backward: Flow,
    amount_cents: int,
    payer_vouched_cents: int,
    params: TrustParams = DEFAULT_PARAMS,
    *,
    payer_seed: bool = False,
) -> tuple[Flow, Flow, int, int]:
    """A payment of ``amount_cents`` from payer A to payee B, where ``forward`` is the
    A -> B flow and ``backward`` the B -> A flow before it. Returns the new flows and the
    change of B's and of A's vouched earnings ``(forward, backward, dB, dA)``.

    Only the *net* flow counts, and only once: the payment credits the part of the net
    A -> B flow not credited before (so paying back and forth credits nothing new), and
    it shrinks the B -> A flow's credit to what is left of that net flow, taking back
    the vouched earnings A had from B in proportion (A paid back what B paid it)."""
    if amount_cents < 0:
        raise ValueError("amount_cents must be >= 0")
    paid = forward.paid + amount_cents
    net = paid - backward.paid
    credit = max(0, net - forward.credited)
    gained = min(
        max(0, params.vouch_pair_cap_cents - forward.vouched),
        vouch(credit, payer_vouched_cents, params, payer_seed=payer_seed),
    )
    new_forward = Flow(paid, forward.credited + credit, forward.vouched + gained)
    left = max(0, -net)  # what remains of the net B -> A flow
    new_backward = backward
    lost = 0
    if backward.credited > left:
        kept = backward.vouched * left // backward.credited
        lost = backward.vouched - kept
        new_backward = Flow(backward.paid, left, kept)
    return new_forward, new_backward, gained, -lost


def opinion_volume(x: float, params: TrustParams = DEFAULT_PARAMS) -> float:
    """``cap(X)``: an opinion's weight from its paid volume X = sum of budget x recency
    weights. Equal to X up to 1 (one rating weighs what it always did), then rising
    ever more slowly toward ``rater_cap``: never above X, never above the cap, concave,
    with a continuous slope."""
    if x <= 1.0:
        return max(0.0, x)
    room = params.rater_cap - 1.0
    if room <= 0.0:
        return 1.0
    return 1.0 + room * -math.expm1(-(x - 1.0) / room)


def opinions(ratings: Iterable[RatingInput], params: TrustParams = DEFAULT_PARAMS) -> list[Opinion]:
    """One opinion per rater (ratings with no budget weight are ignored altogether)."""
    by_rater: dict[str, list[tuple[float, float, float, float]]] = {}
    for r in ratings:
        score = rating_score(r, params)  # validates every rating, paid or not
        beta = budget_weight(r.budget_cents, params)
        if beta > 0.0:
            item = (float(max(0, r.age_seconds)), beta, score, float(r.rater_standing))
            by_rater.setdefault(r.rater_id, []).append(item)
    result = []
    for rater_id, items in by_rater.items():
        latest = min(age for age, _b, _s, _g in items)
        grade = max(g for age, _b, _s, g in items if age == latest)
        weights = [beta * recency_weight(age - latest, params) for age, beta, _s, _g in items]
        volume = math.fsum(weights)
        if volume <= 0.0:  # every rating decayed to nothing (ages of ~100 half-lives)
            continue
        mean = math.fsum(w * s for w, (_a, _b, s, _g) in zip(weights, items, strict=True))
        score = min(1.0, max(0.0, mean / volume))
        weight = grade * opinion_volume(volume, params)
        result.append(Opinion(rater_id, score, weight, int(latest)))
    return result


def aggregate(ops: Iterable[Opinion], params: TrustParams = DEFAULT_PARAMS) -> Aggregate:
    """The agent's sums N and D as of now (each opinion decayed from its own date)."""
    decayed = [(op.weight * recency_weight(op.age_seconds, params), op.score) for op in ops]
    return Aggregate(
        n=math.fsum(w * s for w, s in decayed),
        d=math.fsum(w for w, _s in decayed),
    )


def score_at(
    agg: Aggregate, elapsed_seconds: float = 0, params: TrustParams = DEFAULT_PARAMS
) -> float:
    """The exact (unrounded) score ``elapsed_seconds`` after the aggregate's reference
    time: every weight has decayed by the same factor f since then."""
    f = recency_weight(elapsed_seconds, params)
    value = (params.prior * params.prior_weight + f * agg.n) / (params.prior_weight + f * agg.d)
    return min(1.0, max(0.0, value))


def trust_score(ratings: Sequence[RatingInput], params: TrustParams = DEFAULT_PARAMS) -> float:
    """Trust score in [0, 1], rounded to 4 decimals; no (paid) ratings -> the prior."""
    return round(score_at(aggregate(opinions(ratings, params), params), 0, params), SHOWN_DECIMALS)


def next_change(
    agg: Aggregate, elapsed_seconds: int, params: TrustParams = DEFAULT_PARAMS
) -> int | None:
    """When the shown (4-decimal) score will first differ from what it is at
    ``elapsed_seconds`` after the aggregate's reference time: a whole number of seconds
    after that reference time, never later than the true moment (so a value stored now
    and refreshed by then is always what an exact computation would show), always
    > ``elapsed_seconds``; None if it never changes (the score only approaches the prior).

    The score moves monotonically toward the prior as weights decay, so it leaves the
    rounding cell of its shown value through the edge on the prior's side, at the decay
    factor ``f* = w0 (b - p) / (N - b D)`` solving ``score(f*) = b``."""
    now = score_at(agg, elapsed_seconds, params)
    shown = round(now, SHOWN_DECIMALS)
    p, w0 = params.prior, params.prior_weight
    if now > p:
        edge = shown - _HALF_STEP + _SAFETY
        if edge <= p:
            return None
    elif now < p:
        edge = shown + _HALF_STEP - _SAFETY
        if edge >= p:
            return None
    else:
        return None
    denominator = agg.n - edge * agg.d
    if denominator == 0.0:
        return None
    f_star = w0 * (edge - p) / denominator
    current = recency_weight(elapsed_seconds, params)
    if not 0.0 < f_star < current:  # already at the edge (float noise): look again soon
        return elapsed_seconds + 1
    when = -params.half_life_seconds * math.log2(f_star)
    return max(elapsed_seconds + 1, math.floor(when))
