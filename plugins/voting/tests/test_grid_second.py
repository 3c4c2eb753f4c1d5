"""The grid prior's second-answer levels and the exact law under them, each against an independent
computation.

* the grouped law (a few distinct wrong answers, the rest alike) equals the general exact law
  (subset products) on every shape it accepts, the peaked law where both apply, and a Monte Carlo
  vote beyond the general law's six wrong columns;
* the grid with one second-answer level is the one-peak grid; with more, rows stay distributions
  whose second answer never outweighs the top one;
* the likelihood averages over which ordered pair of wrong columns is the top and the second
  (checked by brute force over every ordering);
* a query's predicted curve is its posterior weights times the general law on every grid point.
"""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.grid_prior import (
    BASIS_CENTRES,
    SHARE_DEGREE,
    fit_grid_prior,
    grid_posterior,
    grid_predicted_curves,
    smooth_basis,
    support_grid,
)
from skyplex_voting.grouped_law import grouped_plurality_curves
from skyplex_voting.law import peaked_plurality_curves, plurality_curves

MASSES = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.7]


@st.composite
def grouped(draw, max_wrong: int = 6) -> tuple[np.ndarray, int]:
    """A few distributions [pc, d_1..d_D, q x (L-D), abstain] and D, edges included (zeros, ties)."""
    L = draw(st.integers(1, max_wrong))
    D = draw(st.integers(0, L))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        distinct = draw(st.lists(st.sampled_from(MASSES), min_size=D, max_size=D))
        pc, rest, ab = draw(st.lists(st.sampled_from(MASSES), min_size=3, max_size=3))
        row = [pc, *distinct, *([rest] * (L - D)), ab]
        if sum(row) == 0:
            row[0] = 1.0
        rows.append(row)
    P = np.array(rows)
    return P / P.sum(axis=1, keepdims=True), D


@settings(max_examples=60, deadline=None)
@given(case=grouped(), kmax=st.integers(1, 40), tie=st.sampled_from(["random", "lose", "win"]))
def test_grouped_law_equals_the_general_exact_law(case, kmax, tie):
    P, D = case
    np.testing.assert_allclose(grouped_plurality_curves(P, kmax, tie, distinct=D), plurality_curves(P, kmax, tie),
                               atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(case=grouped(max_wrong=9), kmax=st.integers(1, 30), tie=st.sampled_from(["random", "lose", "win"]))
def test_grouped_law_with_one_distinct_answer_is_the_peaked_law(case, kmax, tie):
    P, D = case
    if D > 1:  # make it one-peak: the distinct columns after the first join the alike ones
        P = P.copy()
        P[:, 2:-1] = P[:, 2:-1].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(grouped_plurality_curves(P, kmax, tie, distinct=1),
                               peaked_plurality_curves(P, kmax, tie), atol=1e-9)


def test_grouped_law_with_more_wrong_columns_than_the_general_law_keeps_matches_monte_carlo(simulated_accuracy):
    # 9 wrong answers, two of them strong: beyond the general law's 6 columns, so check by simulation
    P = np.array([0.3, 0.22, 0.18] + [0.03] * 7 + [0.09])
    for K in (1, 4, 7, 12):
        simulated, exact = simulated_accuracy(P, K), grouped_plurality_curves(P[None], K)[0, K - 1]
        assert abs(simulated - exact) < 0.004, (K, simulated, exact)


def test_grouped_law_refuses_other_shapes_and_bad_arguments():
    with pytest.raises(InvalidInputError, match="must be equal"):
        grouped_plurality_curves([[0.4, 0.3, 0.15, 0.1, 0.05, 0.0]], 5, distinct=2)
    with pytest.raises(InvalidInputError, match="distinct"):
        grouped_plurality_curves([[0.5, 0.5, 0.0]], 5, distinct=-1)
    with pytest.raises(InvalidInputError, match="K must be"):
        grouped_plurality_curves([[0.5, 0.5, 0.0]], 0)


def _one_peak_grid(n_wrong: int, p_abstain: float, levels: int, shares: int) -> np.ndarray:
    """The one-peak grid written out independently: [pc, top, q...q, abstain]."""
    rows = []
    share_levels = np.linspace(1.0 / n_wrong, 1.0, shares) if n_wrong > 1 else [1.0]
    for pc in np.linspace(0, 1, levels):
        wrong = (1 - pc) * (1 - p_abstain)
        for share in (share_levels if wrong > 0 else [1.0]):
            rest = [(1 - share) * wrong / (n_wrong - 1)] * (n_wrong - 1) if n_wrong > 1 else []
            rows.append([pc * (1 - p_abstain), share * wrong, *rest, p_abstain])
    G = np.array(rows)
    return G / G.sum(axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 7), ab=st.sampled_from([0.0, 0.05, 0.5]), levels=st.integers(2, 6),
       shares=st.integers(1, 5), seconds=st.integers(1, 5))
