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
    Aggregate,
    Flow,
    RatingInput,
    TrustParams,
    aggregate,
    budget_weight,
    next_change,
    opinion_volume,
    opinions,
    rating_score,
    rating_weight,
    recency_weight,
    score_at,
    settle_flow,
    standing,
    trust_score,
    vouch,
)

DAY = SECONDS_PER_DAY
YEAR = 365 * DAY
MAX_BUDGET_CENTS = 100_000_000_000  # 1e9 credits, the contract's upper bound
PROBATION = DEFAULT_PARAMS.probation_standing  # 0.25
HONEST_REFERENCE = 0.85  # the honest agent reaches at least this

qualities = st.one_of(
    st.floats(min_value=1.0, max_value=5.0, allow_nan=False),
    st.decimals(min_value=Decimal("1.0"), max_value=Decimal("5.0"), places=1),
)
budgets = st.integers(min_value=0, max_value=MAX_BUDGET_CENTS)
normal_budgets = st.integers(min_value=1_000, max_value=10_000_000)  # 10 .. 100k credits
ages = st.integers(min_value=0, max_value=10 * YEAR)
recent_ages = st.integers(min_value=0, max_value=YEAR)
raters = st.sampled_from(["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"])
standings = st.sampled_from([PROBATION, 1.0])
ratings = st.builds(RatingInput, qualities, st.booleans(), budgets, ages, raters, standings)
rating_lists = st.lists(ratings, max_size=60)


def r(
    q: float | str,
    on_time: bool = True,
    budget: int = 50_000,
    age: int = 0,
    rater: str = "a",
    standing: float = 1.0,
) -> RatingInput:
    quality: Decimal | float = Decimal(q) if isinstance(q, str) else q
    return RatingInput(quality, on_time, budget, age, rater, standing)


def distinct(*items: RatingInput) -> list[RatingInput]:
    """The same ratings, each from its own rater."""
    return [replace(x, rater_id=f"distinct{i}") for i, x in enumerate(items)]


def exact(rs: list[RatingInput], elapsed: int = 0) -> float:
    return score_at(aggregate(opinions(rs)), elapsed)


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


def test_example_one_five_from_a_rater_on_probation() -> None:
    assert trust_score([r(5.0, standing=PROBATION)]) == 0.5551
    assert trust_score([r(5.0, budget=10_000, standing=PROBATION)]) == 0.5455


def test_example_fifty_4_9_beat_one_5_0() -> None:
    assert rating_score(r("4.9")) == pytest.approx(0.97875)
    assert trust_score(distinct(*[r("4.9")] * 50)) == 0.9602
    # fifty 4.9s from a single rater are one voice, and still beat one 5.0
    assert trust_score([r("4.9")] * 50) == 0.6915
    assert trust_score([r(5.0)]) == 0.6656
    # punctuality is part of each opinion: one publisher's fifty late 4.9s are one voice
    assert trust_score([r("4.9", on_time=False)] * 50) == 0.6315
    assert trust_score([r(5.0, budget=8_000)]) == 0.6322


@pytest.mark.parametrize(("n", "expected"), [(2, 0.7488), (5, 0.8561), (10, 0.916), (50, 0.9806)])
def test_example_several_fives_from_distinct_raters(n: int, expected: float) -> None:
    assert trust_score(distinct(*[r(5.0)] * n)) == expected


@pytest.mark.parametrize(("n", "expected"), [(1, 0.6656), (2, 0.6984), (3, 0.6999), (200, 0.7)])
def test_example_a_rater_is_one_voice(n: int, expected: float) -> None:
    assert trust_score([r(5.0)] * n) == expected


def test_example_fifty_late_4_9_still_beat_one_on_time_5_0() -> None:
    assert trust_score(distinct(*[r("4.9", on_time=False)] * 50)) == 0.816


