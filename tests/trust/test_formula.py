"""Property tests and worked examples for the trust-score formula (docs/trust.md)."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aipod_api.trust.formula import (
    DEFAULT_PARAMS,
    SECONDS_PER_DAY,
    RatingInput,
    TrustParams,
    budget_weight,
    rating_score,
    rating_weight,
    recency_weight,
    trust_score,
)

DAY = SECONDS_PER_DAY
YEAR = 365 * DAY
MAX_BUDGET_CENTS = 100_000_000_000  # 1e9 credits, the contract's upper bound

qualities = st.one_of(
    st.floats(min_value=1.0, max_value=5.0, allow_nan=False),
    st.decimals(min_value=Decimal("1.0"), max_value=Decimal("5.0"), places=1),
)
budgets = st.integers(min_value=0, max_value=MAX_BUDGET_CENTS)
normal_budgets = st.integers(min_value=1_000, max_value=10_000_000)  # 10 .. 100k credits
ages = st.integers(min_value=0, max_value=10 * YEAR)
recent_ages = st.integers(min_value=0, max_value=YEAR)
ratings = st.builds(RatingInput, qualities, st.booleans(), budgets, ages)
rating_lists = st.lists(ratings, max_size=60)


def r(q: float | str, on_time: bool = True, budget: int = 50_000, age: int = 0) -> RatingInput:
    quality: Decimal | float = Decimal(q) if isinstance(q, str) else q
    return RatingInput(quality_score=quality, on_time=on_time, budget_cents=budget, age_seconds=age)


# --- worked examples from docs/trust.md (exact numbers) -------------------------------------


def test_new_agent_is_exactly_the_prior() -> None:
    assert trust_score([]) == 0.5


def test_example_one_five_on_500_credit_task() -> None:
    assert rating_weight(r(5.0)) == pytest.approx(0.990099, abs=1e-6)
    assert trust_score([r(5.0)]) == 0.6656


@pytest.mark.parametrize(
    ("credits", "expected"), [(100, 0.6429), (150, 0.6552), (200, 0.66), (1_000, 0.6664)]
)
def test_example_one_five_on_demo_sized_tasks(credits: int, expected: float) -> None:
    assert trust_score([r(5.0, budget=credits * 100)]) == expected


def test_example_one_late_five() -> None:
    assert trust_score([r(5.0, on_time=False)]) == 0.6159


def test_example_fifty_4_9_beat_one_5_0() -> None:
    assert rating_score(r("4.9")) == pytest.approx(0.97875)
    assert trust_score([r("4.9")] * 50) == 0.9602
    assert trust_score([r(5.0)]) == 0.6656


@pytest.mark.parametrize(("n", "expected"), [(2, 0.7488), (5, 0.8561), (10, 0.916), (50, 0.9806)])
def test_example_several_fives(n: int, expected: float) -> None:
    assert trust_score([r(5.0)] * n) == expected


def test_example_fifty_late_4_9_still_beat_one_on_time_5_0() -> None:
    assert trust_score([r("4.9", on_time=False)] * 50) == 0.816


def test_example_huge_budget_does_not_dominate() -> None:
    ratings = [r(1.0, budget=10_000)] * 10 + [r(5.0, budget=MAX_BUDGET_CENTS)]
    assert trust_score(ratings) == 0.2909
    assert trust_score([r(5.0, budget=MAX_BUDGET_CENTS)]) == 0.6667
    assert trust_score([r(1.0, on_time=False, budget=MAX_BUDGET_CENTS)]) == 0.3333


def test_example_self_dealing_100_ratings_on_one_cent_tasks() -> None:
    assert budget_weight(1) == pytest.approx(4e-8)
    assert trust_score([r(5.0, budget=1)] * 100) == 0.5
    assert trust_score([r(5.0, budget=0)] * 1000) == 0.5
    assert trust_score([r(5.0, budget=100)] * 100) == 0.5098  # 1-credit tasks


def test_example_year_old_rating() -> None:
    assert recency_weight(YEAR) == pytest.approx(0.060139, abs=1e-6)
    assert recency_weight(90 * DAY) == 0.5
    assert rating_weight(r(5.0, age=YEAR)) == pytest.approx(0.059544, abs=1e-6)
    assert trust_score([r(5.0, age=YEAR)]) == 0.5145
    assert trust_score([r(5.0, age=90 * DAY)]) == 0.5992


def test_decimal_and_float_quality_agree() -> None:
    assert trust_score([r("4.9")] * 3) == trust_score([r(4.9)] * 3)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.99, 5.01, math.nan, math.inf])
def test_out_of_range_quality_is_rejected(q: float) -> None:
    with pytest.raises(ValueError):
        trust_score([r(q)])


def test_negative_budget_is_rejected() -> None:
    with pytest.raises(ValueError):
        trust_score([r(5.0, budget=-1)])


def test_negative_age_counts_as_fresh() -> None:
    assert trust_score([r(5.0, age=-10)]) == trust_score([r(5.0, age=0)])


@pytest.mark.parametrize(
    "changes",
    [
        {"prior": 1.5},
        {"prior_weight": 0.0},
        {"half_life_seconds": 0},
        {"budget_half_cents": 0},
        {"budget_exponent": 0.0},
        {"on_time_weight": -0.1},
    ],
)
def test_invalid_params_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(DEFAULT_PARAMS, **changes)


# --- properties ------------------------------------------------------------------------------


@given(rating_lists)
def test_bounds_and_four_decimals(rs: list[RatingInput]) -> None:
    score = trust_score(rs)
    assert 0.0 <= score <= 1.0
    assert score == round(score, 4)


@given(ratings)
def test_single_rating_parts_are_bounded(x: RatingInput) -> None:
    assert 0.0 <= rating_score(x) <= 1.0
    assert 0.0 <= rating_weight(x) <= 1.0


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.01, max_value=100.0))
def test_no_ratings_gives_the_configured_prior(prior: float, w0: float) -> None:
    params = TrustParams(prior=prior, prior_weight=w0)
    assert trust_score([], params) == round(prior, 4)


@given(st.lists(ratings, min_size=1, max_size=60))
def test_score_lies_between_prior_and_weighted_mean(rs: list[RatingInput]) -> None:
    weights = [rating_weight(x) for x in rs]
    assume(sum(weights) > 0)
    mean = sum(w * rating_score(x) for w, x in zip(weights, rs, strict=True)) / sum(weights)
    lo, hi = min(0.5, mean), max(0.5, mean)
    assert lo - 5e-5 <= trust_score(rs) <= hi + 5e-5


@given(ratings)
def test_one_rating_moves_at_most_a_third_of_the_way(x: RatingInput) -> None:
    # weight <= 1 and prior weight 2: a single rating is shrunk by at least 2/3.
    gap = abs(trust_score([x]) - 0.5)
    assert gap <= abs(rating_score(x) - 0.5) / 3 + 5e-5


@given(qualities, st.booleans(), normal_budgets, recent_ages, st.integers(1, 30))
def test_more_identical_ratings_move_further_from_prior(
    q: Decimal | float, on_time: bool, budget: int, age: int, n: int
) -> None:
    x = RatingInput(q, on_time, budget, age)
    assert abs(trust_score([x] * (n + 1)) - 0.5) >= abs(trust_score([x] * n) - 0.5)


@given(budgets, ages, st.booleans(), st.booleans())
def test_one_five_never_beats_fifty_4_9(
    budget: int, age: int, one_on_time: bool, fifty_on_time: bool
) -> None:
    one = trust_score([RatingInput(Decimal("5.0"), one_on_time, budget, age)])
    fifty = trust_score([RatingInput(Decimal("4.9"), fifty_on_time, budget, age)] * 50)
    assert one <= fifty
    if budget >= 1_000 and age <= YEAR:
        assert one < fifty


@given(
    st.integers(10_000, MAX_BUDGET_CENTS), st.integers(0, 90 * DAY), st.booleans(), st.booleans()
)
def test_fifty_4_9_is_far_ahead_on_paid_recent_tasks(
    budget: int, age: int, one_on_time: bool, fifty_on_time: bool
) -> None:
    # tasks paid >= 100 credits, rated within one half-life
    one = trust_score([RatingInput(Decimal("5.0"), one_on_time, budget, age)])
    fifty = trust_score([RatingInput(Decimal("4.9"), fifty_on_time, budget, age)] * 50)
    assert fifty - one >= 0.14


@given(ages, st.integers(1, 10 * YEAR))
def test_recency_weight_decays_with_age(a: int, delta: int) -> None:
    b = a + delta
    assert recency_weight(a) > recency_weight(b) or recency_weight(b) == 0.0
    assert recency_weight(0) == 1.0
    assert recency_weight(a + 90 * DAY) == pytest.approx(recency_weight(a) / 2)


@given(
    st.floats(1.0, 4.0),
    st.floats(0.01, 4.0),
    normal_budgets,
    recent_ages,
    st.integers(1, YEAR),
)
def test_recent_ratings_weigh_more(
    q_lo: float, q_gap: float, budget: int, young: int, age_gap: int
) -> None:
    q_hi, old = min(5.0, q_lo + q_gap), young + age_gap
    newer_good = [RatingInput(q_hi, True, budget, young), RatingInput(q_lo, True, budget, old)]
    newer_bad = [RatingInput(q_hi, True, budget, old), RatingInput(q_lo, True, budget, young)]
    assert trust_score(newer_good) >= trust_score(newer_bad)


def test_recent_ratings_weigh_more_example() -> None:
    good_is_new = [r(5.0, age=0), r(1.0, age=YEAR)]
    bad_is_new = [r(5.0, age=YEAR), r(1.0, age=0)]
    assert trust_score(good_is_new) == 0.6555
    assert trust_score(bad_is_new) == 0.3961


@given(qualities, st.booleans(), normal_budgets, recent_ages, st.integers(1, 5 * YEAR))
def test_an_older_single_rating_moves_the_score_less(
    q: Decimal | float, on_time: bool, budget: int, age: int, extra: int
) -> None:
    fresh = abs(trust_score([RatingInput(q, on_time, budget, age)]) - 0.5)
    old = abs(trust_score([RatingInput(q, on_time, budget, age + extra)]) - 0.5)
    assert old <= fresh


@given(budgets, budgets)
def test_budget_weight_is_monotone_and_bounded(x: int, y: int) -> None:
    a, b = sorted((x, y))
    assert 0.0 <= budget_weight(a) <= budget_weight(b) <= 1.0
    assert budget_weight(0) == 0.0
    assert budget_weight(5_000) == 0.5


@given(st.lists(ratings, max_size=20), st.booleans(), ages)
def test_zero_budget_ratings_never_move_the_score(
    rs: list[RatingInput], on_time: bool, age: int
) -> None:
    spam = [RatingInput(5.0, on_time, 0, age)] * 50
    assert trust_score(rs + spam) == trust_score(rs)


@given(st.integers(1, 100), st.integers(0, 100), recent_ages)
def test_self_dealing_on_tiny_tasks_barely_moves(n: int, budget: int, age: int) -> None:
    # up to 100 perfect ratings on tasks paid at most 1 credit (100 cents)
    assert trust_score([RatingInput(5.0, True, budget, age)] * n) <= 0.51


@given(st.integers(2_700, MAX_BUDGET_CENTS))
def test_one_fresh_on_time_five_on_a_paid_task_visibly_raises(budget: int) -> None:
    assert trust_score([RatingInput(5.0, True, budget, 0)]) >= 0.55


@given(st.integers(0, MAX_BUDGET_CENTS), ages, st.booleans())
def test_a_huge_budget_cannot_dominate(budget: int, age: int, on_time: bool) -> None:
    assert budget_weight(budget) <= 1.0
    # one perfect rating, whatever its budget, stays below (0.5*2 + 1) / 3
    assert trust_score([RatingInput(5.0, on_time, budget, age)]) <= 0.6667
    # and ten 1.0 ratings on ordinary 100-credit tasks outweigh it
    bad = [RatingInput(1.0, True, 10_000, 0)] * 10
    assert trust_score([*bad, RatingInput(5.0, True, budget, 0)]) < 0.5


@settings(max_examples=300)
@given(rating_lists, ratings)
def test_monotone_in_an_added_rating(rs: list[RatingInput], new: RatingInput) -> None:
    before = trust_score(rs)
    after = trust_score([*rs, new])
    s = rating_score(new)
    if s >= before:
        assert after >= before
    if s <= before:
        assert after <= before


@given(rating_lists, qualities, normal_budgets, recent_ages)
def test_monotone_in_quality(
    rs: list[RatingInput], q: Decimal | float, budget: int, age: int
) -> None:
    higher = min(5.0, float(q) + 0.5)
    lo = trust_score([*rs, RatingInput(q, True, budget, age)])
    hi = trust_score([*rs, RatingInput(higher, True, budget, age)])
    assert hi >= lo


@given(rating_lists, qualities, budgets, ages)
def test_late_scores_lower_than_on_time(
    rs: list[RatingInput], q: Decimal | float, budget: int, age: int
) -> None:
    on_time = RatingInput(q, True, budget, age)
    late = RatingInput(q, False, budget, age)
    assert rating_score(on_time) - rating_score(late) == pytest.approx(0.15)
    assert trust_score([*rs, on_time]) >= trust_score([*rs, late])


@given(qualities, normal_budgets, recent_ages)
def test_late_is_strictly_lower_on_a_paid_recent_task(
    q: Decimal | float, budget: int, age: int
) -> None:
    on_time = trust_score([RatingInput(q, True, budget, age)])
    late = trust_score([RatingInput(q, False, budget, age)])
    assert on_time > late
