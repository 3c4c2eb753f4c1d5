"""Per-request latencies: the authors' TTFT/TPOT definitions, no token before its decode step, and
how the simulated per-request figures compare with the measured runs (what matches, what does not)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex_muxserve.arrivals import Stream
from skyplex_muxserve.engine import LLMState, MeshEngine

STEP = 0.01  # seconds per decode step, whatever the batch and context
PREFILL = 0.05  # seconds per prefill call


def _llm(name: str, arrivals, prompts, outputs, shares=(50, 50)) -> LLMState:
    stream = Stream(np.asarray(arrivals, float), np.asarray(prompts, np.int64), np.asarray(outputs, np.int64))
    return LLMState(name=name, stream=stream, prefill_s=lambda n, mean_len: PREFILL,
                    decode_table=np.full((65, 200), STEP), prefill_sm=shares[0], decode_sm=shares[1],
                    max_num_seqs=64, token_bytes=1.0, quota_bytes=1e12)


def _run(llms, mode="flexsm") -> None:
    MeshEngine(llms, mode, "fixed", pool_bytes=1e12).run()


def test_a_request_alone_has_the_textbook_ttft_and_the_authors_tpot():
    s = _llm("a", [1.0], [100], [11])
    _run([s])
    assert s.first_token[0] - 1.0 == pytest.approx(PREFILL)
    # ten decode steps after the prefill's token; the authors divide by all 11 output tokens
    assert s.finish[0] - s.first_token[0] == pytest.approx(10 * STEP)


def test_a_request_prefilled_mid_step_waits_for_the_next_step():
    # b's prefill ends at 0.111 while a's decode step 0.11-0.12 is running: b's tokens come from
    # the steps that start at 0.12 and 0.13, not from the one it was not part of
    s = _llm("a", [0.0, 0.061], [10, 10], [20, 3])
    _run([s])
    assert s.first_token[1] == pytest.approx(0.111)
    assert s.finish[1] == pytest.approx(0.14)


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.floats(0.0, 0.2), min_size=1, max_size=12),
       outputs=st.lists(st.integers(1, 40), min_size=12, max_size=12),
       two=st.booleans(), mode=st.sampled_from(["flexsm", "temporal"]))
def test_no_request_gets_tokens_faster_than_one_per_step(gaps, outputs, two, mode):
    arrivals = np.cumsum(gaps)
    n = len(arrivals)
    llms = [_llm("a", arrivals, [16] * n, outputs[:n])]
    if two:
        llms.append(_llm("b", arrivals + 0.003, [16] * n, outputs[::-1][:n]))
    _run(llms, mode)
    for s in llms:
        assert not np.isnan(s.finish).any()
        assert (s.first_token >= s.stream.arrivals + PREFILL - 1e-9).all()
        # the first token comes from the prefill, each later one from a decode step of its own
        assert (s.finish - s.first_token >= (s.stream.outputs - 1) * STEP - 1e-9).all()


def _medians(r: dict, keys=("p99_latency", "ttft_mean", "p90_ttft", "tpot_mean")) -> dict[str, float]:
    """Median over a run's LLMs of simulated / measured, per figure."""
    return {k: float(np.median([v[k][0] / v[k][1] for v in r["per_llm"].values()])) for k in keys}


@pytest.fixture(scope="module")
def measured_runs(mux_data, profile):
    from skyplex_muxserve.validation import validate_run

    def run(c: int, kind: str, seed: int = 0, **knobs) -> dict:
        return validate_run(mux_data.workload(c), mux_data.placements(kind, c), mux_data.measured(kind, c), kind,
                            profile, seed=seed, **knobs)

    return run


