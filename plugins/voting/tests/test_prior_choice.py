"""Choosing among difficulty priors inside the sample (``skyplex_voting.choose``, ``components="stack"``).

Checks: the seen/unseen split keeps every answer in its column and the folds mix the kinds of a
cyclically generated task; a candidate's score equals the posterior predictive computed another way
(one wrong column, where no column assignment is averaged: the grid posterior times each grid
point's probability of the unseen answers); the without-replacement curve is unbiased (its mean over
many draws is the exact curve) and equals brute-force enumeration; the choices and the stacking
weights are deterministic functions of the counts and the seed, never NaN, and the stacked curve is
the weighted average of the candidates' own fits; bad input (one answer per query, too few
queries, unknown candidates or methods) gets a clear error, and all-tie counts a finite curve.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from skyplex.errors import InvalidInputError
from skyplex_voting.choose import (CANDIDATES, FOLDS, STACK_FLOOR, choose_prior, fold_labels, grid_spec,
                                   prior_scores, split_answers, stacking_weights, subsample_curves)
from skyplex_voting.fit import fit_law, fit_prior, predicted_curves
from skyplex_voting.grid_prior import fit_grid_prior, grid_posterior, grid_predicted_curves
from skyplex_voting.law import plurality_curves


def _task(seed: int, queries: int = 40, m: int = 6, wrong: int = 3, abstain: float = 0.05) -> np.ndarray:
    """Counts from a mixed task: easy queries (correct answer on top) and hard ones (a wrong one on top)."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(queries):
        pc = rng.uniform(0.5, 0.9) if q % 3 else rng.uniform(0.05, 0.3)
        wrong_mass = (1 - pc) * (1 - abstain)
        shares = rng.dirichlet(np.full(wrong, 0.5))
        p = np.concatenate([[pc * (1 - abstain)], wrong_mass * shares, [abstain]])
        rows.append(rng.multinomial(m, p / p.sum()))
    return np.array(rows)


count_tables = st.builds(
    lambda rows: np.array(rows),
    st.lists(st.lists(st.integers(0, 5), min_size=4, max_size=4), min_size=2 * FOLDS, max_size=24))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 9), min_size=5, max_size=5), min_size=1, max_size=20),
       seed=st.integers(0, 2**32 - 1))
def test_split_keeps_every_answer_in_its_column(rows, seed):
    C = np.array(rows)
    seen, unseen = split_answers(C, np.random.default_rng(seed))
    assert np.array_equal(seen + unseen, C)
    assert np.all(seen >= 0) and np.all(unseen >= 0)
    assert np.array_equal(seen.sum(axis=1), (C.sum(axis=1) + 1) // 2)


@settings(max_examples=8, deadline=None)
@given(C=count_tables, seed=st.integers(0, 1000), method=st.sampled_from(["likelihood", "extrapolation"]))
def test_choice_is_deterministic_and_scores_are_finite(C, seed, method):
    try:
        first = choose_prior(C, seed=seed, method=method)
    except InvalidInputError as exc:
        # the only refusals: no query with 2 answers, or a query with no answers at all
        assert "answers" in str(exc)
        return
    chosen, scores = first
    assert set(scores) == set(CANDIDATES) and chosen in CANDIDATES
    assert all(np.isfinite(v) for v in scores.values())
    assert scores[chosen] == (max if method == "likelihood" else min)(scores.values())
    assert choose_prior(C.copy(), seed=seed, method=method) == first


@settings(max_examples=8, deadline=None)
@given(C=count_tables, seed=st.integers(0, 1000))
def test_stacking_weights_are_deterministic_finite_and_sum_to_one(C, seed):
    try:
        weights = stacking_weights(C, seed=seed)
    except InvalidInputError as exc:
        assert "answers" in str(exc)
        return
    w = np.array(list(weights.values()))
    assert list(weights) == list(CANDIDATES)
    assert np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-9)
    assert stacking_weights(C.copy(), seed=seed) == weights


def test_folds_mix_the_kinds_of_a_cyclic_task():
    # a task generated as max, min, max, min...: each fold must hold both kinds
    labels = fold_labels(240, FOLDS, np.random.default_rng(0))
    kinds = np.arange(240) % 2
    for f in range(FOLDS):
        share = kinds[labels == f].mean()
        assert 0.35 < share < 0.65
    assert np.bincount(labels).max() - np.bincount(labels).min() <= 1


@settings(max_examples=40, deadline=None)
@given(row=st.lists(st.integers(0, 4), min_size=3, max_size=5).filter(lambda r: sum(r) > 0),
       tie=st.sampled_from(["random", "lose", "win"]))
def test_without_replacement_curve_is_brute_force_enumeration(row, tie):
    from itertools import combinations

    from skyplex_voting.law import tie_weight

    answers = [col for col, c in enumerate(row) for _ in range(c)]
    m = len(answers)
    got = subsample_curves(np.array([row]), m + 1, tie)[0]
    assert np.isnan(got[m])  # more answers than the query has: undefined
    for K in range(1, m + 1):
        scores = []
        for pick in combinations(range(m), K):
            votes = np.bincount([answers[i] for i in pick], minlength=len(row))
            wrong = votes[1:-1]
            won = votes[0] > 0 and (wrong.size == 0 or votes[0] >= wrong.max())
            scores.append(tie_weight(tie, int((wrong == votes[0]).sum())) if won else 0.0)
        assert got[K - 1] == pytest.approx(np.mean(scores), abs=1e-12)


