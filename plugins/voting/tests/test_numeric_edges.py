"""Numeric edges of the law, the aggregators and the cost optimum, searched with hypothesis.

Each property is an invariance that floating point must not break: scaling every weight or price by
a power of two is exact in binary floating point, so a vote or an optimum that changes under it has
an absolute tolerance hidden somewhere; a probability a rounding error above 1 must not turn into a
NaN; K = 1 is a single answer, whatever the tie rule.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces.model import ContinuationScore
from skyplex.testing import FakeModelBackend
from skyplex_voting.adaptive import sequential_vote, simulate_adaptive
from skyplex_voting.answers import logprob_weighted_vote, majority_vote, normalise_number
from skyplex_voting.fit import fit_prior, posterior
from skyplex_voting.law import (
    cost_optimal_k,
    dirichlet_plurality_curves,
    optimal_k,
    plurality_curve,
    plurality_curves,
    two_level_curve,
    two_level_curves,
)
from skyplex_voting.sampling import letter_distribution

TIES = st.sampled_from(["random", "lose", "win"])
distributions = st.integers(1, 4).flatmap(
    lambda L: st.lists(st.floats(0.0, 1.0), min_size=L + 2, max_size=L + 2)
).filter(lambda xs: sum(xs) > 1e-3).map(lambda xs: np.array(xs) / sum(xs))


# -- the two-level closed form ---------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(pc=st.floats(0.0, 1.0), log_eps=st.floats(-15.0, -1.0), K=st.integers(1, 40), tie=TIES)
def test_two_level_counts_an_abstain_mass_of_any_scale(pc, log_eps, K, tie):
    # abstain mass from 1e-15 to 0.1 (relative to what is left after the correct answer)
    pw = (1.0 - pc) * (1.0 - 10.0 ** log_eps)
    exact = plurality_curve([pc, pw, max(0.0, 1.0 - pc - pw)], K, tie)
    assert np.allclose(two_level_curve(pc, pw, K, tie), exact, rtol=0.0, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(pc=st.floats(0.0, 1.0), over=st.floats(0.0, 9e-10), K=st.integers(1, 30), tie=TIES)
def test_two_level_is_finite_a_rounding_error_above_one(pc, over, K, tie):
    # inputs up to 1e-9 over 1 are accepted as rounding: they must give the curve of the rounded input,
    # not NaN (the incomplete beta is undefined past 1)
    curve = two_level_curves(np.array([pc + over]), np.array([1.0 - pc]), K, tie)[0]
    assert np.all(np.isfinite(curve)) and np.all((curve >= 0) & (curve <= 1))
    assert np.allclose(curve, two_level_curve(min(pc, 1.0), 1.0 - min(pc, 1.0), K, tie), atol=1e-6)
    alone = two_level_curves(np.array([1.0 + over]), np.array([0.0]), K, tie)[0]
    assert np.all(alone == 1.0)


# -- K = 1 ------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(p=distributions, tie=TIES)
def test_one_call_scores_the_chance_of_the_correct_answer(p, tie):
    # one answer: no tie can happen, it is right exactly when the answer is the correct one
    assert plurality_curve(p, 1, tie)[0] == pytest.approx(p[0], abs=1e-12)
    assert two_level_curve(p[0], p[1], 1, tie)[0] == pytest.approx(p[0], abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(a=st.lists(st.floats(1e-3, 1e4), min_size=3, max_size=6), tie=TIES)
def test_one_call_from_a_dirichlet_is_its_mean(a, tie):
    a = np.array(a)
    assert dirichlet_plurality_curves(a, 1, tie)[0, 0] == pytest.approx(a[0] / a.sum(), rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(p=distributions, K=st.integers(1, 60))
def test_curves_are_probabilities_and_tie_rules_are_ordered(p, K):
    lose, rand, win = (plurality_curve(p, K, t) for t in ("lose", "random", "win"))
    for c in (lose, rand, win):
        assert np.all(np.isfinite(c)) and np.all((c >= 0) & (c <= 1))
    assert np.all(lose <= rand + 1e-12) and np.all(rand <= win + 1e-12)


# -- optimal K and the cost-aware optimum ------------------------------------------------------------
curves = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60).map(np.array)


@settings(max_examples=80, deadline=None)
@given(curve=curves, cost=st.floats(0.0, 0.05), value=st.floats(0.5, 2.0), power=st.integers(-60, 60))
def test_cost_optimum_does_not_depend_on_the_currency_unit(curve, cost, value, power):
    # a price in dollars or in micro-cents: scaling cost and value by 2^power is exact, so the chosen
    # K must not move and the net value must scale exactly
    k, net = cost_optimal_k(curve, cost_per_call=cost, value_per_correct=value)
    scale = 2.0 ** power
    k2, net2 = cost_optimal_k(curve, cost_per_call=cost * scale, value_per_correct=value * scale)
    assert k2 == k and net2 == pytest.approx(net * scale, rel=1e-12, abs=1e-300)
    # and it is the argmax of the net value over every K (the smallest K within rounding)
    rel = curve - (cost / value) * np.arange(1, curve.size + 1)
    assert rel[k - 1] >= rel.max() - 1e-12 and np.all(rel[: k - 1] < rel.max() - 1e-12)


@settings(max_examples=40, deadline=None)
@given(curve=curves)
def test_free_calls_make_the_cost_optimum_the_accuracy_optimum(curve):
    assert cost_optimal_k(curve, cost_per_call=0.0)[0] == optimal_k(curve)[0]


def test_cost_optimum_with_a_price_that_dwarfs_the_value_is_one_call():
    k, net = cost_optimal_k([0.2, 0.9, 0.95], cost_per_call=1e300, value_per_correct=1e-300)
    assert k == 1 and net == pytest.approx(-1e300)


# -- the aggregators -----------------------------------------------------------------------------------
answer_lists = st.lists(st.one_of(st.none(), st.sampled_from("ABCD")), min_size=1, max_size=12)


@settings(max_examples=120, deadline=None)
@given(answers=answer_lists, data=st.data(), power=st.integers(-200, 200), tie_break=st.sampled_from(["first", "abstain"]))
def test_weighted_vote_does_not_depend_on_the_weights_unit(answers, data, power, tie_break):
    weights = data.draw(st.lists(st.integers(0, 8).map(float), min_size=len(answers), max_size=len(answers)))
    a = majority_vote(answers, weights=weights, tie_break=tie_break)
    b = majority_vote(answers, weights=[w * 2.0 ** power for w in weights], tie_break=tie_break)
    assert (a.answer, a.tied) == (b.answer, b.tied)


@settings(max_examples=120, deadline=None)
@given(answers=answer_lists, data=st.data(), shift=st.integers(-2000, 0))
def test_logprob_vote_does_not_depend_on_a_common_shift(answers, data, shift):
    # whole-number logprobs keep every difference exact; a completion a thousand nats less likely than
    # another is still a vote for its answer in the same proportion
    lps = data.draw(st.lists(st.one_of(st.none(), st.integers(-30, 0)), min_size=len(answers), max_size=len(answers)))
    a = logprob_weighted_vote(answers, lps, tie_break="first")
    b = logprob_weighted_vote(answers, [None if x is None else x + shift for x in lps], tie_break="first")
    assert (a.answer, a.tied) == (b.answer, b.tied)


def test_tiny_weights_are_not_a_tie():
    vote = logprob_weighted_vote(["A", "B"], [-30.0, -35.0])
    assert vote.answer == "A" and vote.tied == []
    far = logprob_weighted_vote(["A", "B", None], [-800.0, -801.0, -1.0])
    assert far.answer == "A" and far.tied == []


def test_a_nan_logprob_is_refused():
    with pytest.raises(InvalidInputError, match="NaN"):
        logprob_weighted_vote(["A"], [float("nan")])


def test_an_impossible_completion_does_not_vote():
    vote = logprob_weighted_vote(["A", "B", "B"], [-1.0, -math.inf, -math.inf], rng=random.Random(0))
    assert vote.answer == "A"


# -- adaptive K -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [[[0.5, 0.6, 0.0]], [[0.0, 0.0, 0.0]], [[float("nan"), 0.5, 0.5]]])
def test_simulated_adaptive_refuses_what_is_not_a_distribution(bad):
    with pytest.raises(InvalidInputError):
        simulate_adaptive(np.array(bad), 5, runs=10)


@pytest.mark.parametrize("margin", [0, 1.5, True])
def test_margin_must_be_a_whole_number(margin):
    with pytest.raises(InvalidInputError, match="margin"):
        sequential_vote(iter("AAB"), 3, margin=margin)


def test_one_call_budget_stops_after_one_answer():
    assert sequential_vote(iter(["B", "A", "A"]), 1) == ("B", 1)
    assert sequential_vote(iter([None, "A"]), 1) == (None, 1)


# -- posterior and logprob-read distributions --------------------------------------------------------
def test_posterior_refuses_abstentions_a_prior_without_them_cannot_explain():
    prior = fit_prior(np.array([[3, 1, 0, 0], [1, 3, 0, 0], [2, 2, 0, 0]] * 4))
    with pytest.raises(InvalidInputError, match="unparsable"):
        posterior(prior, np.array([[2, 1, 0, 1]]))


class _OverOneScorer(FakeModelBackend):
    """A backend whose separately scored letters add up to a rounding error over 1."""

    def score(self, requests, *, top_logprobs: int = 0):
        return [ContinuationScore(logprob=math.log(0.2500001), is_greedy=True, tokens=[], context_tokens=1)
                for _ in requests]


def test_letter_probabilities_over_one_are_rescaled_into_a_distribution():
    (row,) = letter_distribution(_OverOneScorer(), ["Question: ?\nAnswer:"])
    assert sum(row) == pytest.approx(1.0, abs=1e-12) and row[-1] == 0.0
    plurality_curves([row], 5)  # accepted by the law as it stands


# -- number answers ----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(n=st.integers(-(10**30), 10**30))
def test_whole_numbers_of_any_size_keep_their_identity(n):
    # spelled plainly, with thousands separators, or with a trailing .0, a number is itself; its
    # neighbour (past 2**53 a float would merge them) is a different answer
    assert normalise_number(str(n)) == str(n)
    assert normalise_number(f"{n:,}") == str(n) and normalise_number(f"{n}.0") == str(n)
    assert normalise_number(str(n + 1)) != normalise_number(str(n))


@settings(max_examples=150, deadline=None)
@given(mantissa=st.integers(-999, 999), exponent=st.integers(-12, 12))
def test_scientific_notation_votes_with_the_plain_spelling(mantissa, exponent):
    plain = Decimal(mantissa).scaleb(exponent)
    assert normalise_number(f"{mantissa}e{exponent}") == normalise_number(format(plain, "f"))
    assert normalise_number(f"{mantissa}E{exponent:+d}") == normalise_number(format(plain, "f"))


def test_huge_exponents_stay_short():
    assert normalise_number("1e400") == "1E+400" and normalise_number("1e-400") == "1E-400"
