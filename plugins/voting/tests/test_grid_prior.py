"""The grid prior (nonparametric empirical Bayes over answer distributions) and the peaked exact law
it rests on, each against an independent computation.

* the peaked law equals the general exact law (subset products) and a Monte Carlo vote;
* EM never lowers the likelihood; weights and posteriors are distributions;
* a query's predicted curve is its posterior weights times the grid points' exact curves;
* the likelihood averages over which wrong column is the top one (checked by brute force);
* edge inputs give finite curves or one clear error, never NaN.
"""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.fit import fit_law, fit_prior
from skyplex_voting.grid_prior import (
    fit_grid_prior,
    grid_draw_curves,
    grid_posterior,
    grid_predicted_curves,
    npmle_em,
    support_grid,
    support_loglik,
)
from skyplex_voting.law import peaked_plurality_curves, plurality_curves


@st.composite
def peaked(draw) -> np.ndarray:
    """A few peaked distributions [pc, top, q x (L-1), abstain], edges included (zeros, ties)."""
    L = draw(st.integers(1, 6))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.7]), min_size=4, max_size=4))
        if sum(parts) == 0:
            parts[0] = 1.0
        pc, top, rest, ab = (x / sum(parts) for x in parts)
        rows.append([pc, top + (rest if L == 1 else 0.0)] + [rest / max(L - 1, 1)] * (L - 1) + [ab])
    P = np.array(rows)
    return P / P.sum(axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(P=peaked(), kmax=st.integers(1, 40), tie=st.sampled_from(["random", "lose", "win"]))
def test_peaked_law_equals_the_general_exact_law(P, kmax, tie):
    fast = peaked_plurality_curves(P, kmax, tie)
    assert np.all(np.isfinite(fast))
    np.testing.assert_allclose(fast, plurality_curves(P, kmax, tie), atol=1e-12, rtol=0)


def test_peaked_law_with_more_wrong_columns_than_the_general_law_keeps_matches_monte_carlo(simulated_accuracy):
    # 9 wrong answers (the digits): beyond the general law's 6 columns, so check against simulation
    P = np.array([0.3, 0.25] + [0.05] * 8 + [0.05])
    for K in (1, 4, 7):
        simulated, exact = simulated_accuracy(P, K), peaked_plurality_curves(P[None], K)[0, K - 1]
        assert abs(simulated - exact) < 0.004, (K, simulated, exact)


def test_peaked_law_refuses_rows_that_are_not_peaked():
    with pytest.raises(InvalidInputError, match="must be equal"):
        peaked_plurality_curves([[0.4, 0.3, 0.2, 0.1, 0.0]], 5)


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), min_size=5, max_size=5), min_size=2, max_size=4))
def test_likelihood_averages_over_which_wrong_column_is_the_top_one(rows, check_grid_loglik):
    C = np.array(rows, dtype=float)
    C[C.sum(axis=1) == 0, 0] = 1
    check_grid_loglik(C, support_grid(3, 0.1, levels=5, shares=3), distinct=1)


@st.composite
def count_tables(draw) -> np.ndarray:
    L = draw(st.integers(1, 4))
    Q = draw(st.integers(1, 30))
    m = draw(st.integers(2, 8))
    kind = draw(st.sampled_from(["random", "all_correct", "all_wrong", "ties", "abstain"]))
    rows = []
    for q in range(Q):
        row = [0] * (L + 2)
        if kind == "all_correct":
            row[0] = m
        elif kind == "all_wrong":
            row[1] = m
        elif kind == "ties":
            row[0] = row[1] = m // 2
        elif kind == "abstain" and q % 2 == 0:
            row[-1] = m
        else:
            row = list(np.random.default_rng(draw(st.integers(0, 10**6))).multinomial(m, np.full(L + 2, 1 / (L + 2))))
        if sum(row) == 0:
            row[0] = 1
        rows.append(row)
    return np.array(rows, dtype=float)


@settings(max_examples=40, deadline=None)
@given(C=count_tables())
def test_em_never_lowers_the_likelihood_and_weights_are_a_distribution(C):
    G = support_grid(C.shape[1] - 2, float(C[:, -1].sum() / C.sum()), levels=11, shares=3)
    rows, mult = np.unique(C, axis=0, return_counts=True)
    weights, trace = npmle_em(support_loglik(rows, G), mult.astype(float), iterations=200)
    assert np.all(np.isfinite(trace))
    # rounding only: a step may lose at most a few ulps of the log-likelihood
    assert np.all(np.diff(trace) >= -1e-9 * (1.0 + np.abs(np.array(trace[1:])))), trace
    assert np.all(weights >= 0) and abs(weights.sum() - 1) < 1e-12


