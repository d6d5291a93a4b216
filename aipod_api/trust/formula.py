"""Trust-score formula: a pure, framework-free Bayesian average.

See ``docs/trust.md`` for the plain-words description, the reasoning behind every
default and worked examples. Summary::

    s_i   = (1 - on_time_weight) * (q_i - 1) / 4 + on_time_weight * [on_time_i]
    b_i   = budget_i^k / (budget_i^k + B^k)          (saturating, 0 at budget 0, < 1)
    d_i   = 0.5 ** (age_i / half_life)               (exponential recency decay)
    w_i   = b_i * d_i
    score = (prior * w0 + sum(w_i * s_i)) / (w0 + sum(w_i)), rounded to 4 decimals

Budgets are integer cents (money is never a float); only the dimensionless weights
are floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "DEFAULT_PARAMS",
    "SECONDS_PER_DAY",
    "RatingInput",
    "TrustParams",
    "budget_weight",
    "rating_score",
    "rating_weight",
    "recency_weight",
    "trust_score",
]

SECONDS_PER_DAY = 86_400
MIN_QUALITY = 1.0
MAX_QUALITY = 5.0


@dataclass(frozen=True)
class RatingInput:
    """One rating as the formula sees it."""

    quality_score: Decimal | float  # 1.0-5.0
    on_time: bool
    budget_cents: int  # paid budget of the rated task, in cents, >= 0
    age_seconds: int  # now - rating.created_at; negative (clock skew) counts as 0


@dataclass(frozen=True)
class TrustParams:
    """Every tunable of the formula; see docs/trust.md for why each default."""

    prior: float = 0.5
    """Score of an agent without ratings, and the value small samples shrink toward."""
    prior_weight: float = 2.0
    """Pseudo-count ``w0``: how many full-weight ratings the prior is worth."""
    half_life_seconds: int = 90 * SECONDS_PER_DAY
    """A rating this old counts half as much as a fresh one."""
    budget_half_cents: int = 5_000
    """Budget ``B`` (50 credits) at which a rating gets half of the maximum weight 1."""
    budget_exponent: float = 2.0
    """Steepness ``k`` of the budget curve; ``k > 1`` makes splitting a budget pay less."""
    on_time_weight: float = 0.15
    """Share of a single rating's score given by on-time delivery (rest is quality)."""

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


DEFAULT_PARAMS = TrustParams()


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


def recency_weight(age_seconds: int, params: TrustParams = DEFAULT_PARAMS) -> float:
    """Exponential decay in (0, 1]: 1 for a fresh rating, 0.5 after one half-life."""
    age = max(0, age_seconds)
    return float(0.5 ** (age / params.half_life_seconds))


def rating_weight(r: RatingInput, params: TrustParams = DEFAULT_PARAMS) -> float:
    """Weight ``w_i`` in [0, 1) of one rating: budget weight times recency weight."""
    return budget_weight(r.budget_cents, params) * recency_weight(r.age_seconds, params)


def trust_score(ratings: Sequence[RatingInput], params: TrustParams = DEFAULT_PARAMS) -> float:
    """Bayesian-average trust score in [0, 1], rounded to 4 decimals; no ratings -> prior."""
    weights = [rating_weight(r, params) for r in ratings]
    scores = [rating_score(r, params) for r in ratings]
    weighted = (w * s for w, s in zip(weights, scores, strict=True))
    numerator = math.fsum([params.prior * params.prior_weight, *weighted])
    denominator = math.fsum([params.prior_weight, *weights])
    value = numerator / denominator
    return round(min(1.0, max(0.0, value)), 4)
