"""The Python API behind the commands and routes: the sampling job through the kernel, the evaluator,
and the fit and summaries on the committed real SmolLM2 samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skyplex_voting.api import counts_from_samples, curve_summary, fit_summary, load_samples
from skyplex_voting.baseline import authors_curves
from skyplex_voting.fit import bootstrap_band, empirical_curves, fit_law

SAMPLES = Path(__file__).parent / "data" / "arith_smollm2_samples.jsonl"


def test_sample_job_through_the_kernel_resumes_and_reports_abstentions(kernel, tmp_path):
    from skyplex_voting.jobs import submit_sampling

    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps({"id": f"q{i}", "question": f"Second letter? {i}", "choices": list("abcd"),
                                             "answer": "B"}) for i in range(3)) + "\n")
    out = tmp_path / "s.jsonl"
    job = kernel.jobs.wait(submit_sampling(kernel, queries=str(queries), backend="cycler", k=8, out=str(out)).id)
    assert job.status == "succeeded", job.error
    assert job.result["queries"] == 3 and job.result["abstentions"] == 3  # "I am not sure" once per query
    assert job.progress == 1.0
    records = load_samples(out)
    assert records[0]["answers"] == ["B", "B", "A", "C", "B", None, "A", "B"]
    data = counts_from_samples(records)
    assert data["abstentions"] == 3 and data["counts"][0].tolist() == [4, 2, 1, 1]


def test_evaluator_scores_votes_and_the_optimal_k(kernel):
    from skyplex import Subject, Suite

    queries = [{"id": f"q{i}", "question": "Second letter?", "choices": list("abcd"), "answer": "B"} for i in range(10)]
    report = kernel.evaluators.get("voting").evaluate([Subject(name="cycler", backend="cycler")],
                                                      Suite(name="t", options={"queries": queries, "samples": 8,
                                                                               "kmax": 20}))
    scores = {s.metric: s for s in report.scores}
    assert scores["accuracy_k1"].value == 1.0 and scores["vote_accuracy_k8"].value == 1.0
    # B wins half the answers against A (1/4) and C (1/8): the law says more calls only help
    assert scores["predicted_optimal_k"].value == 20
    assert report.metadata["subjects"]["cycler"]["abstentions"] == 10


def test_fit_on_real_samples_stays_in_the_held_out_band():
    """Fit on 8 real SmolLM2 answers per query; the other 40 answers of each query are the check."""
    records = load_samples(SAMPLES)
    fitted = counts_from_samples(records, use=8)
    held = counts_from_samples(records, skip=8)
    per_query = empirical_curves(held["counts"], 30)
    emp = per_query.mean(axis=0)
    lo, hi, _ = bootstrap_band(per_query, seed=0)
    ours = fit_law(fitted["counts"], kmax=30, draws=0).curve
    theirs = authors_curves(fitted["counts"], 30, fit_ks=(1, 10, 30)).mean(axis=0)
    for curve in (ours, theirs):
        assert np.all((curve >= lo - 1e-9) & (curve <= hi + 1e-9))
        assert np.abs(curve - emp).mean() < 0.04
    # both see more calls help this task: the vote at 30 calls beats a single call
    assert ours[-1] > ours[0] + 0.03 and emp[-1] > emp[0] + 0.03


def test_api_summaries_are_json_and_finite():
    summary = fit_summary(SAMPLES, m=8, kmax=30, draws=2)
    json.dumps(summary)
    unparsable = sum(a is None for r in load_samples(SAMPLES) for a in r["answers"][:8])
    assert summary["abstentions"] == unparsable and all(np.isfinite(summary["curve"]))
    curve = curve_summary(SAMPLES, m=8, ks=[1, 5, 9], heldout=True)
    assert curve["k"] == [1, 5, 9] and len(curve["empirical"]) == 3 and curve["mae"] < 0.05