@settings(max_examples=25, deadline=None)
@given(C=count_tables(), kmax=st.integers(1, 30), penalty=st.sampled_from([0.0, 1.0, 10.0]),
       tie=st.sampled_from(["random", "lose", "win"]))
def test_posterior_curve_is_the_weighted_exact_curve_of_the_grid(C, kmax, penalty, tie):
    prior = fit_grid_prior(C, penalty=penalty)
    assert np.all(prior.weights >= 0) and abs(prior.weights.sum() - 1) < 1e-9
    post = grid_posterior(prior, C)
    assert np.all(np.isfinite(post)) and np.allclose(post.sum(axis=1), 1.0)
    mean, sd = grid_predicted_curves(prior, C, kmax, tie)
    # independent: the general exact law on every grid point (not the peaked fast path)
    expected = post @ plurality_curves(prior.support, kmax, tie)
    np.testing.assert_allclose(mean, expected, atol=1e-12)
    assert np.all(np.isfinite(sd)) and np.all(sd >= 0) and np.all(sd <= 0.5 + 1e-12)
    draws = grid_draw_curves(prior, C, kmax, 3, tie, seed=1)
    assert draws.shape == (C.shape[0], 3, kmax) and np.all((draws >= 0) & (draws <= 1))


@settings(max_examples=20, deadline=None)
@given(C=count_tables(), kmax=st.integers(1, 25), seed=st.integers(0, 3))
def test_fit_law_with_the_grid_prior_is_finite_and_its_interval_holds_the_optimum(C, kmax, seed):
    law = fit_law(C, kmax=kmax, components="grid", draws=3, rounds=20, seed=seed)
    assert np.all(np.isfinite(law.curve)) and np.all((law.curve >= 0) & (law.curve <= 1))
    assert law.k_interval[0] <= law.k_opt <= law.k_interval[1]
    assert law.curve[law.k_opt - 1] == pytest.approx(law.curve.max(), abs=1e-12)
    assert law.per_query_sd.shape == law.per_query.shape
    assert law.to_dict(with_queries=True)["prior"]["kind"] == "grid"


def test_the_posterior_separates_a_query_seen_right_from_one_seen_wrong():
    rng = np.random.default_rng(20261206)
    easy = rng.multinomial(8, [0.9, 0.08, 0.02, 0.0], size=60)
    hard = rng.multinomial(8, [0.15, 0.8, 0.05, 0.0], size=60)
    C = np.vstack([easy, hard]).astype(float)
    law = fit_law(C, kmax=31, components="grid", draws=0)
    # more calls help the easy queries and hurt the hard ones, as the law says they should
    assert law.per_query[:60, -1].mean() > law.per_query[:60, 0].mean()
    assert law.per_query[60:, -1].mean() < law.per_query[60:, 0].mean()
    # and the fit knows the gap: little prior mass where p_correct is near the top wrong answer
    assert law.prior.to_dict()["mass_near_tie"] < 0.1


def test_degenerate_inputs_give_clear_errors():
    with pytest.raises(InvalidInputError, match="fewer than 2 answers"):
        fit_grid_prior([[1, 0, 0], [0, 1, 0]])
    with pytest.raises(InvalidInputError, match="penalty"):
        fit_grid_prior([[2, 1, 0], [0, 3, 0]], penalty=-1)
    with pytest.raises(InvalidInputError, match="penalty"):
        fit_grid_prior([[2, 1, 0], [0, 3, 0]], penalty=float("nan"))
    prior = fit_grid_prior([[2, 1, 0], [0, 3, 0]])
    with pytest.raises(InvalidInputError, match="wrong columns"):
        grid_posterior(prior, [[2, 1, 0, 0]])
    with pytest.raises(InvalidInputError, match="unparsable"):
        grid_posterior(prior, [[2, 0, 1]])
    with pytest.raises(InvalidInputError, match="grid"):
        fit_prior([[2, 1, 0], [0, 3, 0]], components="grid")
    with pytest.raises(InvalidInputError, match="no answers"):
        fit_law([[2, 1, 0], [0, 0, 0]], components="grid")


def test_every_answer_abstaining_gives_a_zero_curve_not_nan():
    law = fit_law([[0, 0, 3], [0, 0, 2]], kmax=5, components="grid", draws=2, rounds=10)
    assert np.all(law.curve == 0.0)
