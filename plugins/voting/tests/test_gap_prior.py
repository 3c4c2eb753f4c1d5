"""The grid prior free at the tie (``skyplex_voting.gap_prior``, ``components="grid-gap"`` / ``"grid-pick"``).

Checks: the step feature marks exactly the grid points whose top wrong answer is more likely than
the correct one and the bump peaks at the tie (with mutation checks: a step moved off the tie or
turned round is caught); the gap prior's penalised fit is at least as good as the plain grid's
(it nests it); on tasks drawn from known populations in which a share of queries has a wrong answer
on top, the gap prior fitted on the answers reproduces the exact curve of the true distributions,
falling where it falls; the in-sample pick is a deterministic function of the counts and the seed,
takes the candidate with the lower extrapolation error and predicts that candidate's curve; and the
documented surfaces (``skyplex voting fit --components grid-pick``, ``POST /plugins/voting/fit``)
give the Python API's curve, with bad input refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from skyplex.cli.main import main
from skyplex.errors import InvalidInputError
from skyplex_voting import gap_prior
from skyplex_voting.fit import fit_law
from skyplex_voting.gap_prior import (GAP, PICK, extrapolation_error, gap_basis, gap_features,
                                      pick_by_extrapolation)
from skyplex_voting.grid_prior import GRID_SECOND, fit_grid_prior, smooth_basis, support_grid, support_loglik
from skyplex_voting.law import plurality_curves

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def _step_splits_at_tie(features: np.ndarray, support: np.ndarray) -> bool:
    """The step column takes two values, the higher exactly where the top wrong answer leads."""
    step = features[:, 0]
    wrong_on_top = support[:, 1] > support[:, 0] + 1e-9
    if wrong_on_top.all() or not wrong_on_top.any():
        return bool(np.ptp(step) < 1e-12)
    return bool(np.ptp(step[wrong_on_top]) < 1e-12 and np.ptp(step[~wrong_on_top]) < 1e-12
                and step[wrong_on_top][0] > step[~wrong_on_top][0])


def _bump_peaks_at_tie(features: np.ndarray, support: np.ndarray) -> bool:
    parsable = 1.0 - support[:, -1]
    margin = np.abs(support[:, 1] - support[:, 0]) / parsable
    return bool(np.all(np.diff(features[np.argsort(margin, kind="stable"), 1]) <= 1e-9))


_grids = st.tuples(st.integers(1, 6), st.sampled_from([0.0, 0.05, 0.3]), st.integers(1, 3))


@settings(max_examples=30, deadline=None)
@given(_grids)
def test_step_marks_the_wrong_on_top_points_and_the_bump_peaks_at_the_tie(grid):
    n_wrong, abstain, seconds = grid
    support = support_grid(n_wrong, abstain, seconds=seconds)
    F = gap_features(support)
    assert F.shape == (len(support), 2) and np.isfinite(F).all()
    assert _step_splits_at_tie(F, support)
    assert _bump_peaks_at_tie(F, support)
    B = gap_basis(support)
    np.testing.assert_array_equal(B[:, :-2], smooth_basis(support))


@settings(max_examples=10, deadline=None)
@given(_grids, st.sampled_from(["moved", "reversed", "bump-off-tie"]))
def test_a_step_or_bump_off_the_tie_is_caught(grid, mutation):
    """Mutation check: the two checks above refuse a step moved off the tie, a step turned round
    and a bump centred away from the tie."""
    n_wrong, abstain, seconds = grid
    support = support_grid(max(n_wrong, 2), abstain, seconds=seconds)
    parsable = 1.0 - support[:, -1]
    margin = (support[:, 1] - support[:, 0]) / parsable
    good = gap_features(support)
    broken = good.copy()
    if mutation == "moved":
        step = (margin > 0.2).astype(float)
        broken[:, 0] = (step - step.mean()) / step.std()
        assert not _step_splits_at_tie(broken, support)
    elif mutation == "reversed":
        broken[:, 0] = -good[:, 0]
        assert not _step_splits_at_tie(broken, support)
    else:
        broken[:, 1] = np.exp(-0.5 * ((margin - 0.3) / gap_prior.GAP_WIDTH) ** 2)
        assert not _bump_peaks_at_tie(broken, support)


def _population_task(seed: int, *, easy_share: float, queries: int = 200, m: int = 48,
                     n_wrong: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``m`` answers per query from a known population: easy queries (the correct answer
    ahead of the top wrong one) and hard ones (a wrong answer ahead), and the true distributions."""
    rng = np.random.default_rng(seed)
    P = []
    for q in range(queries):
        if rng.random() < easy_share:
            pc = rng.uniform(0.45, 0.7)
            top = rng.uniform(0.15, pc - 0.1)
        else:
            pc = rng.uniform(0.1, 0.3)
            top = rng.uniform(pc + 0.15, 0.75)
        rest = max(1.0 - pc - top, 0.0)
        others = rng.dirichlet(np.ones(n_wrong - 1)) * rest
        others = np.minimum(others, top)
        row = np.concatenate([[pc, top], others, [0.0]])
        P.append(row / row.sum())
    P = np.array(P)
    return np.array([rng.multinomial(m, p) for p in P]), P


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.15, 0.3))
def test_gap_prior_reproduces_a_falling_curve_of_a_known_population(seed, easy_share):
    counts, P = _population_task(seed, easy_share=easy_share)
    truth = plurality_curves(P, 60).mean(axis=0)
    law = fit_law(counts, kmax=60, components=GAP, draws=0)
    assert law.extras["grid"]["basis"] == "gap"
    assert np.abs(law.curve - truth).mean() < 0.025
    assert abs(law.curve[-1] - truth[-1]) < 0.03
    if truth.max() - truth[-1] > 0.03:  # where the true curve falls from its peak, so does the prediction
        assert law.curve.max() - law.curve[-1] > 0.01


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 0.7), st.integers(4, 10))
def test_gap_fit_nests_the_grid_fit(seed, easy_share, m):
    """The gap basis contains the smooth one, so its penalised log-likelihood is at least the plain
    grid's (up to the optimiser's tolerance)."""
    counts, _ = _population_task(seed, easy_share=easy_share, queries=60, m=m)
    plain = fit_grid_prior(counts)
    gap = fit_grid_prior(counts, basis=gap_basis)

    def objective(prior):
        return prior.log_likelihood - prior.penalty * float(prior.coefficients @ prior.coefficients)

    assert objective(gap) >= objective(plain) - 1e-3 * abs(objective(plain))
    assert len(gap.coefficients) == len(plain.coefficients) + 2


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 0.8), st.integers(0, 3))
def test_pick_is_deterministic_and_takes_the_lower_extrapolation_error(seed, easy_share, fit_seed):
    counts, _ = _population_task(seed, easy_share=easy_share, queries=50, m=6)
    choice, scores = pick_by_extrapolation(counts, seed=fit_seed)
    assert (choice, scores) == pick_by_extrapolation(counts, seed=fit_seed)
    assert set(scores) == {"grid", GAP} and all(np.isfinite(v) and v >= 0 for v in scores.values())
    assert choice == ("grid" if scores["grid"] <= scores[GAP] else GAP)
    law = fit_law(counts, kmax=20, components=PICK, draws=0, seed=fit_seed)
    assert law.extras["pick"] == {"chosen": choice, "extrapolation_error": scores}
    same = fit_law(counts, kmax=20, components=choice, draws=0, seed=fit_seed)
    np.testing.assert_allclose(law.curve, same.curve, atol=1e-12)


