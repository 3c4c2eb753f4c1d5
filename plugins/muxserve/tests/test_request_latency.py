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


def test_simulated_request_latencies_against_the_measured_runs(mux_data, profile):
    """What the simulator reproduces per request, and what it does not, on the six committed runs.

    p99 latency (arrival to last token) matches the measured runs: the median over LLMs of
    simulated/measured is within 20% in every run. Mean TTFT and TPOT do not: the simulated ones
    are lower (median ratio 0.07-0.98 for TTFT, 0.40-0.72 for TPOT), because the authors' runtime
    runs fewer, larger prefill calls than this model of it does (see docs/plugins/muxserve.md). The
    bounds below pin that finding, so a change that moves it is seen.
    """
    from skyplex_muxserve.validation import validate_run

    for c in (500, 2000):
        for kind in ("flexsm", "spatial", "temporal"):
            r = validate_run(mux_data.workload(c), mux_data.placements(kind, c), mux_data.measured(kind, c), kind, profile)
            med = {key: float(np.median([v[key][0] / v[key][1] for v in r["per_llm"].values()]))
                   for key in ("p99_latency", "ttft_mean", "tpot_mean")}
            assert 0.8 <= med["p99_latency"] <= 1.2, (c, kind, med)
            assert med["ttft_mean"] < 1.1 and med["tpot_mean"] < 0.8, (c, kind, med)