def test_example_huge_budget_does_not_dominate() -> None:
    ratings = distinct(*[r(1.0, budget=10_000)] * 10, r(5.0, budget=MAX_BUDGET_CENTS))
    assert trust_score(ratings) == 0.2909
    assert trust_score([r(5.0, budget=MAX_BUDGET_CENTS)]) == 0.6667
    assert trust_score([r(1.0, on_time=False, budget=MAX_BUDGET_CENTS)]) == 0.3333


def test_example_self_dealing_100_ratings_on_one_cent_tasks() -> None:
    assert budget_weight(1) == pytest.approx(4e-8)
    assert trust_score([r(5.0, budget=1)] * 100) == 0.5
    assert trust_score([r(5.0, budget=0)] * 1000) == 0.5
    assert trust_score([r(5.0, budget=100)] * 100) == 0.5098  # 1-credit tasks
    assert trust_score(distinct(*[r(5.0, budget=100)] * 100)) == 0.5098


def test_example_year_old_rating() -> None:
    assert recency_weight(YEAR) == pytest.approx(0.060139, abs=1e-6)
    assert recency_weight(90 * DAY) == 0.5
    assert rating_weight(r(5.0, age=YEAR)) == pytest.approx(0.059544, abs=1e-6)
    assert trust_score([r(5.0, age=YEAR)]) == 0.5145
    assert trust_score([r(5.0, age=90 * DAY)]) == 0.5992


def test_example_attacks_and_reference() -> None:
    # the honest agent: 19 established publishers, 200-credit tasks, 4.0 .. 5.0
    honest = distinct(*[r(round(4.0 + i / 18, 2), budget=20_000) for i in range(19)])
    assert trust_score(honest) == 0.8541
    # a pair trading 1000-credit tasks for 200 rounds: each is rated by the other only
    assert trust_score([r(5.0, budget=100_000, standing=PROBATION)] * 200) == 0.5714
    assert trust_score([r(5.0, budget=100_000)] * 200) == 0.7  # even established: <= 0.7
    # a ring of 10 fresh accounts, one round, then 30 rounds
    ring = [r(5.0, budget=10_000, rater=f"s{i}", standing=PROBATION) for i in range(10)]
    assert trust_score(ring) == 0.75
    assert trust_score(ring * 30) == 0.8125


def test_decimal_and_float_quality_agree() -> None:
    assert trust_score([r("4.9")] * 3) == trust_score([r(4.9)] * 3)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.99, 5.01, math.nan, math.inf])
def test_out_of_range_quality_is_rejected(q: float) -> None:
    with pytest.raises(ValueError):
        trust_score([r(q)])
    with pytest.raises(ValueError):  # even on an unpaid task, which otherwise counts nothing
        trust_score([r(q, budget=0)])


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
        {"rater_cap": 0.9},
        {"rater_cap": math.inf},
        {"probation_seconds": -1},
        {"probation_standing": 0.0},
        {"probation_standing": 1.5},
    ],
)
def test_invalid_params_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(DEFAULT_PARAMS, **changes)


# --- standing and one voice per rater --------------------------------------------------------


@given(st.integers(0, 10 * YEAR), st.integers(-10, 10**9))
def test_standing_is_earned_not_aged(age: int, vouched: int) -> None:
    earned = min(1.0, max(0, vouched) / 10_000)
    grade = standing(age, vouched_cents=vouched)
    # probation for thirty days, then the base plus what was earned: age alone buys nothing
    assert grade == (PROBATION if age < 30 * DAY else PROBATION + (1 - PROBATION) * earned)
    assert standing(age) == PROBATION  # earned nothing: the base, however old
    assert PROBATION <= grade <= 1.0
    assert standing(age, public=True, vouched_cents=vouched) == PROBATION  # the demo account
    assert standing(age, seed=True) == 1.0  # a pre-trusted seed, from the start
    assert standing(30 * DAY, vouched_cents=10_000) == 1.0
    assert standing(30 * DAY, vouched_cents=5_000) == 0.625


