"""The grid prior or the paper's fitter chosen inside the sample (``skyplex_voting.paper_pick``,
``components="grid-or-paper"`` / ``"grid-paper-mix"``).

Checks: the choice sees only the m answers (every split's seen answers are part of each query's
own answers, ``ceil(m / 2)`` of them, and a selector handed more than that is caught); the target
is the without-replacement curve of all the answers and each candidate's error is its distance to
it, computed here by hand; the pick takes the lower error and predicts exactly that candidate's
curve (a pick turned round is caught); the mixture's weight is the best of the weights tried, so
its half-split error is never above either candidate's, and its curve is exactly that mixture; the
choice is a deterministic function of the counts and the seed; below 8 answers per query both are
the grid prior and no split is made (a gate moved below m is caught); and the documented surfaces
(``skyplex voting fit --components grid-or-paper``, ``POST /plugins/voting/fit``) give the Python
API's curve, with bad input refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.cli.main import main
from skyplex.errors import InvalidInputError
from skyplex_voting import baseline, paper_pick
from skyplex_voting.baseline import authors_curves
from skyplex_voting.choose import subsample_curves
from skyplex_voting.fit import fit_law
from skyplex_voting.paper_pick import (MIN_ANSWERS, MIX, PICK, WEIGHTS, half_split_curves, half_split_errors,
                                      mix_weight)

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def _task(seed: int, *, easy_share: float, queries: int, m: int, n_wrong: int = 3) -> np.ndarray:
    """Counts of ``m`` answers per query: easy queries (correct answer ahead) and hard ones (a wrong
    answer ahead), ``easy_share`` of them easy."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(queries):
        if rng.random() < easy_share:
            pc = rng.uniform(0.45, 0.8)
            top = rng.uniform(0.05, pc - 0.05)
        else:
            pc = rng.uniform(0.05, 0.3)
            top = rng.uniform(pc + 0.1, 0.8)
        rest = max(1.0 - pc - top, 0.0)
        others = np.minimum(rng.dirichlet(np.ones(n_wrong - 1)) * rest, top)
        p = np.concatenate([[pc, top], others, [0.0]])
        rows.append(rng.multinomial(m, p / p.sum()))
    return np.array(rows)


def _seen_within(seen: np.ndarray, counts: np.ndarray) -> bool:
    """Every row of ``seen`` is part of the same row of ``counts``, ``ceil(m / 2)`` of its m answers."""
    m = counts.sum(axis=1)
    return bool(np.all(seen >= 0) and np.all(seen <= counts) and np.array_equal(seen.sum(axis=1), (m + 1) // 2))


def _spy(monkeypatch) -> list[np.ndarray]:
    """Record the counts the paper's fitter is handed (the seen halves, then the full counts)."""
    calls = []

    def recording(counts, kmax, **kw):
        calls.append(np.asarray(counts).copy())
        return authors_curves(counts, kmax, **kw)

    monkeypatch.setattr(baseline, "authors_curves", recording)
    return calls


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.9), st.integers(2, 9), st.integers(1, 3))
def test_the_choice_sees_only_each_querys_own_answers(seed, easy_share, m, splits):
    counts = _task(seed, easy_share=easy_share, queries=24, m=m)
    with pytest.MonkeyPatch.context() as mp:
        calls = _spy(mp)
        half_split_curves(counts, splits=splits, seed=seed)
    assert len(calls) == splits
    assert all(_seen_within(seen, counts) for seen in calls)


def test_a_selector_handed_all_the_answers_is_caught(monkeypatch):
    """Mutation: the split hands the candidates every answer (the target's own answers)."""
    from skyplex_voting import choose

    counts = _task(1, easy_share=0.5, queries=24, m=6)
    monkeypatch.setattr(choose, "split_answers", lambda C, rng: (np.asarray(C).copy(), np.zeros_like(C)))
    calls = _spy(monkeypatch)
    half_split_curves(counts, splits=1)
    assert not _seen_within(calls[0], counts)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.9), st.integers(3, 8), st.integers(0, 3))
