"""Elo, Bradley-Terry MLE, sandwich and bootstrap intervals, ranks and matrices."""

from __future__ import annotations


import numpy as np
import pytest
from skyplex_arena.battles import load_battles
from skyplex_arena.bootstrap import bootstrap_intervals, bootstrap_ratings
from skyplex_arena.leaderboard import build_leaderboard, matrices
from skyplex_arena.ratings import (
    SCALE,
    fit_bradley_terry,
    hessian,
    online_elo,
    pair_counts,
    ranks_from_intervals,
    sandwich_intervals,
)

TRUE = {"alpha": 1200.0, "beta": 1100.0, "gamma": 1000.0, "delta": 950.0, "eps": 750.0}


def test_online_elo_follows_the_rules():
    battles = load_battles([{"model_a": "x", "model_b": "y", "winner": "model_a"}])
    assert online_elo(battles) == pytest.approx({"x": 1002.0, "y": 998.0})  # K=4, equal ratings: +-K/2
    tie = load_battles([{"model_a": "x", "model_b": "y", "winner": "model_a"},
                        {"model_a": "x", "model_b": "y", "winner": "tie"}])
    elo = online_elo(tie)
    expected_x = 1.0 / (1.0 + 10 ** ((998.0 - 1002.0) / 400.0))
    assert elo["x"] == pytest.approx(1002.0 + 4.0 * (0.5 - expected_x))


def test_bt_recovers_known_ratings(simulate):
    board = build_leaderboard(load_battles(simulate(TRUE, 6000, seed=3)))
    centred = {k: v - np.mean(list(TRUE.values())) + 1000.0 for k, v in TRUE.items()}
    for row in board.rows:
        assert row.ci_low <= centred[row.model] <= row.ci_high, row
    assert [r.model for r in board.rows] == list(TRUE)  # sorted best first
    assert np.mean([r.rating for r in board.rows]) == pytest.approx(1000.0)


def test_bt_is_at_the_likelihood_optimum(sample_battles):
    fit = fit_bradley_terry(sample_battles)
    c = fit.counts
    p = 1 / (1 + np.exp(-(fit.beta[c.i] - fit.beta[c.j])))
    resid = c.total * p - (c.wins + 0.5 * c.ties)
    grad = np.bincount(c.i, resid, minlength=c.n_models) - np.bincount(c.j, resid, minlength=c.n_models)
    assert np.abs(grad).max() < 1e-6
    assert np.all(np.linalg.eigvalsh(hessian(fit.beta, c))[1:] > 0)


def test_bt_agrees_with_scikit_learn(sample_battles):
    sklearn = pytest.importorskip("sklearn.linear_model")
    fit = fit_bradley_terry(sample_battles)
    assert not fit.prior_ties, "the sample's MLE exists, no regularisation expected"
    c = fit.counts
    n = c.n_models
    x = np.zeros((2 * c.i.size, n))
    rows = np.arange(c.i.size)
    for half in (0, 1):
        x[half * c.i.size + rows, c.i] = 1.0
        x[half * c.i.size + rows, c.j] = -1.0
    y = np.r_[np.ones(c.i.size), np.zeros(c.i.size)]
    w = np.r_[c.wins + 0.5 * c.ties, c.losses + 0.5 * c.ties]
    lr = sklearn.LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=10000)
    lr.fit(x, y, sample_weight=w)
    theirs = SCALE * (lr.coef_[0] - lr.coef_[0].mean()) + 1000
    assert np.abs(theirs - fit.ratings).max() < 0.01


def test_full_real_votes_put_gemini_first(full_battles):
    """All 135,634 votes: the release's published finding (the fit's speed is the benchmark's)."""
    assert len(full_battles.models) == 53  # 135,634 votes less the 10 self-battles the loader drops
    assert len(full_battles.outcome) == 135_624
    board = build_leaderboard(full_battles, ci="sandwich")
    top = board.rows[0]
    assert top.model == "gemini-2.5-pro" and top.rank == 1
    assert top.rating == pytest.approx(1124, abs=1.0)
    assert top.ci_low < top.rating < top.ci_high and top.ci_high - top.ci_low < 20


def test_ties_and_both_bad_rules_change_the_counts(sample_battles):
    half = pair_counts(sample_battles)
    dropped = pair_counts(sample_battles, ties="drop", both_bad="drop")
    assert half.total.sum() == len(sample_battles)
    assert dropped.ties.sum() == 0
    assert dropped.total.sum() == np.isin(sample_battles.outcome, [0, 1]).sum()
    a = build_leaderboard(sample_battles, both_bad="drop").row("gpt-4.1-2025-04-14")
    b = build_leaderboard(sample_battles).row("gpt-4.1-2025-04-14")
    assert a.rating != b.rating


def test_sandwich_and_bootstrap_intervals_agree_roughly(sample_battles):
    fit = fit_bradley_terry(sample_battles)
    lo, hi = sandwich_intervals(fit)
    samples = bootstrap_ratings(fit, rounds=100, seed=1)
    blo, bhi = bootstrap_intervals(fit, samples)
    busy = np.array([c > 150 for c in np.bincount(sample_battles.model_a, minlength=len(fit.models))
                     + np.bincount(sample_battles.model_b, minlength=len(fit.models))])
    ratio = (bhi - blo)[busy] / (hi - lo)[busy]
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    assert np.all(blo <= fit.ratings) and np.all(fit.ratings <= bhi)


def test_bootstrap_is_seeded_and_independent_of_workers(sample_battles):
    fit = fit_bradley_terry(sample_battles)
    one = bootstrap_ratings(fit, rounds=20, seed=7, workers=1)
    four = bootstrap_ratings(fit, rounds=20, seed=7, workers=4)
    other = bootstrap_ratings(fit, rounds=20, seed=8, workers=4)
    assert np.array_equal(one, four)
    assert not np.array_equal(one, other)


def test_ranks_count_models_clearly_above():
    lower = np.array([1100.0, 1050.0, 990.0, 900.0])
    upper = np.array([1150.0, 1120.0, 1060.0, 1000.0])
    assert ranks_from_intervals(lower, upper).tolist() == [1, 1, 2, 3]


def test_win_matrices_are_consistent(sample_battles):
    m = matrices(sample_battles)
    counts, rates = np.array(m["battles"]), m["win_rate"]
    assert np.array_equal(counts, counts.T) and counts.sum() == 2 * len(sample_battles)
    for i in range(len(m["models"])):
        for j in range(len(m["models"])):
            if counts[i, j]:
                assert rates[i][j] + rates[j][i] == pytest.approx(1.0)
            else:
                assert rates[i][j] is None


def test_per_category_leaderboard(sample_battles):
    board = build_leaderboard(sample_battles, category="math")
    assert 0 < board.battles < len(sample_battles) and board.category == "math"
    assert "hard_prompts" in sample_battles.category_names()