@given(st.floats(0.0, 1e6, allow_nan=False), st.floats(0.0, 1e6, allow_nan=False))
def test_opinion_volume_is_capped_concave_and_never_amplifies(x: float, y: float) -> None:
    lo, hi = sorted((x, y))
    cap = DEFAULT_PARAMS.rater_cap
    assert opinion_volume(lo) <= opinion_volume(hi) <= cap
    assert opinion_volume(x) <= x + 1e-12
    if x <= 1.0:
        assert opinion_volume(x) == x
    if 0 < lo < hi:  # concave through 0: volume / x never increases
        assert opinion_volume(hi) / hi <= opinion_volume(lo) / lo + 1e-12


@given(
    st.lists(
        st.builds(RatingInput, qualities, st.booleans(), budgets, ages, st.just("one"), standings),
        min_size=1,
        max_size=200,
    )
)
def test_one_rater_moves_at_most_two_fifths_of_the_way(rs: list[RatingInput]) -> None:
    # (a) a rater is one voice: weight <= 4/3 against the prior's 2, whatever it rates
    score = exact(rs)
    assert abs(score - 0.5) <= 0.4 * 0.5 + 1e-12
    assert trust_score(rs) <= 0.7


@given(st.lists(st.tuples(budgets, st.booleans()), min_size=1, max_size=200))
def test_pair_trading_back_and_forth_never_passes_0_7(rounds: list[tuple[int, bool]]) -> None:
    # (a) two accounts rate each other after every task, at any budgets, for <= 200
    # rounds (established or not): each one's score comes from the other's opinion alone
    for grade in (PROBATION, 1.0):
        a = [
            r(5.0, on_time=t, budget=b, age=i, rater="b", standing=grade)
            for i, (b, t) in enumerate(rounds)
        ]
        assert trust_score(a) <= 0.7
        if grade == PROBATION:
            assert trust_score(a) <= 0.5715


@settings(max_examples=200)
@given(
    st.lists(
        st.lists(st.tuples(budgets, recent_ages, qualities), min_size=1, max_size=30),
        min_size=1,
        max_size=10,
    )
)
def test_ring_of_ten_fresh_accounts_stays_below_the_honest_agent(
    ring: list[list[tuple[int, int, Decimal | float]]],
) -> None:
    # (b) up to 10 accounts on probation rating one target, any number of times each
    rs = [
        r(q, budget=b, age=a, rater=f"sybil{i}", standing=PROBATION)
        for i, jobs in enumerate(ring)
        for b, a, q in jobs
    ]
    assert trust_score(rs) <= 0.8125 < HONEST_REFERENCE


@settings(max_examples=200)
@given(
    st.lists(st.decimals(Decimal("4.0"), Decimal("5.0"), places=2), min_size=19, max_size=19),
    st.integers(15_000, MAX_BUDGET_CENTS),
    st.integers(0, DAY),
)
def test_honest_agent_with_19_established_publishers_reaches_0_85(
    qs: list[Decimal], budget: int, age: int
) -> None:
    # (b) 19 distinct established publishers, one on-time 4.0-5.0 rating each on a task
    # of >= 150 credits; averaging 4.5 or more (the agent) reaches 0.85
    assume(sum(qs) / 19 >= Decimal("4.5"))
    honest = distinct(*[r(q, budget=budget, age=age) for q in qs])
    assert trust_score(honest) >= HONEST_REFERENCE


def test_a_ring_gains_nothing_from_more_ratings_per_account_beyond_the_cap() -> None:
    ring = [r(5.0, budget=100_000, rater=f"s{i}", standing=PROBATION) for i in range(10)]
    assert trust_score(ring * 5) == trust_score(ring * 500) == 0.8125
    # accounts that waited out probation weigh fully: what time buys (docs/trust.md)
    # accounts that waited out probation but earned nothing weigh the same (the aged ring)
    aged = [replace(x, rater_standing=standing(31 * DAY)) for x in ring]
    assert trust_score(aged * 500) == 0.8125
    # ten accounts with full *earned* standing weigh fully: what real earnings buy (the
    # limit of a ring that got them: docs/trust.md, threat model)
    earned = [replace(x, rater_standing=standing(31 * DAY, vouched_cents=10_000)) for x in ring]
    assert trust_score(earned * 500) == 0.9348


