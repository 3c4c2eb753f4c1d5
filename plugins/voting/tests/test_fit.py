"""The pooled difficulty prior, the predicted curve and the optimal K's interval, on simulated tasks
whose true answer distributions are known (so the truth is the exact curve of those distributions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.baseline import authors_curves
from skyplex_voting.fit import DifficultyPrior, fit_law, fit_prior, predicted_curves
from skyplex_voting.law import plurality_curves


def simulate(Q: int, m: int, seed: int):
    """An easy/hard task: 60% of queries lean to the correct answer, 40% to one wrong answer."""
    rng = np.random.default_rng(seed)
    prior = DifficultyPrior(families=("sym", "peak"), weights=np.array([0.6, 0.4]),
                            params=[np.array([6.0, 1.5, 0.4]), np.array([1.5, 6.0, 1.5, 0.4])], n_wrong=3,
                            log_likelihood=0.0, queries=0, samples=0)
    w, A = prior.expanded()
    P = np.array([rng.dirichlet(A[c]) for c in rng.choice(len(w), size=Q, p=w)])
    C = np.array([rng.multinomial(m, p) for p in P])
    return P, C, prior


def test_posterior_prediction_is_calibrated_with_the_true_prior():
    P, C, prior = simulate(600, 8, seed=1)
    truth = plurality_curves(P, 60).mean(axis=0)
    predicted = predicted_curves(prior, C, 60).mean(axis=0)
    assert np.abs(predicted - truth).mean() < 0.015


def test_fitted_mixture_beats_the_authors_fitter_when_the_task_is_a_mixture():
    P, C, _ = simulate(400, 16, seed=2)
    truth = plurality_curves(P, 50).mean(axis=0)
    law = fit_law(C, kmax=50, draws=0, components=2)  # the mixture (what BIC chose here)
    ours = np.abs(law.curve - truth).mean()
    theirs = np.abs(authors_curves(C, 50, trials=100, fit_ks=(1, 10, 50)).mean(axis=0) - truth).mean()
    assert ours < 0.02 and ours < theirs


def test_optimal_k_interval_brackets_the_point_and_the_curve_is_finite():
    _, C, _ = simulate(200, 12, seed=3)
    law = fit_law(C, kmax=80, draws=4, rounds=60)
    lo, hi = law.k_interval
    assert 1 <= lo <= law.k_opt <= hi <= 80
    assert np.all(np.isfinite(law.curve)) and law.curve[law.k_opt - 1] == pytest.approx(law.curve.max())
    d = law.to_dict()
    assert d["k_opt"] == law.k_opt and len(d["curve"]) == 80


@settings(max_examples=8, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 6), min_size=4, max_size=4), min_size=3, max_size=12))
def test_any_count_table_gives_a_finite_curve_or_a_clear_error(rows):
    C = np.array(rows)
    try:
        law = fit_law(C, kmax=20, draws=0)
    except InvalidInputError as exc:
        assert "answers" in str(exc)
        return
    assert np.all(np.isfinite(law.curve)) and np.all((law.curve >= 0) & (law.curve <= 1))


def test_all_ties_and_no_abstentions_are_handled():
    # every query: correct and one wrong answer tied, nothing unparsable
    C = np.array([[3, 3, 0, 0]] * 20)
    law = fit_law(C, kmax=30, draws=0)  # "auto": the grid prior
    assert np.all(np.isfinite(law.curve))
    assert law.prior.to_dict()["p_abstain"] == 0.0  # abstentions cannot happen
    assert law.curve[0] == pytest.approx(0.5, abs=0.05)
    law = fit_law(C, kmax=30, draws=0, components=1)
    assert np.all(np.isfinite(law.curve))
    assert law.prior.to_dict()["components"][0]["a_abstain"] == 0.0
    assert law.curve[0] == pytest.approx(0.5, abs=0.05)


def test_one_sample_per_query_is_refused():
    with pytest.raises(InvalidInputError, match="at least 2 answers"):
        fit_prior(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))


@pytest.mark.parametrize("bad", [[[1, 2]], [[-1, 2, 0]], [[0, 0, 0], [1, 1, 0]], [[0.5, 1, 1]]])
def test_bad_counts_are_refused(bad):
    with pytest.raises(InvalidInputError):
        fit_law(np.array(bad, dtype=float), kmax=5, draws=0)