@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_request_latencies_against_the_measured_runs(measured_runs, seed):
    """What the simulator reproduces per request, and what it does not, on the six committed runs.

    p99 latency (arrival to last token) matches the measured runs: the median over LLMs of
    simulated/measured is within 20% in every run. Mean TTFT and TPOT do not: the simulated ones
    are lower (median ratio 0.07-0.98 for TTFT, 0.38-0.72 for TPOT over seeds 0-2). Where no LLM
    shares its mesh's compute with another (spatial, temporal), the gap is not a tail effect: the
    90th percentile TTFT is 0.04-0.12 of the measured one, i.e. the typical request waits an order
    of magnitude longer for its prefill on the authors' runtime than in this model of it
    (docs/plugins/muxserve.md). The bounds pin that finding, so a change that moves it is seen.
    """
    for c in (500, 2000):
        for kind in ("flexsm", "spatial", "temporal"):
            med = _medians(measured_runs(c, kind, seed))
            assert 0.8 <= med["p99_latency"] <= 1.2, (c, kind, med)
            assert 0.04 <= med["ttft_mean"] <= 1.2, (c, kind, med)
            assert 0.3 <= med["tpot_mean"] <= 0.8, (c, kind, med)
            if kind != "flexsm":
                assert med["ttft_mean"] <= 0.3 and med["p90_ttft"] <= 0.2, (c, kind, med)


FIT_GRID = [(cv, (single, parallel)) for cv in (0.5, 1.0) for single in (1.0, 1.2) for parallel in (1.0, 1.2)]


def test_a_length_and_step_time_calibration_fitted_on_one_load_does_not_close_the_gap_on_the_other(measured_runs):
    """Fitted on x500, checked on x2000: could the unpublished length spread and a slower runtime
    decode step than the profile's explain the per-request gap?

    Fit (x500 runs only): among ``length_cv`` x ``decode_scale`` settings that keep the three x500
    throughputs within +-10%, the one whose worst median TPOT ratio is closest to 1. Check (x2000,
    never seen by the fit): the throughputs stay within +-10%, but TTFT stays far off in every run and
    TPOT is off by more than 25% in at least one, so the gap is not these two knobs; the validated
    default keeps the profile as measured (``decode_scale=(1, 1)``, ``length_cv=1``).
    """
    fits = []
    for cv, scale in FIT_GRID:
        runs = [measured_runs(500, kind, length_cv=cv, decode_scale=scale) for kind in ("flexsm", "spatial", "temporal")]
        if all(abs(r["error"]) <= 0.10 for r in runs):
            fits.append((max(abs(np.log(_medians(r)["tpot_mean"])) for r in runs), cv, scale))
    assert fits, "no setting keeps the x500 throughputs within 10%"
    worst_log_tpot, cv, scale = min(fits)
    default_worst = max(abs(np.log(_medians(measured_runs(500, kind))["tpot_mean"])) for kind in ("flexsm", "spatial", "temporal"))
    assert worst_log_tpot < default_worst  # the fit does move TPOT where it was fitted
    held_out = {kind: measured_runs(2000, kind, length_cv=cv, decode_scale=scale) for kind in ("flexsm", "spatial", "temporal")}
    for kind, r in held_out.items():
        assert abs(r["error"]) <= 0.10, (kind, cv, scale, r["error"])
        assert not 0.75 <= _medians(r)["ttft_mean"] <= 1.25, (kind, cv, scale)
    assert any(not 0.75 <= _medians(r)["tpot_mean"] <= 1.25 for r in held_out.values()), (cv, scale)


def test_decode_scale_slows_every_decode_step_and_bad_factors_are_refused(mux_data, profile):
    from skyplex.errors import InvalidInputError
    from skyplex_muxserve.simulator import SimConfig, simulate
    from skyplex_muxserve.workload import load_placement, load_workload

    wl = load_workload(mux_data.root / "examples_basic" / "models.yaml")
    plan = load_placement([mux_data.root / "examples_basic" / "model_config.yaml"])
    base = simulate(plan, wl, profile, SimConfig(duration_s=10))
    slow = simulate(plan, wl, profile, SimConfig(duration_s=10, decode_scale=(2.0, 2.0)))
    for name, r in base.llms.items():
        assert slow.llms[name].tpot_mean > 1.5 * r.tpot_mean, name
    for bad in ((0.0, 1.0), (1.0, -1.0), (1.0,)):
        with pytest.raises(InvalidInputError, match="decode_scale"):
            simulate(plan, wl, profile, SimConfig(duration_s=5, decode_scale=bad))