@settings(max_examples=200)
@given(
    st.lists(
        st.lists(st.tuples(budgets, recent_ages, qualities), min_size=1, max_size=30),
        min_size=1,
        max_size=10,
    ),
    st.lists(st.integers(0, 20 * YEAR), min_size=10, max_size=10),
)
def test_a_ring_that_waited_any_time_stays_below_the_honest_agent(
    ring: list[list[tuple[int, int, Decimal | float]]], account_ages: list[int]
) -> None:
    # (b) the aged ring: up to 10 accounts of any age that earned nothing, any ratings
    rs = [
        r(q, budget=b, age=a, rater=f"sybil{i}", standing=standing(account_ages[i]))
        for i, jobs in enumerate(ring)
        for b, a, q in jobs
    ]
    assert trust_score(rs) <= 0.8125 < HONEST_REFERENCE


# --- earned standing: vouched earnings along net task pay ------------------------------------

payments = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 200_000)), max_size=120
)


def _run_payments(
    moves: list[tuple[int, int, int]], seeds: frozenset[int] = frozenset()
) -> tuple[dict[tuple[int, int], Flow], dict[int, int]]:
    """What trust/standing.py stores, in memory: every payment through `settle_flow`."""
    flows: dict[tuple[int, int], Flow] = {}
    vouched = dict.fromkeys(range(10), 0)
    for payer, payee, amount in moves:
        if payer == payee:
            continue
        fwd, back, gained, payer_delta = settle_flow(
            flows.get((payer, payee), Flow()),
            flows.get((payee, payer), Flow()),
            amount,
            vouched[payer],
            payer_seed=payer in seeds,
        )
        flows[(payer, payee)], flows[(payee, payer)] = fwd, back
        vouched[payee] += gained
        vouched[payer] += payer_delta
    return flows, vouched


@given(payments)
def test_money_passed_around_a_ring_that_earned_nothing_vouches_for_nothing(
    moves: list[tuple[int, int, int]],
) -> None:
    # the manufactured-earnings attack: ten accounts whose only money is their signup
    # grant pay each other in any pattern (cycles, pairs back and forth, any amounts)
    _flows, vouched = _run_payments(moves)
    assert all(v == 0 for v in vouched.values())
    assert all(standing(31 * DAY, vouched_cents=v) == PROBATION for v in vouched.values())


@given(payments, st.frozensets(st.integers(0, 9), max_size=3))
def test_vouched_earnings_count_only_the_net_flow_once(
    moves: list[tuple[int, int, int]], seeds: frozenset[int]
) -> None:
    flows, vouched = _run_payments(moves, seeds)
    cap = DEFAULT_PARAMS.vouch_pair_cap_cents
    for (payer, payee), flow in flows.items():
        net = flow.paid - flows.get((payee, payer), Flow()).paid
        # never more than the net flow, credited once, and at most the pair cap
        assert 0 <= flow.vouched <= flow.credited <= max(0, net)
        assert flow.vouched <= cap
    for agent, total in vouched.items():  # what an agent has is what its payers gave it
        assert total == sum(f.vouched for (_p, payee), f in flows.items() if payee == agent)
        assert total <= cap * 9


def test_paying_back_and_forth_with_a_seed_vouches_once() -> None:
    rounds = [(0, 1, 5_000), (1, 0, 5_000)] * 50
    flows, vouched = _run_payments(rounds, frozenset({0}))
    assert vouched[1] == 0  # paid it all back
    flows, vouched = _run_payments([*rounds, (0, 1, 5_000)], frozenset({0}))
    assert vouched[1] == 5_000 and flows[(0, 1)].credited == 5_000