def test_errors_are_the_distance_to_the_without_replacement_curve(seed, easy_share, m, fit_seed):
    counts = _task(seed, easy_share=easy_share, queries=30, m=m)
    curves = half_split_curves(counts, splits=2, seed=fit_seed)
    assert curves["m"] == m and curves["grid"].shape == curves["paper"].shape == (2, m)
    np.testing.assert_allclose(curves["target"], subsample_curves(counts, m).mean(axis=0), atol=1e-12)
    errors = half_split_errors(curves)
    for name in ("grid", "paper"):
        by_hand = np.mean([np.abs(curves[name][s] - curves["target"]).mean() for s in range(2)])
        assert errors[name] == pytest.approx(by_hand, abs=1e-12)
    assert (curves["grid"] >= -1e-12).all() and (curves["grid"] <= 1 + 1e-12).all()
    assert half_split_errors(half_split_curves(counts, splits=2, seed=fit_seed)) == errors


def _takes_lower(chosen: str, errors: dict) -> bool:
    return chosen == ("grid" if errors["grid"] <= errors["paper"] else "paper")


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.9), st.integers(8, 10), st.integers(0, 3))
def test_pick_takes_the_lower_error_and_predicts_that_candidates_curve(seed, easy_share, m, fit_seed):
    counts = _task(seed, easy_share=easy_share, queries=40, m=m)
    law = fit_law(counts, kmax=30, components=PICK, draws=0, seed=fit_seed)
    info = law.extras["paper_pick"]
    errors = half_split_errors(half_split_curves(counts, seed=fit_seed))
    assert info["half_split_error"] == errors and _takes_lower(info["chosen"], errors)
    turned = "paper" if info["chosen"] == "grid" else "grid"  # mutation: the pick turned round
    if errors["grid"] != errors["paper"]:
        assert not _takes_lower(turned, errors)
    if info["chosen"] == "grid":
        want = fit_law(counts, kmax=30, components="grid", draws=0, seed=fit_seed).curve
    else:
        want = authors_curves(counts, 30, seed=fit_seed).mean(axis=0)
    np.testing.assert_allclose(law.curve, want, atol=1e-12)
    assert law.k_opt == int(np.argmax(want >= want.max() - 1e-12)) + 1


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.9), st.integers(8, 10))
def test_mix_weight_is_the_best_tried_and_its_curve_is_that_mixture(seed, easy_share, m):
    counts = _task(seed, easy_share=easy_share, queries=30, m=m)
    curves = half_split_curves(counts, seed=seed)
    weight, tried = mix_weight(curves)
    assert weight in WEIGHTS and set(tried) == {f"{w:.1f}" for w in WEIGHTS}
    errors = half_split_errors(curves)
    assert tried[f"{weight:.1f}"] <= min(tried.values()) + 1e-15
    assert tried[f"{weight:.1f}"] <= min(errors.values()) + 1e-12  # never above either candidate alone
    assert tried["1.0"] == pytest.approx(errors["grid"], abs=1e-12)
    assert tried["0.0"] == pytest.approx(errors["paper"], abs=1e-12)
    law = fit_law(counts, kmax=20, components=MIX, draws=0, seed=seed)
    assert law.extras["paper_mix"]["grid_weight"] == weight
    grid = fit_law(counts, kmax=20, components="grid", draws=0, seed=seed).curve
    paper = authors_curves(counts, 20, seed=seed).mean(axis=0)
    np.testing.assert_allclose(law.curve, weight * grid + (1 - weight) * paper, atol=1e-12)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 0.9), st.integers(2, MIN_ANSWERS - 1), st.sampled_from([PICK, MIX]))
