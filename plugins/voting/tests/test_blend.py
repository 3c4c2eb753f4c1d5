"""The blended prior (one Dirichlet and an easy/hard mixture, their curves' middle) on edge inputs and
against its parts, fitted independently.

The edges searched: every answer correct, every answer the same wrong one, the correct answer tied
with a wrong one, queries that only abstain, one answer per query for some or all queries, few and
many queries (the mixture needs at least ``BLEND_MIN_QUERIES``), one to three wrong columns.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.fit import BLEND_MIN_QUERIES, fit_law, fit_prior, predicted_curves

KINDS = ["random", "all_correct", "all_wrong", "ties", "abstain_some", "one_answer_some", "one_answer_all"]


@st.composite
def tasks(draw) -> tuple[str, np.ndarray]:
    """A count table ``[correct, wrong..., abstain]`` of one of the edge kinds above."""
    kind = draw(st.sampled_from(KINDS))
    wrong = draw(st.integers(1, 3))
    queries = draw(st.integers(1, 40))
    m = draw(st.integers(1, 6))
    rows = []
    for q in range(queries):
        row = [0] * (wrong + 2)
        if kind == "all_correct":
            row[0] = m
        elif kind == "all_wrong":
            row[1] = m
        elif kind == "ties":
            row[0] = row[1] = m
        elif kind == "abstain_some" and q % 3 == 0:
            row[-1] = m
        elif kind == "one_answer_all" or (kind == "one_answer_some" and q % 2 == 0):
            row[draw(st.integers(0, wrong + 1))] = 1
        else:
            row = draw(st.lists(st.integers(0, 4), min_size=wrong + 2, max_size=wrong + 2))
            if sum(row) == 0:
                row[0] = 1
        rows.append(row)
    return kind, np.array(rows, dtype=float)


@settings(max_examples=30, deadline=None)
@given(task=tasks(), kmax=st.integers(1, 20), seed=st.integers(0, 3))
def test_blend_is_finite_and_inside_its_band_on_edge_tasks(task, kmax, seed):
    kind, C = task
    if C.sum(axis=1).max() < 2:
        # one answer per query cannot tell spread between queries from spread within one: an error
        with pytest.raises(InvalidInputError, match="answers"):
            fit_law(C, kmax=kmax, components="blend", draws=2, rounds=20, seed=seed)
        return
    law = fit_law(C, kmax=kmax, components="blend", draws=2, rounds=20, seed=seed)
    assert np.all(np.isfinite(law.per_query)) and np.all(np.isfinite(law.curve)), kind
    assert np.all(law.per_query >= -1e-12) and np.all(law.per_query <= 1 + 1e-12), kind
    assert law.curve.shape == (kmax,)
    assert law.k_interval[0] <= law.k_opt <= law.k_interval[1] and 1 <= law.k_opt <= kmax
    assert law.accuracy_opt == pytest.approx(law.curve.max(), abs=1e-12)
    blend = law.extras["blend"]
    assert len(blend["priors"]) == (2 if C.shape[0] >= BLEND_MIN_QUERIES else 1)
    lo, hi = np.array(blend["band_low"]), np.array(blend["band_high"])
    assert np.all(lo <= law.curve + 1e-12) and np.all(law.curve <= hi + 1e-12), kind
    json.dumps(law.to_dict(with_queries=True), allow_nan=False)  # no NaN or infinity anywhere


def simulated_task(queries: int, m: int, seed: int) -> np.ndarray:
    """Counts of a task mixing easy queries (the correct answer most likely) and hard ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(queries):
        p = rng.dirichlet([6, 1, 1, 0.2]) if q % 3 else rng.dirichlet([1, 5, 1, 0.2])
        rows.append(rng.multinomial(m, p))
    return np.array(rows, dtype=float)