def test_vouch_is_exact_and_weighted_by_the_payers_standing() -> None:
    assert vouch(10_000, 0) == 0  # a payer that earned nothing vouches for nothing
    assert vouch(10_000, 0, payer_seed=True) == 10_000
    assert vouch(10_000, 2_500) == 2_500  # a quarter of full standing: a quarter
    assert vouch(3, 3_333) == 0  # rounded down, integers only
    assert vouch(10_000, 10**12) == 10_000
    assert vouch(-5, 10_000) == 0


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
def test_score_lies_between_prior_and_the_opinions_weighted_mean(rs: list[RatingInput]) -> None:
    ops = opinions(rs)
    weights = [o.weight * recency_weight(o.age_seconds) for o in ops]
    assume(sum(weights) > 0)
    mean = sum(w * o.score for w, o in zip(weights, ops, strict=True)) / sum(weights)
    lo, hi = min(0.5, mean), max(0.5, mean)
    assert lo - 1e-12 <= exact(rs) <= hi + 1e-12
    # and each opinion's score lies within its rater's rating scores
    for o in ops:
        own = [rating_score(x) for x in rs if x.rater_id == o.rater_id and x.budget_cents > 0]
        assert min(own) - 1e-12 <= o.score <= max(own) + 1e-12


@given(ratings)
def test_one_rating_moves_at_most_a_third_of_the_way(x: RatingInput) -> None:
    # weight <= 1 and prior weight 2: a single rating is shrunk by at least 2/3.
    gap = abs(trust_score([x]) - 0.5)
    assert gap <= abs(rating_score(x) - 0.5) / 3 + 5e-5


@given(qualities, st.booleans(), normal_budgets, recent_ages, standings, st.integers(1, 30))
def test_more_identical_ratings_move_further_from_prior(
    q: Decimal | float, on_time: bool, budget: int, age: int, grade: float, n: int
) -> None:
    x = RatingInput(q, on_time, budget, age, "x", grade)
    for many, more in (([x] * n, [x] * (n + 1)), (distinct(*[x] * n), distinct(*[x] * (n + 1)))):
        assert abs(trust_score(more) - 0.5) >= abs(trust_score(many) - 0.5)


@given(budgets, ages, st.booleans(), st.booleans(), standings)
def test_one_five_never_beats_fifty_4_9(
    budget: int, age: int, one_on_time: bool, fifty_on_time: bool, grade: float
) -> None:
    one = trust_score([RatingInput(Decimal("5.0"), one_on_time, budget, age, "one", grade)])
    x = RatingInput(Decimal("4.9"), fifty_on_time, budget, age, "many", grade)
    # fifty raters: whatever each delivery's punctuality
    fifty = trust_score(distinct(*[x] * 50))
    assert one <= fifty
    if budget >= 1_000 and age <= YEAR:
        assert one < fifty
    # one rater's fifty ratings are one voice: they still beat one 5.0 delivered the same
    # way (a publisher's fifty late deliveries are one late-ish opinion, which an on-time
    # 5.0 from another publisher may beat: docs/trust.md)
    if one_on_time == fifty_on_time:
        fifty = trust_score([x] * 50)
        assert one <= fifty
        if budget >= 1_000 and age <= YEAR:
            assert one < fifty