def test_below_eight_answers_both_are_the_grid_prior_and_make_no_split(seed, easy_share, m, components):
    counts = _task(seed, easy_share=easy_share, queries=30, m=m)
    with pytest.MonkeyPatch.context() as mp:
        calls = _spy(mp)
        law = fit_law(counts, kmax=20, components=components, draws=0, seed=seed)
    assert calls == []  # neither the halves nor the full counts reach the paper's fitter
    grid = fit_law(counts, kmax=20, components="grid", draws=0, seed=seed).curve
    np.testing.assert_allclose(law.curve, grid, atol=1e-12)
    info = law.extras["paper_pick" if components == PICK else "paper_mix"]
    assert "fewer than 8" in info["note"]


def test_the_gate_is_at_eight_answers(monkeypatch):
    """Mutation: with the gate moved below the counts' m, the split is made (caught by the spy)."""
    counts = _task(2, easy_share=0.3, queries=30, m=6)
    monkeypatch.setattr(paper_pick, "MIN_ANSWERS", 6)
    calls = _spy(monkeypatch)
    fit_law(counts, kmax=10, components=PICK, draws=0)
    assert calls and all(_seen_within(seen, counts) for seen in calls[:-1])


def test_band_holds_the_curve_and_the_interval_the_optimum():
    counts = _task(5, easy_share=0.3, queries=40, m=8)
    law = fit_law(counts, kmax=25, components=PICK, draws=4, rounds=50, seed=2)
    assert (law.curve_low <= law.curve + 1e-12).all() and (law.curve <= law.curve_high + 1e-12).all()
    assert law.k_interval[0] <= law.k_opt <= law.k_interval[1]


def test_bad_input_is_refused_clearly():
    with pytest.raises(InvalidInputError, match="answers"):
        fit_law([[1, 0, 0], [0, 1, 0]], components=PICK)
    with pytest.raises(InvalidInputError, match="at least 2"):
        half_split_curves([[3, 1, 0], [1, 0, 0], [2, 2, 0]])
    with pytest.raises(InvalidInputError, match="splits"):
        half_split_curves([[3, 1, 0], [2, 2, 0]], splits=0)
    with pytest.raises(InvalidInputError, match="grid-or-paper"):
        fit_law([[2, 1, 0], [1, 2, 0]], components="grid-or-papr")
    with pytest.raises(InvalidInputError, match="grid-or-paper"):
        paper_pick.fit_paper_pick_law([[2, 1, 0], [1, 2, 0]], components="grid", kmax=5, tie="random", draws=0,
                                      rounds=10, level=0.95, seed=0)


def test_cli_and_route_give_the_python_apis_curve(kernel_factory, kernel, capsys):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app
    from skyplex_voting.api import counts_from_samples, load_samples

    counts = np.asarray(counts_from_samples(load_samples(SAMPLES), use=8)["counts"], dtype=float)
    args = ["voting", "fit", str(SAMPLES), "--m", "8", "--kmax", "30", "--components", PICK, "--json"]
    assert main(args, kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    law = fit_law(counts, kmax=30, components=PICK)
    np.testing.assert_allclose(out["curve"], law.curve, atol=1e-12)
    assert out["paper_pick"]["chosen"] == law.extras["paper_pick"]["chosen"] and out["k_opt"] == law.k_opt
    assert main(["voting", "fit", str(SAMPLES), "--m", "8", "--components", "grid-or-papr"],
                kernel_factory=kernel_factory) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grid-or-papr" in err[0]
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts[:60].astype(int).tolist(), "kmax": 12,
                                                         "components": MIX, "draws": 0}, headers=headers)
        assert res.status_code == 200, res.text
        np.testing.assert_allclose(res.json()["curve"], fit_law(counts[:60], kmax=12, components=MIX, draws=0).curve,
                                   atol=1e-12)
        assert 0.0 <= res.json()["paper_mix"]["grid_weight"] <= 1.0
        bad = client.post("/plugins/voting/fit", json={"counts": [[1, 0, 0], [0, 1, 0]], "components": PICK},
                          headers=headers)
        assert bad.status_code == 400 and "answers" in bad.text