def test_grid_rows_are_distributions_and_one_second_level_is_the_one_peak_grid(L, ab, levels, shares, seconds):
    G = support_grid(L, ab, levels=levels, shares=shares, seconds=seconds)
    assert np.all(G >= 0) and np.allclose(G.sum(axis=1), 1.0)
    assert np.allclose(G[:, -1], ab)
    if L > 1:
        assert np.all(G[:, 2] <= G[:, 1] + 1e-12)  # the second answer never outweighs the top one
    if L > 2:
        assert np.allclose(G[:, 3:-1], G[:, 3:4])  # the rest of the wrong mass is spread evenly
    np.testing.assert_allclose(support_grid(L, ab, levels=levels, shares=shares, seconds=1),
                               _one_peak_grid(L, ab, levels, shares), atol=1e-12)
    if L > 2 and seconds > 1 and shares > 2:
        assert len(G) > len(_one_peak_grid(L, ab, levels, shares))  # the levels add points


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), min_size=6, max_size=6), min_size=2, max_size=4))
def test_likelihood_averages_over_which_wrong_columns_are_the_top_and_the_second(rows, check_grid_loglik):
    C = np.array(rows, dtype=float)
    C[C.sum(axis=1) == 0, 0] = 1
    G = support_grid(4, 0.1, levels=4, shares=4, seconds=3)
    assert np.any(np.abs(G[:, 2] - G[:, 3]) > 1e-9)  # the pair path is the one under test
    check_grid_loglik(C, G, distinct=2)


@st.composite
def counts(draw) -> np.ndarray:
    L = draw(st.integers(1, 5))
    Q = draw(st.integers(1, 25))
    m = draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(st.integers(0, 10**6)))
    skew = draw(st.sampled_from(["flat", "two wrong", "abstain"]))
    p = np.full(L + 2, 1.0)
    if skew == "two wrong" and L > 1:
        p[1:3] = 4.0
    if skew != "abstain":
        p[-1] = 0.0 if skew == "flat" else 0.3
    C = rng.multinomial(m, p / p.sum(), size=Q).astype(float)
    C[C[:, :-1].sum(axis=1) == 0, 0] += 1
    return C


@settings(max_examples=25, deadline=None)
@given(C=counts(), kmax=st.integers(1, 30), seconds=st.integers(2, 4), penalty=st.sampled_from([0.0, 10.0]),
       tie=st.sampled_from(["random", "lose", "win"]))
def test_posterior_curve_with_second_levels_is_the_weighted_general_law(C, kmax, seconds, penalty, tie):
    prior = fit_grid_prior(C, seconds=seconds, penalty=penalty)
    assert np.all(prior.weights >= 0) and abs(prior.weights.sum() - 1) < 1e-9
    post = grid_posterior(prior, C)
    assert np.all(np.isfinite(post)) and np.allclose(post.sum(axis=1), 1.0)
    mean, sd = grid_predicted_curves(prior, C, kmax, tie)
    # independent: the general exact law on every grid point (not the peaked or grouped fast paths)
    np.testing.assert_allclose(mean, post @ plurality_curves(prior.support, kmax, tie), atol=1e-12)
    assert np.all(np.isfinite(sd)) and np.all(sd >= 0)


def test_bad_second_levels_are_refused():
    C = np.array([[2, 1, 1, 0, 0], [1, 2, 0, 1, 0]], dtype=float)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError, match="seconds"):
            fit_grid_prior(C, seconds=bad)


@settings(max_examples=30, deadline=None)
@given(L=st.integers(1, 7), ab=st.sampled_from([0.0, 0.008, 0.3]), seconds=st.integers(1, 6))
def test_the_basis_has_a_second_share_term_only_where_the_grid_has_second_levels(L, ab, seconds):
    G = support_grid(L, ab, seconds=seconds)
    B = smooth_basis(G)
    per_bump = (SHARE_DEGREE + 1 if L > 1 else 1) + (1 if L > 2 and seconds > 1 else 0)
    assert B.shape == (len(G), BASIS_CENTRES * per_bump)
    assert np.all(np.isfinite(B)) and np.all(np.abs(B) < 50)  # no rounding noise blown up to a feature