@given(
    st.integers(10_000, MAX_BUDGET_CENTS), st.integers(0, 90 * DAY), st.booleans(), st.booleans()
)
def test_fifty_4_9_from_fifty_raters_are_far_ahead_on_paid_recent_tasks(
    budget: int, age: int, one_on_time: bool, fifty_on_time: bool
) -> None:
    # tasks paid >= 100 credits, rated within one half-life
    one = trust_score([RatingInput(Decimal("5.0"), one_on_time, budget, age, "one")])
    x = RatingInput(Decimal("4.9"), fifty_on_time, budget, age, "many")
    assert trust_score(distinct(*[x] * 50)) - one >= 0.14


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
    st.booleans(),
)
def test_recent_ratings_weigh_more(
    q_lo: float, q_gap: float, budget: int, young: int, age_gap: int, same_rater: bool
) -> None:
    q_hi, old = min(5.0, q_lo + q_gap), young + age_gap
    second = "a" if same_rater else "b"
    newer_good = [r(q_hi, budget=budget, age=young), r(q_lo, budget=budget, age=old, rater=second)]
    newer_bad = [r(q_hi, budget=budget, age=old), r(q_lo, budget=budget, age=young, rater=second)]
    assert trust_score(newer_good) >= trust_score(newer_bad)


def test_recent_ratings_weigh_more_example() -> None:
    good_is_new = [r(5.0, age=0), r(1.0, age=YEAR, rater="b")]
    bad_is_new = [r(5.0, age=YEAR), r(1.0, age=0, rater="b")]
    assert trust_score(good_is_new) == 0.6555
    assert trust_score(bad_is_new) == 0.3961
    # within one rater's opinion too
    assert trust_score([r(5.0, age=0), r(1.0, age=YEAR)]) == 0.6552
    assert trust_score([r(5.0, age=YEAR), r(1.0, age=0)]) == 0.3964


@given(qualities, st.booleans(), normal_budgets, recent_ages, st.integers(1, 5 * YEAR))
def test_an_older_single_rating_moves_the_score_less(
    q: Decimal | float, on_time: bool, budget: int, age: int, extra: int
) -> None:
    fresh = abs(trust_score([RatingInput(q, on_time, budget, age, "a")]) - 0.5)
    old = abs(trust_score([RatingInput(q, on_time, budget, age + extra, "a")]) - 0.5)
    assert old <= fresh


@given(budgets, budgets)
def test_budget_weight_is_monotone_and_bounded(x: int, y: int) -> None:
    a, b = sorted((x, y))
    assert 0.0 <= budget_weight(a) <= budget_weight(b) <= 1.0
    assert budget_weight(0) == 0.0
    assert budget_weight(5_000) == 0.5


@given(st.lists(ratings, max_size=20), st.booleans(), ages, raters)
def test_zero_budget_ratings_never_move_the_score(
    rs: list[RatingInput], on_time: bool, age: int, rater: str
) -> None:
    # not even by refreshing the date of an existing rater's opinion
    spam = [RatingInput(5.0, on_time, 0, age, rater)] * 50
    assert trust_score(rs + spam) == trust_score(rs)
    assert exact(rs + spam) == exact(rs)


@given(
    st.lists(
        st.tuples(st.integers(0, 100), recent_ages, raters, standings), min_size=1, max_size=100
    )
)
def test_self_dealing_on_tiny_tasks_barely_moves(jobs: list[tuple[int, int, str, float]]) -> None:
    # up to 100 perfect ratings on tasks paid at most 1 credit (100 cents), however split
    rs = [RatingInput(5.0, True, budget, age, rater, grade) for budget, age, rater, grade in jobs]
    assert trust_score(rs) <= 0.51


@given(st.integers(2_700, MAX_BUDGET_CENTS))
def test_one_fresh_on_time_five_on_a_paid_task_visibly_raises(budget: int) -> None:
    assert trust_score([RatingInput(5.0, True, budget, 0, "a")]) >= 0.55
    if budget >= 10_000:  # a rater on probation, on a task of 100 credits or more
        assert trust_score([RatingInput(5.0, True, budget, 0, "a", PROBATION)]) >= 0.545


