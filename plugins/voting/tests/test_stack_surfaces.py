"""The stacked prior through the documented surfaces: ``skyplex voting fit --components stack`` and
``POST /plugins/voting/fit`` with ``"components": "stack"`` give the curve ``fit_law`` gives."""

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


def test_cli_fit_with_the_stacked_prior_matches_the_python_api(kernel_factory, capsys):
    args = ["voting", "fit", str(SAMPLES), "--m", "6", "--kmax", "30", "--components", "stack", "--json"]
    assert main(args, kernel_factory=kernel_factory) == 0
    out = json.loads(capsys.readouterr().out)
    law = fit_law(_counts(6), kmax=30, components="stack")
    np.testing.assert_allclose(out["curve"], law.curve, atol=1e-12)
    assert out["k_opt"] == law.k_opt


def test_fit_route_takes_the_stacked_prior(kernel):
    from fastapi.testclient import TestClient
    from skyplex.gateway import create_app

    counts = _counts(6)
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(kernel, api_key="k", auth=True)) as client:
        res = client.post("/plugins/voting/fit", json={"counts": counts.astype(int).tolist(), "kmax": 12,
                                                         "components": "stack", "draws": 0}, headers=headers)
        assert res.status_code == 200, res.text
        np.testing.assert_allclose(res.json()["curve"], fit_law(counts, kmax=12, components="stack", draws=0).curve,
                                   atol=1e-12)
        bad = client.post("/plugins/voting/fit", json={"counts": counts.astype(int).tolist(), "components": "stacks"},
                          headers=headers)
        assert bad.status_code in (400, 422)
