"""The grid prior through the documented surfaces: ``skyplex voting fit --components grid`` and
``POST /plugins/voting/fit`` give the curve ``fit_law`` gives on the same counts, and ``auto`` with
few answers per query is the grid prior there too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skyplex.cli.main import main
from skyplex_voting.api import counts_from_samples, load_samples
from skyplex_voting.fit import fit_law

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def _counts(m: int) -> np.ndarray:
    return np.asarray(counts_from_samples(load_samples(SAMPLES), use=m)["counts"], dtype=float)


def test_cli_fit_with_the_grid_prior_matches_the_python_api(kernel_factory, capsys):
    for components in ("grid", "auto"):
        args = ["voting", "fit", str(SAMPLES), "--m", "6", "--kmax", "30", "--components", components, "--json"]
        assert main(args, kernel_factory=kernel_factory) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["prior"]["kind"] == "grid" and "grid" in out
        law = fit_law(_counts(6), kmax=30, components="grid")
        np.testing.assert_allclose(out["curve"], law.curve, atol=1e-12)
        assert out["k_opt"] == law.k_opt and out["k_interval"] == list(law.k_interval)


def test_fit_route_takes_the_grid_prior(kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    counts = _counts(5)[:60]
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts.astype(int).tolist(), "kmax": 12,
                                                         "components": "grid", "draws": 0}, headers=headers)
        assert res.status_code == 200, res.text
        out = res.json()
        np.testing.assert_allclose(out["curve"], fit_law(counts, kmax=12, components="grid", draws=0).curve, atol=1e-12)
        assert out["prior"]["kind"] == "grid" and 0 <= out["grid"]["median_query_sd_at_k_opt"] <= 0.5
        one = client.post("/plugins/voting/fit", json={"counts": [[1, 0, 0], [0, 1, 0]], "components": "grid"},
                          headers=headers)
        assert one.status_code == 400 and "answers" in one.text