def test_the_runs_record_each_llms_lengths_and_every_run_records_the_same_requests(mux_data):
    """Measured.lengths derives each LLM's mean prompt and output from the files' counters; the six
    committed runs replay the same requests (one trace, condensed twice, three placements), so
    their derived lengths must agree, and fall inside the authors' filter (prompt + output <= 2048)."""
    from skyplex_muxserve.workload import load_measured

    seen: dict[str, list[tuple[float, float]]] = {}
    for c in (500, 2000):
        for kind in ("flexsm", "spatial", "temporal"):
            lengths = load_measured(mux_data.measured(kind, c)).lengths()
            assert len(lengths) == 16
            for name, pair in lengths.items():
                seen.setdefault(name, []).append(pair)
    for name, pairs in seen.items():
        prompts, outputs = np.array(pairs).T
        assert (prompts > 4).all() and (outputs > 4).all() and (prompts + outputs <= 2048).all(), name
        assert prompts + outputs == pytest.approx(np.full(6, prompts[0] + outputs[0]), rel=0.01), name
        assert outputs == pytest.approx(np.full(6, outputs.min()), rel=0.05), name  # re-decoded tokens after preemption
    # the LLMs differ far more than the workload's one mean (100 + 261) lets the simulator see
    means = sorted(np.mean([o for _, o in pairs]) for pairs in seen.values())
    assert means[0] < 120 and means[-1] > 340


def test_with_each_llms_recorded_lengths_the_simulator_serves_faster_than_the_runtime(measured_runs):
    """The diagnosis behind the per-request gap: given every LLM's own mean lengths (from the run's
    files, not fitted), throughput still matches (+-10%) but the simulated p90 latency and the decode
    batches fall well below the measured ones in every run (seeds 0-2: p90 latency 0.57-0.76 of
    measured, decode batch 0.65-0.80), so each decode step of the authors' runtime takes longer than
    the profile's kernel time. The validated default hides this behind a too-wide length spread."""
    for c in (500, 2000):
        for kind in ("flexsm", "spatial", "temporal"):
            r = measured_runs(c, kind, recorded_lengths=True)
            med = _medians(r, ("p90_latency", "decode_batch", "tpot_mean"))
            assert abs(r["error"]) <= 0.10, (c, kind, r["error"])
            assert med["p90_latency"] <= 0.85 and med["decode_batch"] <= 0.85 and med["tpot_mean"] <= 0.8, (c, kind, med)


def test_decode_host_time_is_added_to_every_step_and_negative_times_are_refused(mux_data, profile):
    from skyplex.errors import InvalidInputError
    from skyplex_muxserve.simulator import SimConfig, simulate
    from skyplex_muxserve.workload import load_placement, load_workload

    wl = load_workload(mux_data.root / "examples_basic" / "models.yaml")
    plan = load_placement([mux_data.root / "examples_basic" / "model_config.yaml"])
    base = simulate(plan, wl, profile, SimConfig(duration_s=10))
    slow = simulate(plan, wl, profile, SimConfig(duration_s=10, decode_host_s=(0.02, 0.02)))
    for name, r in base.llms.items():
        # a TPOT counts (output - 1) steps over output tokens; outputs here average 100s of tokens
        assert slow.llms[name].tpot_mean > r.tpot_mean + 0.015, name
    for bad in ((-0.001, 0.0), (0.0,), (0.0, -1.0)):
        with pytest.raises(InvalidInputError, match="decode_host_s"):
            simulate(plan, wl, profile, SimConfig(duration_s=5, decode_host_s=bad))