@given(st.integers(0, MAX_BUDGET_CENTS), ages, st.booleans())
def test_a_huge_budget_cannot_dominate(budget: int, age: int, on_time: bool) -> None:
    assert budget_weight(budget) <= 1.0
    # one perfect rating, whatever its budget, stays below (0.5*2 + 1) / 3
    assert trust_score([RatingInput(5.0, on_time, budget, age, "a")]) <= 0.6667
    # and ten 1.0 ratings on ordinary 100-credit tasks from ten raters outweigh it
    bad = distinct(*[RatingInput(1.0, True, 10_000, 0, "")] * 10)
    assert trust_score([*bad, RatingInput(5.0, True, budget, 0, "a")]) < 0.5


@settings(max_examples=300)
@given(rating_lists, ratings)
def test_monotone_in_an_added_opinion(rs: list[RatingInput], new: RatingInput) -> None:
    before = trust_score(rs)
    new = replace(new, rater_id="a rater not seen before")
    after = trust_score([*rs, new])
    s = rating_score(new)
    if s >= before:
        assert after >= before
    if s <= before:
        assert after <= before


@settings(max_examples=300)
@given(rating_lists, ratings)
def test_a_new_rating_renews_its_raters_opinion(rs: list[RatingInput], new: RatingInput) -> None:
    # an existing rater rates again, as its latest rating, with its standing unchanged (a
    # rater that gains standing amplifies its opinion, for better or worse)
    assume(rs)
    who, grade = rs[0].rater_id, rs[0].rater_standing
    rs = [replace(x, rater_standing=grade) if x.rater_id == who else x for x in rs]
    new = replace(new, rater_id=who, age_seconds=0, rater_standing=grade)
    assume(new.budget_cents > 0)
    old = {o.rater_id: o for o in opinions(rs)}
    renewed = {o.rater_id: o for o in opinions([*rs, new])}
    mine = renewed[who]
    s = rating_score(new)
    if who in old:
        before = old[who]
        # its opinion moves toward the new rating, and weighs at least what it did
        lo, hi = sorted((before.score, s))
        assert lo - 1e-12 <= mine.score <= hi + 1e-12
        assert mine.weight >= before.weight * recency_weight(before.age_seconds) - 1e-12
        # so a rating at least as good as the rater's earlier ones, from a rater whose
        # opinion is at least the agent's score, never lowers that score
        own = [rating_score(x) for x in rs if x.rater_id == who and x.budget_cents > 0]
        if s >= max(own) and before.score >= exact(rs):
            assert exact([*rs, new]) >= exact(rs) - 1e-12
    else:
        assert mine.score == pytest.approx(s)
    # every other opinion is untouched
    assert {k: v for k, v in renewed.items() if k != who} == {
        k: v for k, v in old.items() if k != who
    }


@given(rating_lists, qualities, normal_budgets, recent_ages, raters)
def test_monotone_in_quality(
    rs: list[RatingInput], q: Decimal | float, budget: int, age: int, rater: str
) -> None:
    higher = min(5.0, float(q) + 0.5)
    lo = trust_score([*rs, RatingInput(q, True, budget, age, rater)])
    hi = trust_score([*rs, RatingInput(higher, True, budget, age, rater)])
    assert hi >= lo


@given(rating_lists, qualities, budgets, ages, raters)
def test_late_scores_lower_than_on_time(
    rs: list[RatingInput], q: Decimal | float, budget: int, age: int, rater: str
) -> None:
    on_time = RatingInput(q, True, budget, age, rater)
    late = RatingInput(q, False, budget, age, rater)
    assert rating_score(on_time) - rating_score(late) == pytest.approx(0.15)
    assert trust_score([*rs, on_time]) >= trust_score([*rs, late])


@given(qualities, normal_budgets, recent_ages)
def test_late_is_strictly_lower_on_a_paid_recent_task(
    q: Decimal | float, budget: int, age: int
) -> None:
    on_time = trust_score([RatingInput(q, True, budget, age, "a")])
    late = trust_score([RatingInput(q, False, budget, age, "a")])
    assert on_time > late


# --- decay on read: the stored aggregate gives the exact score later --------------------------


