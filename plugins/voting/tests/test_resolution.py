"""The grid prior's resolution set by the answers per query (``skyplex_voting.resolution``,
``components="grid-fine"``).

Checks: the rule's guarantee for every m (the bumps' spacing is no wider than the largest sd of one
query's share of correct answers, ``1 / (2 sqrt(m))``, with the fewest bumps that achieve it, never
fewer than the default's), with a mutation check (rules that round the other way or drop the floor
are caught); with 9 or fewer answers per query ``grid-fine`` is the grid prior exactly; on tasks
drawn from known populations with many answers per query it reproduces the exact curve of the true
distributions; bad input is refused in one line; and the documented surfaces (``skyplex voting fit
--components grid-fine``, ``POST /plugins/voting/fit``) give the Python API's curve.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.cli.main import main
from skyplex.errors import InvalidInputError
from skyplex_voting import resolution
from skyplex_voting.fit import fit_law
from skyplex_voting.grid_prior import BASIS_CENTRES, smooth_basis, support_grid
from skyplex_voting.law import plurality_curves
from skyplex_voting.resolution import FINE, answers_per_query, centres_for, fine_basis

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def _obeys_the_rule(rule, m: float) -> bool:
    """``rule(m)`` bumps: spacing within 1 / (2 sqrt m), one bump fewer would not be (unless the
    default's floor binds), never fewer than the default's."""
    c = rule(m)
    sd = 1.0 / (2.0 * math.sqrt(m))
    fits = 1.0 / (c - 1) <= sd + 1e-12
    fewest = c == BASIS_CENTRES or 1.0 / (c - 2) > sd + 1e-12
    return c >= BASIS_CENTRES and fits and fewest


_ms = st.one_of(st.integers(1, 400), st.floats(1.0, 400.0, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(_ms)
def test_spacing_is_within_one_querys_sd_with_the_fewest_bumps(m):
    assert _obeys_the_rule(centres_for, m)


@settings(max_examples=50, deadline=None)
@given(_ms, _ms)
def test_more_answers_never_mean_a_coarser_prior(a, b):
    lo, hi = sorted((a, b))
    assert centres_for(lo) <= centres_for(hi)
    if hi <= 9:
        assert centres_for(hi) == BASIS_CENTRES  # the default's resolution where it already resolves


@pytest.mark.parametrize("mutation", ["floor", "no-floor", "sd-at-quarter", "one-more"])
def test_a_broken_rule_is_caught(mutation):
    """Mutation check: rules that round down, drop the default's floor, use a narrower sd or add a
    bump each fail the check above for some m the search covers."""
    broken = {
        "floor": lambda m: max(BASIS_CENTRES, math.floor(2 * math.sqrt(m)) + 1),
        "no-floor": lambda m: math.ceil(2 * math.sqrt(m)) + 1,
        "sd-at-quarter": lambda m: max(BASIS_CENTRES, math.ceil(1 / math.sqrt(0.1875 / m)) + 1),
        "one-more": lambda m: max(BASIS_CENTRES, math.ceil(2 * math.sqrt(m))) + 2,
    }[mutation]
    assert any(not _obeys_the_rule(broken, m) for m in range(1, 401))


@pytest.mark.parametrize("bad", [0, 0.5, -3, float("nan"), float("inf"), True, "16", None])
def test_bad_answers_per_query_are_refused(bad):
    with pytest.raises(InvalidInputError, match="answers per query"):
        centres_for(bad)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.sampled_from([0.0, 0.1]), st.integers(1, 64))
def test_the_basis_has_one_block_of_features_per_bump(n_wrong, abstain, m):
    support = support_grid(n_wrong, abstain, seconds=3)
    C = np.zeros((5, n_wrong + 2), dtype=int)
    C[:, 0] = m
    B = fine_basis(C)(support)
    np.testing.assert_array_equal(B, smooth_basis(support, centres=centres_for(m)))
    assert answers_per_query(C) == m and np.isfinite(B).all()


def _population(rng: np.random.Generator, queries: int, easy: float) -> np.ndarray:
    """Answer distributions [correct, top wrong, 4 more wrong, abstain]: a share ``easy`` with the
    correct answer on top, the rest with a wrong answer at least 0.15 ahead of it."""
    rows = []
    for _ in range(queries):
        if rng.random() < easy:
            pc = rng.uniform(0.5, 0.9)
            top = rng.uniform(0.2, 0.6) * (1.0 - pc)
        else:
            pc = rng.uniform(0.05, 0.25)
            top = min(1.0 - pc, max(pc + 0.15, rng.uniform(0.4, 0.8) * (1.0 - pc)))
        others = rng.dirichlet(np.ones(4)) * (1.0 - pc - top)
        rows.append([pc, top, *others, 0.0])
    return np.array(rows)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([0.3, 0.5, 0.7]), st.sampled_from([16, 24]))
def test_fine_prior_reproduces_a_known_populations_curve(seed, easy, m):
    """Fitted on m answers per query of 200 queries drawn from a known population, the predicted
    curve stays within 5 points (MAE over K = 1..60; 3.5 at worst over 36 populations tried) of the exact curve of the true distributions."""
    rng = np.random.default_rng(seed)
    P = _population(rng, 200, easy)
    C = np.array([rng.multinomial(m, p) for p in P])
    wrong = -np.sort(-C[:, 1:-1], axis=1)
    C = np.concatenate([C[:, :1], wrong, C[:, -1:]], axis=1)
    law = fit_law(C, kmax=60, components=FINE, draws=0)
    truth = plurality_curves(P, 60).mean(axis=0)
    assert np.abs(law.curve - truth).mean() < 0.05
    assert law.prior.coefficients.size == smooth_basis(law.prior.support, centres=centres_for(m)).shape[1]


def test_with_few_answers_it_is_the_grid_prior():
    rng = np.random.default_rng(3)
    P = _population(rng, 60, 0.5)
    C = np.array([rng.multinomial(8, p) for p in P])
    fine, grid = fit_law(C, kmax=30, components=FINE, draws=0), fit_law(C, kmax=30, components="grid", draws=0)
    np.testing.assert_array_equal(fine.curve, grid.curve)


def test_with_many_answers_it_is_finer_than_the_grid_prior():
    rng = np.random.default_rng(4)
    P = _population(rng, 60, 0.5)
    C = np.array([rng.multinomial(16, p) for p in P])
    fine, grid = fit_law(C, kmax=30, components=FINE, draws=0), fit_law(C, kmax=30, components="grid", draws=0)
    assert fine.prior.coefficients.size > grid.prior.coefficients.size
    assert not np.allclose(fine.curve, grid.curve)


def test_module_constant_is_the_documented_name():
    assert resolution.FINE == "grid-fine"


def test_cli_and_route_give_the_python_apis_curve(kernel_factory, kernel, capsys):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app
    from skyplex_voting.api import counts_from_samples, load_samples

    counts = np.asarray(counts_from_samples(load_samples(SAMPLES), use=16)["counts"], dtype=float)
    args = ["voting", "fit", str(SAMPLES), "--m", "16", "--kmax", "30", "--components", FINE, "--json"]
    assert main(args, kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    law = fit_law(counts, kmax=30, components=FINE)
    np.testing.assert_allclose(out["curve"], law.curve, atol=1e-12)
    assert out["k_opt"] == law.k_opt and out["grid"]["centres"] == centres_for(16) == 9
    assert main(["voting", "fit", str(SAMPLES), "--m", "16", "--components", "grid-finer"],
                kernel_factory=kernel_factory) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grid-finer" in err[0]
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts[:60].astype(int).tolist(), "kmax": 12,
                                                         "components": FINE, "draws": 0}, headers=headers)
        assert res.status_code == 200, res.text
        np.testing.assert_allclose(res.json()["curve"], fit_law(counts[:60], kmax=12, components=FINE, draws=0).curve,
                                   atol=1e-12)
        assert res.json()["grid"]["basis"] == "fine"
        bad = client.post("/plugins/voting/fit", json={"counts": [[1, 0, 0], [0, 1, 0]], "components": FINE},
                          headers=headers)
        assert bad.status_code == 400 and "answers" in bad.text
