"""Estimator invariants, searched with hypothesis over LLM mixes, mesh sizes and SM shares."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_muxserve.estimator import Estimator
from skyplex_muxserve.workload import LLM

MODELS = ["llama-7b", "llama-13b"]
llm_st = st.builds(lambda i, m, r: LLM(f"m{i}", m, r), st.integers(0, 99), st.sampled_from(MODELS), st.floats(0.2, 30))
shares = st.sampled_from([30, 40, 50, 60, 70, 80, 90])


@pytest.fixture(scope="module")
def est(profile):
    return Estimator(profile, "default")


@settings(max_examples=60, deadline=None)
@given(llms=st.lists(llm_st, min_size=1, max_size=3, unique_by=lambda x: x.name), ngpus=st.sampled_from([1, 2, 4, 8]),
       data=st.data())
def test_served_rate_is_bounded_and_batches_fit(est, llms, ngpus, data):
    d = [data.draw(shares) for _ in llms]
    e = est.mesh(llms, ngpus, d)
    assert 0 <= e.served <= sum(m.rate for m in llms) + 1e-9
    assert all(t >= 0 for t in e.throughput)
    grid_max = est.profile.grid(llms[0].model, ngpus).max_batch
    assert all(0 <= b <= max(grid_max, est.profile.grid(m.model, ngpus).max_batch) for b, m in zip(e.batches, llms))


@settings(max_examples=60, deadline=None)
@given(a=llm_st, b=llm_st, ngpus=st.sampled_from([1, 2, 4]), da=shares, db=shares)
def test_a_neighbour_never_helps(est, a, b, ngpus, da, db):
    b = LLM("other", b.model, b.rate)
    alone = est.mesh([a], ngpus, [da])
    shared = est.mesh([a, b], ngpus, [da, db])
    assert min(shared.throughput[0], a.rate) <= min(alone.throughput[0], a.rate) + 1e-9


def test_unknown_mode_is_refused(profile):
    with pytest.raises(InvalidInputError, match="unknown estimator mode 'exact'"):
        Estimator(profile, "exact")


def test_fidelity_mode_ignores_the_workloads_lengths_default_mode_uses_them(profile):
    short, long_ = LLM("x", "llama-13b", 3.0, 50, 60), LLM("x", "llama-13b", 3.0, 50, 900)
    fid, dflt = Estimator(profile, "fidelity"), Estimator(profile, "default")
    assert fid.mesh([short], 2, [60]).throughput == fid.mesh([long_], 2, [60]).throughput
    assert dflt.mesh([short], 2, [60]).throughput[0] > dflt.mesh([long_], 2, [60]).throughput[0]