@pytest.mark.parametrize("tie", ["random", "lose"])
def test_blend_is_the_middle_of_its_two_priors_fitted_on_their_own(tie):
    C = simulated_task(60, 6, seed=4)
    law = fit_law(C, kmax=40, tie=tie, components="blend", draws=0, seed=1)
    one = predicted_curves(fit_prior(C, components=1, seed=1), C, 40, tie)
    two = predicted_curves(fit_prior(C, components="2s", seed=1), C, 40, tie)
    np.testing.assert_allclose(law.per_query, (one + two) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(law.extras["blend"]["band_low"], np.minimum(one.mean(0), two.mean(0)), atol=1e-12)
    np.testing.assert_allclose(law.extras["blend"]["band_high"], np.maximum(one.mean(0), two.mean(0)), atol=1e-12)
    # the two priors differ on this easy/hard task, so the band is not a single line
    assert max(np.abs(one.mean(0) - two.mean(0))) > 1e-3
    # "prior" is the one-Dirichlet part
    assert law.prior.families == ("sym",)


def test_blend_with_few_queries_is_one_dirichlet_and_says_so():
    C = simulated_task(BLEND_MIN_QUERIES - 1, 6, seed=2)
    law = fit_law(C, kmax=20, components="blend", draws=0)
    alone = fit_law(C, kmax=20, components=1, draws=0)
    np.testing.assert_allclose(law.curve, alone.curve, atol=1e-12)
    assert "fewer than" in law.extras["blend"]["note"]


def test_blend_interval_covers_draws_from_both_priors():
    C = simulated_task(60, 6, seed=5)
    law = fit_law(C, kmax=30, components="blend", draws=4, rounds=50, seed=0)
    assert law.k_interval[0] <= law.k_opt <= law.k_interval[1]


def test_fit_prior_refuses_blend_and_names_fit_law():
    with pytest.raises(InvalidInputError, match="fit_law"):
        fit_prior(simulated_task(30, 4, seed=0), components="blend")


def test_old_priors_stay_selectable_and_unchanged_by_blend():
    C = simulated_task(40, 6, seed=7)
    for components in (1, 2, "2s", 3):
        law = fit_law(C, kmax=15, components=components, draws=0, seed=3)
        direct = predicted_curves(fit_prior(C, components=components, seed=3), C, 15).mean(axis=0)
        np.testing.assert_allclose(law.curve, direct, atol=1e-12)
        assert "blend" not in law.extras


def test_auto_uses_the_grid_prior_with_enough_queries_at_any_m():
    for m in (6, 16):
        task = simulated_task(40, m, seed=7)
        auto = fit_law(task, kmax=15, components="auto", draws=0, seed=3)
        grid = fit_law(task, kmax=15, components="grid", draws=0, seed=3)
        np.testing.assert_allclose(auto.curve, grid.curve, atol=1e-12)
        assert "grid" in auto.extras and "blend" not in auto.extras
    # too few queries for a mixture: one Dirichlet, as before
    small = simulated_task(BLEND_MIN_QUERIES - 1, 6, seed=7)
    auto = fit_law(small, kmax=15, components="auto", draws=0, seed=3)
    np.testing.assert_allclose(auto.curve, fit_law(small, kmax=15, components=1, draws=0, seed=3).curve, atol=1e-12)


def test_fit_route_takes_blend_and_refuses_unknown_priors(kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    counts = simulated_task(BLEND_MIN_QUERIES + 4, 5, seed=9).astype(int).tolist()
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts, "kmax": 12, "components": "blend", "draws": 0},
                          headers=headers)
        assert res.status_code == 200, res.text
        out = res.json()
        assert len(out["blend"]["priors"]) == 2 and len(out["blend"]["band_low"]) == 12
        assert all(lo <= c + 1e-12 for lo, c in zip(out["blend"]["band_low"], out["curve"]))
        bad = client.post("/plugins/voting/fit", json={"counts": counts, "components": "blends"}, headers=headers)
        assert 400 <= bad.status_code < 500 and "components" in bad.text