def test_without_replacement_curve_is_unbiased():
    p = np.array([0.4, 0.3, 0.2, 0.0, 0.1])
    draws = np.random.default_rng(0).multinomial(6, p, size=20000)
    mean = subsample_curves(draws, 6).mean(axis=0)
    np.testing.assert_allclose(mean, plurality_curves(p[None], 6)[0], atol=0.01)


def test_score_is_the_posterior_predictive_of_the_unseen_answers():
    # one wrong column: no assignment of columns to average over, so p(unseen | seen) is the grid
    # posterior given the seen answers times each grid point's probability of the unseen ones
    C = _task(3, queries=30, m=6, wrong=1, abstain=0.1)
    score = prior_scores(C, candidates=("grid",), splits=1, seed=5)["grid"]
    rng = np.random.default_rng(5)  # the split, then the folds, as the scores draw them
    seen, unseen = split_answers(C, rng)
    folds = fold_labels(len(C), FOLDS, rng)
    total = 0.0
    for f in range(FOLDS):
        abstain = C[:, -1].sum() / C.sum()
        prior = fit_grid_prior(C[folds != f], p_abstain=abstain, **grid_spec("grid"))
        post = grid_posterior(prior, seen[folds == f])
        log_p_unseen = unseen[folds == f] @ np.log(np.maximum(prior.support, 1e-300)).T  # (queries, points)
        total += float(np.sum(logsumexp(log_p_unseen, b=post, axis=1)))
    assert score == pytest.approx(total / unseen.sum(), rel=1e-9)


def test_stacked_law_is_the_weighted_average_of_the_candidates_fits():
    C = _task(1, queries=40, m=8)
    law = fit_law(C, kmax=25, draws=0, seed=2, components="stack")
    weights = law.extras["stack"]["weights"]
    assert weights == stacking_weights(C, seed=2)
    assert law.extras["stack"]["scores"] == prior_scores(C, seed=2)
    kept = {n: w for n, w in weights.items() if w >= STACK_FLOOR}
    assert sorted(kept) == law.extras["stack"]["used"]
    expected = np.zeros(25)
    for name, w in kept.items():
        if name.startswith("grid"):
            curve = grid_predicted_curves(fit_grid_prior(C, **grid_spec(name)), C, 25)[0]
        else:
            curve = predicted_curves(fit_prior(C, components=int(name) if name.isdigit() else name, seed=2), C, 25)
        expected += w / sum(kept.values()) * curve.mean(axis=0)
    np.testing.assert_allclose(law.curve, expected, atol=1e-12)
    assert law.k_opt == int(np.argmax(expected)) + 1


def test_every_candidate_can_win_its_own_contest():
    # the choice really compares: restricted to one candidate, that one is chosen
    C = _task(4, queries=30, m=6)
    for name in CANDIDATES:
        for method in ("likelihood", "extrapolation"):
            assert choose_prior(C, candidates=(name,), seed=0, method=method)[0] == name


def test_the_choice_follows_the_data():
    # answers that really come from two Dirichlet groups (generated alternately, as real tasks often
    # are) are predicted better by the two-group prior than by one Dirichlet
    rng = np.random.default_rng(0)
    rows = []
    for q in range(200):
        a = [8.0, 1.0, 1.0, 1.0] if q % 2 else [0.6, 3.0, 3.0, 3.0]
        rows.append(list(rng.multinomial(8, rng.dirichlet(a))) + [0])
    scores = prior_scores(np.array(rows), candidates=("1", "2s"), seed=0)
    assert scores["2s"] > scores["1"]


def test_one_answer_per_query_is_refused_clearly():
    with pytest.raises(InvalidInputError, match="at least 2 answers"):
        choose_prior(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]))
    with pytest.raises(InvalidInputError, match="at least 2 answers"):
        fit_law(np.array([[1, 0, 0], [0, 1, 0]] * 15), kmax=5, draws=0)


def test_too_few_queries_unknown_candidates_and_methods_are_refused_clearly():
    with pytest.raises(InvalidInputError, match="queries"):
        prior_scores(np.array([[2, 1, 0], [1, 2, 0], [3, 0, 0]]))
    with pytest.raises(InvalidInputError, match="candidates must be some of"):
        prior_scores(_task(0), candidates=("grid", "nope"))
    with pytest.raises(InvalidInputError, match="method must be"):
        choose_prior(_task(0), method="bic")
    with pytest.raises(InvalidInputError, match="at least 20 queries"):
        fit_law(_task(2, queries=12, m=6), kmax=15, draws=0, components="stack")


def test_all_tie_counts_give_finite_scores_and_curves():
    C = np.array([[3, 3, 0, 0]] * 20)
    for method in ("likelihood", "extrapolation"):
        assert all(np.isfinite(v) for v in choose_prior(C, method=method)[1].values())
    law = fit_law(C, kmax=30, draws=0, components="stack")
    assert np.all(np.isfinite(law.curve)) and law.curve[0] == pytest.approx(0.5, abs=0.05)
    assert all(np.isfinite(v) for v in law.extras["stack"]["scores"].values())


def test_grid_prior_takes_the_whole_tasks_abstain_rate():
    # a fold without unparsable answers still gets the task's rate, so held-out ones are not impossible
    C = _task(6, queries=30, m=6, abstain=0.0)
    prior = fit_grid_prior(C, p_abstain=0.2)
    np.testing.assert_allclose(prior.support[:, -1], 0.2)
    assert np.all(np.isfinite(grid_posterior(prior, _task(7, queries=5, m=6, abstain=0.3))))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidInputError, match="p_abstain must be a probability"):
            fit_grid_prior(C, p_abstain=bad)
