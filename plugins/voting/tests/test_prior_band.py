"""The band with the grid prior's own uncertainty (``band.grid_band``): the coefficients' Laplace
covariance is the inverse of the penalised log-likelihood's negative Hessian, each round draws the
prior and then each resampled query's grid point from its posterior under that prior, and the band
it gives at m = 4 is wider than the one that takes the prior as known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_voting.api import counts_from_samples, load_samples
from skyplex_voting.band import coefficient_cov, draw_bootstrap, grid_band
from skyplex_voting.fit import fit_law
from skyplex_voting.grid_prior import fit_grid_prior, grid_draw_curves, smooth_basis, support_loglik

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


@st.composite
def count_tables(draw):
    """Answer counts of 20-40 queries, 1-3 wrong columns, 2-6 answers each, abstentions maybe."""
    queries = draw(st.integers(20, 40))
    wrong = draw(st.integers(1, 3))
    abstain = draw(st.booleans())
    rows = []
    for _ in range(queries):
        m = draw(st.integers(2, 6))
        cols = 1 + wrong + (1 if abstain else 0)
        cuts = sorted(draw(st.lists(st.integers(0, m), min_size=cols - 1, max_size=cols - 1)))
        rows.append(list(np.diff([0, *cuts, m])) + ([] if abstain else [0]))
    return np.array(rows, dtype=float)


def _pieces(C):
    prior = fit_grid_prior(C)
    rows, inverse = np.unique(C, axis=0, return_inverse=True)
    ll = support_loglik(rows, prior.support)
    E = np.exp(ll - ll.max(axis=1, keepdims=True))
    mult = np.bincount(inverse.ravel(), minlength=len(rows)).astype(float)
    return prior, smooth_basis(prior.support), E, mult, inverse.ravel()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(C=count_tables())
def test_coefficient_covariance_is_the_inverse_negative_hessian(C):
    prior, B, E, mult, _ = _pieces(C)

    def gradient(a):  # of the penalised log-likelihood, in the coefficients
        z = B @ a
        g = np.exp(z - z.max())
        g /= g.sum()
        dz = ((mult / (E @ g)) @ E) * g - mult.sum() * g
        return B.T @ dz - 2.0 * prior.penalty * a

    a, h = prior.coefficients, 1e-5
    H = np.array([(gradient(a + h * e) - gradient(a - h * e)) / (2 * h) for e in np.eye(len(a))])
    cov = coefficient_cov(E, mult, B, prior.weights, prior.penalty)
    np.testing.assert_allclose(cov @ (-0.5 * (H + H.T)), np.eye(len(a)), atol=1e-4)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def _reference_band(prior, C, curves, B, rounds, level, seed):
    """grid_band's rounds written out query by query (each row's posterior normalised on its own)."""
    _, _, E, mult, inverse = _pieces(C)
    rng = np.random.default_rng(seed)
    if B is not None:
        chol = np.linalg.cholesky(coefficient_cov(E, mult, B, prior.weights, prior.penalty))
        normals = rng.standard_normal((B.shape[1], rounds))
    means = []
    for b in range(rounds):
        if B is None:
            g = prior.weights
        else:
            z = B @ (prior.coefficients + chol @ normals[:, b])
            g = np.exp(z - z.max())
        queries = inverse[rng.integers(0, len(C), len(C))]
        u = rng.random(len(C))
        picks = []
        for r, x in zip(queries, u):
            post = E[r] * g
            cdf = np.cumsum(post) / post.sum()
            picks.append(min(int(np.searchsorted(cdf, x, side="right")), len(g) - 1))
        means.append(curves[picks].mean(axis=0))
    return np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(C=count_tables(), with_prior=st.booleans(), seed=st.integers(0, 5), level=st.floats(0.6, 0.95))
def test_grid_band_rounds_are_the_stated_draws(C, with_prior, seed, level):
    prior, B, _, _, _ = _pieces(C)
    curves = prior.curves(12)
    basis = B if with_prior else None
    _, low, high = grid_band(prior, C, curves, basis, rounds=30, level=level, seed=seed)
    ref_low, ref_high = _reference_band(prior, C, curves, basis, 30, level, seed)
    np.testing.assert_allclose(low, ref_low, atol=1e-9)
    np.testing.assert_allclose(high, ref_high, atol=1e-9)
    assert np.all((low >= 0) & (high <= 1) & (low <= high))
    again = grid_band(prior, C, curves, basis, rounds=30, level=level, seed=seed)
    np.testing.assert_array_equal(again[1], low)
    np.testing.assert_array_equal(again[2], high)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(C=count_tables(), components=st.sampled_from(["auto", "grid", "grid-gap"]), seed=st.integers(0, 5))
def test_fitted_band_holds_the_curve_inside_zero_one_and_is_deterministic(C, components, seed):
    law = fit_law(C, kmax=15, components=components, draws=4, rounds=40, seed=seed)
    again = fit_law(C, kmax=15, components=components, draws=4, rounds=40, seed=seed)
    assert np.all(law.curve_low <= law.curve) and np.all(law.curve <= law.curve_high)
    assert np.all(law.curve_low >= 0) and np.all(law.curve_high <= 1)
    np.testing.assert_array_equal(law.curve_low, again.curve_low)
    np.testing.assert_array_equal(law.curve_high, again.curve_high)


def test_the_prior_uncertainty_widens_the_band_at_four_answers():
    C = np.asarray(counts_from_samples(load_samples(SAMPLES), use=4)["counts"], dtype=float)
    prior = fit_grid_prior(C)
    curves = prior.curves(60)
    _, low, high = grid_band(prior, C, curves, smooth_basis(prior.support), rounds=200, seed=0)
    _, low_k, high_k = grid_band(prior, C, curves, None, rounds=200, seed=0)
    # the prior taken as known: the same as the posterior-draw bootstrap, up to its draws
    _, low_d, high_d = draw_bootstrap(grid_draw_curves(prior, C, 60, 8, "random", 0), rounds=200, seed=0)
    assert abs(float(np.mean(high_k - low_k)) - float(np.mean(high_d - low_d))) < 0.02
    assert float(np.mean(high - low)) > float(np.mean(high_k - low_k)) + 0.005
