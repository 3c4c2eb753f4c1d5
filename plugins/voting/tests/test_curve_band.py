"""The band around the predicted accuracy curve: ``low <= curve <= high`` at every K, inside [0, 1],
finite, the same for the same seed, wider with fewer answers, and carried by every surface (the
Python API, ``skyplex voting fit|curve|plot``, ``POST /plugins/voting/fit``)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.cli.main import main
from skyplex.errors import InvalidInputError
from skyplex_voting.api import counts_from_samples, curve_summary, load_samples
from skyplex_voting.fit import draw_bootstrap, fit_law, k_interval

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def _counts(m: int, skip: int = 0) -> np.ndarray:
    return np.asarray(counts_from_samples(load_samples(SAMPLES), use=m, skip=skip)["counts"], dtype=float)


def _check_band(law, kmax: int) -> None:
    low, high = law.curve_low, law.curve_high
    assert low is not None and high is not None
    assert low.shape == high.shape == law.curve.shape == (kmax,)
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high))
    assert np.all(low >= 0) and np.all(high <= 1)
    assert np.all(low <= law.curve) and np.all(law.curve <= high)


@st.composite
def count_tables(draw):
    """Generated answer counts: some queries, 1-4 wrong columns, 2-8 answers each, abstentions maybe."""
    queries = draw(st.integers(2, 30))
    wrong = draw(st.integers(1, 4))
    abstain = draw(st.booleans())
    rows = []
    for _ in range(queries):
        m = draw(st.integers(2, 8))
        cols = 1 + wrong + (1 if abstain else 0)
        cuts = sorted(draw(st.lists(st.integers(0, m), min_size=cols - 1, max_size=cols - 1)))
        parts = np.diff([0, *cuts, m])
        rows.append(list(parts) + ([] if abstain else [0]))
    return np.array(rows, dtype=float)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(C=count_tables(), components=st.sampled_from(["auto", 1, "grid"]), seed=st.integers(0, 3))
def test_band_holds_the_curve_inside_zero_one_and_is_deterministic(C, components, seed):
    kmax = 15
    law = fit_law(C, kmax=kmax, components=components, draws=4, rounds=60, seed=seed)
    _check_band(law, kmax)
    again = fit_law(C, kmax=kmax, components=components, draws=4, rounds=60, seed=seed)
    np.testing.assert_array_equal(law.curve_low, again.curve_low)
    np.testing.assert_array_equal(law.curve_high, again.curve_high)
    d = law.to_dict()
    assert len(d["curve_low"]) == len(d["curve_high"]) == kmax
    json.dumps(d, allow_nan=False)  # a NaN anywhere would refuse to serialise


@settings(max_examples=25, deadline=None)
@given(Q=st.integers(1, 20), S=st.integers(1, 6), kmax=st.integers(1, 12), seed=st.integers(0, 100),
       level=st.floats(0.5, 0.99))
def test_draw_bootstrap_band_is_the_quantiles_of_the_round_means(Q, S, kmax, seed, level):
    rng = np.random.default_rng(seed)
    D = rng.random((Q, S, kmax))
    (klo, khi), low, high = draw_bootstrap(D, rounds=40, level=level, seed=seed)
    # the same rounds recomputed here, independently of the function's loop
    rr = np.random.default_rng(seed)
    means = []
    for _ in range(40):
        qi = rr.integers(0, Q, Q)
        si = rr.integers(0, S, Q)
        means.append(D[qi, si].mean(axis=0))
    means = np.array(means)
    np.testing.assert_allclose(low, np.quantile(means, (1 - level) / 2, axis=0), atol=1e-12)
    np.testing.assert_allclose(high, np.quantile(means, (1 + level) / 2, axis=0), atol=1e-12)
    assert np.all(low >= means.min(axis=0) - 1e-12) and np.all(high <= means.max(axis=0) + 1e-12)
    # the optimum's interval is the one k_interval always gave (same rounds, same seed)
    assert (klo, khi) == k_interval(D, rounds=40, level=level, seed=seed)


def test_band_of_these_queries_is_narrower_than_the_task_band_and_none_without_draws():
    from skyplex_voting.band import grid_band
    from skyplex_voting.grid_prior import fit_grid_prior, grid_draw_curves, smooth_basis

    C = _counts(4)
    law = fit_law(C, kmax=40, draws=8, seed=0)
    _check_band(law, 40)
    # the default band is grid_band's: queries resampled, the prior's coefficients drawn too
    prior = fit_grid_prior(C)
    _, low_t, high_t = grid_band(prior, C, prior.curves(40), smooth_basis(prior.support), rounds=200, seed=0)
    np.testing.assert_allclose(law.curve_low, np.clip(np.minimum(low_t, law.curve), 0, 1), atol=1e-12)
    np.testing.assert_allclose(law.curve_high, np.clip(np.maximum(high_t, law.curve), 0, 1), atol=1e-12)
    # keeping the queries and the prior leaves only these queries' difficulty: a narrower band
    D = grid_draw_curves(prior, C, 40, 8, "random", 0)
    _, low_q, high_q = draw_bootstrap(D, rounds=200, seed=0, resample_queries=False)
    assert 0 < float(np.mean(high_q - low_q)) < float(np.mean(high_t - low_t))
    none = fit_law(C, kmax=40, draws=0)
    assert none.curve_low is None and "curve_low" not in none.to_dict()


@pytest.mark.parametrize("components", ["1", "blend", "stack"])
def test_every_prior_gives_a_band(components):
    C = _counts(6)[:80]
    law = fit_law(C, kmax=20, components=int(components) if components.isdigit() else components, draws=4, seed=1)
    _check_band(law, 20)
    assert np.any(law.curve_high > law.curve_low)


def test_curve_summary_band_at_the_asked_k_and_its_coverage():
    ks = [1, 3, 9, 30]
    out = curve_summary(str(SAMPLES), ks=ks, m=6, kmax=30, heldout=True, seed=0)
    law = fit_law(_counts(6), kmax=30, draws=8, seed=0)
    np.testing.assert_allclose(out["predicted_low"], [law.curve_low[k - 1] for k in ks], atol=1e-12)
    np.testing.assert_allclose(out["predicted_high"], [law.curve_high[k - 1] for k in ks], atol=1e-12)
    inside = [lo <= e <= hi for lo, e, hi in zip(out["predicted_low"], out["empirical"], out["predicted_high"])]
    assert out["band_coverage"] == pytest.approx(np.mean(inside)) and out["level"] == 0.95
    assert "predicted_low" not in curve_summary(str(SAMPLES), ks=ks, m=6, kmax=30, draws=0)
    with pytest.raises(InvalidInputError, match="draws"):
        curve_summary(str(SAMPLES), m=6, draws=-1)


def test_documented_band_command_prints_the_band(in_tmp_repo, kernel_factory, doc_commands, capsys):
    (cmd,) = [c for c in doc_commands if " curve " in c and "--m 4" in c]
    args = shlex.split(cmd)[1:]
    assert main(args, kernel_factory=kernel_factory) == 0
    text = capsys.readouterr().out
    assert "held-out inside the band at" in text
    assert main([*args, "--json"], kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    lines = [ln for ln in text.splitlines() if ln.startswith("K=")]
    assert len(lines) == len(out["k"])
    for line, lo, hi in zip(lines, out["predicted_low"], out["predicted_high"]):
        assert f"[{lo:.4f}, {hi:.4f}]" in line
    assert all(lo <= p <= hi for lo, p, hi in zip(out["predicted_low"], out["predicted"], out["predicted_high"]))


def test_cli_fit_and_plot_carry_the_band(in_tmp_repo, kernel_factory, capsys):
    base = ["voting", "fit", str(SAMPLES), "--m", "6", "--kmax", "30"]
    assert main(base, kernel_factory=kernel_factory) == 0
    assert "95% band: K=1 [" in capsys.readouterr().out
    assert main([*base, "--json"], kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["curve_low"]) == len(out["curve_high"]) == 30
    assert main(["voting", "plot", str(SAMPLES), "--m", "6", "--kmax", "30", "--out", "band.png", "--json"],
                kernel_factory=kernel_factory) == 0
    info = json.loads(capsys.readouterr().out)
    assert 0 <= info["groups"]["all"]["band_coverage"] <= 1
    assert (in_tmp_repo / "band.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["voting", "curve", str(SAMPLES), "--m", "6", "--draws", "-2"], kernel_factory=kernel_factory) == 2
    err = capsys.readouterr()
    assert "draws" in err.err + err.out and "Traceback" not in err.err + err.out


def test_fit_route_returns_the_band(kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    counts = _counts(5)[:60]
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts.astype(int).tolist(), "kmax": 12, "draws": 4,
                                                         "seed": 2}, headers=headers)
        assert res.status_code == 200, res.text
        out = res.json()
        law = fit_law(counts, kmax=12, draws=4, seed=2)
        np.testing.assert_allclose(out["curve_low"], law.curve_low, atol=1e-12)
        np.testing.assert_allclose(out["curve_high"], law.curve_high, atol=1e-12)
        assert all(lo <= c <= hi for lo, c, hi in zip(out["curve_low"], out["curve"], out["curve_high"]))
        no_band = client.post("/plugins/voting/fit", json={"counts": counts.astype(int).tolist(), "kmax": 12,
                                                             "draws": 0}, headers=headers).json()
        assert "curve_low" not in no_band