@settings(max_examples=300)
@given(rating_lists, st.integers(0, 20 * YEAR))
def test_the_aggregate_decays_exactly_like_the_ratings(rs: list[RatingInput], later: int) -> None:
    agg = aggregate(opinions(rs))
    aged = [replace(x, age_seconds=max(0, x.age_seconds) + later) for x in rs]
    assert score_at(agg, later) == pytest.approx(exact(aged), abs=1e-12)
    assert round(score_at(agg, later), 4) == trust_score(aged) or math.isclose(
        abs(exact(aged) * 1e4 % 1 - 0.5), 0, abs_tol=1e-8
    )  # equal unless the exact value sits on a rounding tie


@settings(max_examples=300)
@given(rating_lists, st.integers(0, 5 * YEAR))
def test_next_change_is_never_late(rs: list[RatingInput], elapsed: int) -> None:
    agg = aggregate(opinions(rs))
    shown = round(score_at(agg, elapsed), 4)
    due = next_change(agg, elapsed)
    if due is None:  # the score only approaches the prior inside its rounding cell
        for far in (elapsed + YEAR, elapsed + 100 * YEAR):
            assert round(score_at(agg, far), 4) == shown
        return
    assert due > elapsed
    for t in {elapsed, (elapsed + due) // 2, due - 1}:
        assert round(score_at(agg, t), 4) == shown, (t, due)


@given(
    st.floats(0, 1e4, allow_nan=False), st.floats(0, 1, allow_nan=False), st.integers(0, 2 * YEAR)
)
def test_next_change_finds_the_change(d: float, mean: float, elapsed: int) -> None:
    agg = Aggregate(n=d * mean, d=d)
    due = next_change(agg, elapsed)
    now = score_at(agg, elapsed)
    shown = round(now, 4)
    if due is None:
        assert abs(shown - 0.5) <= 0.00005 + 1e-12 or d == 0 or now == 0.5
        return
    if due == elapsed + 1:
        return  # already at the edge of its rounding cell: looked at again a second later
    # early only by the safety margin (1e-9) and the rounding down to a whole second
    edge = shown - 0.00005 if now > 0.5 else shown + 0.00005
    assert abs(score_at(agg, due) - edge) <= 1e-9 + 1.2e-8  # margin + a second's drift


@given(st.floats(1e-3, 1e4), st.floats(0, 1, allow_nan=False), st.integers(0, 2 * YEAR))
def test_a_stored_value_changes_at_most_every_two_and_a_half_hours(
    d: float, mean: float, elapsed: int
) -> None:
    # the score drifts by at most ln2 / (8 H) = 1.1e-8 a second, so from one change of
    # its 4th decimal to the next (0.0001) at least 9,000 seconds pass
    agg = Aggregate(n=d * mean, d=d)
    first = next_change(agg, elapsed)
    assume(first is not None)
    assert first is not None
    shown = round(score_at(agg, elapsed), 4)
    lo, hi = first, first + 10 * YEAR  # the first second at which the shown value changed
    assume(round(score_at(agg, hi), 4) != shown)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if round(score_at(agg, mid), 4) == shown else (lo, mid)
    second = next_change(agg, lo)
    if second is not None:
        assert second - lo >= 8_900


def test_drift_example() -> None:
    # 8 raters x three 5.0s on 150-credit tasks: 0.92095117..., shown 0.9210 until its
    # exact value passes 0.92095 (197-198 seconds later), then 0.9209 for 4.7 hours
    agg = aggregate(opinions([r(5.0, budget=15_000, rater=f"p{i}") for i in range(8)] * 3))
    assert score_at(agg, 0) == pytest.approx(0.92095117, abs=1e-8)
    assert next_change(agg, 0) == 197
    assert round(score_at(agg, 196), 4) == 0.921 and round(score_at(agg, 198), 4) == 0.9209
    assert next_change(agg, 198) == 17_045  # 4.7 hours later