def test_extrapolation_error_is_the_gap_to_the_subsample_curve():
    """One halving by hand: the prior fitted on the seen answers, its posterior curves of the seen
    answers, against the without-replacement curve of all the answers."""
    from skyplex_voting.choose import split_answers, subsample_curves
    from skyplex_voting.grid_prior import GridPrior, PENALTY

    counts, _ = _population_task(3, easy_share=0.4, queries=40, m=6)
    support = support_grid(counts.shape[1] - 2, 0.0, seconds=GRID_SECOND)
    curves = GridPrior(support=support, weights=np.full(len(support), 1 / len(support)), penalty=PENALTY,
                       log_likelihood=0.0, queries=40, samples=240).curves(6)
    seen = split_answers(counts, np.random.default_rng(0))[0]
    got = extrapolation_error(counts, support, curves, smooth_basis(support), [seen])
    prior = fit_grid_prior(seen, p_abstain=0.0)
    lp = support_loglik(seen, support) + np.log(np.maximum(prior.weights, 1e-300))[None]
    post = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    want = np.abs((post @ curves).mean(axis=0) - subsample_curves(counts, 6).mean(axis=0)).mean()
    assert got == pytest.approx(want, abs=1e-9)


def test_bad_input_is_refused_clearly():
    with pytest.raises(InvalidInputError, match="answers"):
        fit_law([[1, 0, 0], [0, 1, 0]], components=GAP)
    with pytest.raises(InvalidInputError, match="answers"):
        pick_by_extrapolation([[1, 0, 0], [0, 1, 0]])
    with pytest.raises(InvalidInputError, match="grid-pick"):
        fit_law([[2, 1, 0], [1, 2, 0]], components="grid-gapp")


def test_cli_and_route_give_the_python_apis_curve(kernel_factory, kernel, capsys):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app
    from skyplex_voting.api import counts_from_samples, load_samples

    counts = np.asarray(counts_from_samples(load_samples(SAMPLES), use=6)["counts"], dtype=float)
    args = ["voting", "fit", str(SAMPLES), "--m", "6", "--kmax", "30", "--components", PICK, "--json"]
    assert main(args, kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    law = fit_law(counts, kmax=30, components=PICK)
    np.testing.assert_allclose(out["curve"], law.curve, atol=1e-12)
    assert out["pick"]["chosen"] == law.extras["pick"]["chosen"] and out["k_opt"] == law.k_opt
    assert main(["voting", "fit", str(SAMPLES), "--m", "6", "--components", "grid-gapp"],
                kernel_factory=kernel_factory) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grid-gapp" in err[0]
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts[:60].astype(int).tolist(), "kmax": 12,
                                                         "components": GAP, "draws": 0}, headers=headers)
        assert res.status_code == 200, res.text
        np.testing.assert_allclose(res.json()["curve"], fit_law(counts[:60], kmax=12, components=GAP, draws=0).curve,
                                   atol=1e-12)
        assert res.json()["grid"]["basis"] == "gap"
        bad = client.post("/plugins/voting/fit", json={"counts": [[1, 0, 0], [0, 1, 0]], "components": GAP},
                          headers=headers)
        assert bad.status_code == 400 and "answers" in bad.text
