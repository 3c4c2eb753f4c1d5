"""The simulator against what the authors measured on real GPUs, and its own invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_muxserve.arrivals import gamma_gaps
from skyplex_muxserve.simulator import SimConfig, simulate
from skyplex_muxserve.validation import validate_run
from skyplex_muxserve.workload import LLM, Mesh, MeshLLM, MuxWorkload, PlacementPlan


@pytest.fixture(scope="module")
def runs(mux_data, profile):
    out = {}
    for c in (500, 2000):
        for kind in ("flexsm", "spatial", "temporal"):
            out[(c, kind)] = validate_run(mux_data.workload(c), mux_data.placements(kind, c), mux_data.measured(kind, c),
                                          kind, profile)
    return out


@pytest.mark.parametrize("c", [500, 2000])
@pytest.mark.parametrize("kind", ["flexsm", "spatial", "temporal"])
def test_top_level_throughput_matches_the_measured_run(runs, c, kind):
    r = runs[(c, kind)]
    assert r["simulated"] == pytest.approx(r["measured"], rel=0.10), r


@pytest.mark.parametrize("c", [500, 2000])
def test_flexsm_beats_spatial_beats_temporal(runs, c):
    assert runs[(c, "flexsm")]["simulated"] > runs[(c, "spatial")]["simulated"] > runs[(c, "temporal")]["simulated"]


def test_every_request_finishes_and_is_counted(runs):
    for r in runs.values():
        assert r["unfinished"] == 0
        assert r["requests"] == 4089


def _tiny(rates, shares=(90, 40), mode="flexsm"):
    llms = [LLM(f"m{i}", "llama-7b", r, 80, 120) for i, r in enumerate(rates)]
    mesh = Mesh(1, [MeshLLM(m.name, m.model, shares[0], shares[1], 64) for m in llms], kv_fraction=0.4)
    return MuxWorkload(llms, 1, 1), PlacementPlan([mesh], mode)


@settings(max_examples=15, deadline=None)
@given(rates=st.lists(st.floats(0.2, 6.0), min_size=1, max_size=3), mode=st.sampled_from(["flexsm", "temporal"]),
       kv=st.sampled_from(["adbs", "fixed", "elastic"]), cv=st.sampled_from([1.0, 3.0]), seed=st.integers(0, 3))
def test_requests_are_causal_and_complete(profile, rates, mode, kv, cv, seed):
    wl, plan = _tiny(rates, mode=mode)
    r = simulate(plan, wl, profile, SimConfig(seed=seed, duration_s=8, kv_policy=kv, arrival_cv=cv))
    assert r.unfinished == 0
    for x in r.llms.values():
        assert x.finished == x.requests
        if x.finished:
            assert 0 <= x.ttft_mean <= x.latency_mean
            assert x.percentiles["p50_latency"] <= x.percentiles["p99_latency"]
            assert 0 <= x.slo_attainment <= 1


def test_same_seed_same_result_other_seed_differs(profile):
    wl, plan = _tiny([3.0, 1.0])
    a = simulate(plan, wl, profile, SimConfig(seed=1, duration_s=10))
    b = simulate(plan, wl, profile, SimConfig(seed=1, duration_s=10))
    c = simulate(plan, wl, profile, SimConfig(seed=2, duration_s=10))
    assert a.to_dict() == b.to_dict()
    assert a.throughput != c.throughput


def test_overload_is_visible_in_latency_and_slo(profile):
    wl, plan = _tiny([0.5])
    light = simulate(plan, wl, profile, SimConfig(duration_s=20))
    wl, plan = _tiny([60.0])
    heavy = simulate(plan, wl, profile, SimConfig(duration_s=20))
    assert heavy.llms["m0"].latency_mean > 3 * light.llms["m0"].latency_mean
    assert heavy.slo_attainment < light.slo_attainment


def test_gamma_arrivals_have_the_asked_cv():
    rng = np.random.default_rng(0)
    for cv in (1.0, 2.5):
        gaps = gamma_gaps(rng, 4.0, cv, 200_000)
        assert gaps.mean() == pytest.approx(0.25, rel=0.02)
        assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.03)


def test_bad_simulation_inputs_are_refused(profile):
    wl, plan = _tiny([1.0])
    with pytest.raises(InvalidInputError, match="unknown KV policy"):
        simulate(plan, wl, profile, SimConfig(kv_policy="lru"))
    with pytest.raises(InvalidInputError, match="unknown mode"):
        simulate(PlacementPlan(plan.meshes, "magic"), wl, profile)
    with pytest.raises(InvalidInputError, match="no latency profile for llama-7b on 16"):
        simulate(PlacementPlan([Mesh(16, plan.meshes[0].llms)]), wl, profile)


@settings(max_examples=12, deadline=None)
@given(rates=st.lists(st.floats(2.0, 20.0), min_size=2, max_size=3), kv=st.floats(0.01, 0.05),
       policy=st.sampled_from(["adbs", "fixed"]), seed=st.integers(0, 5))
def test_kv_quota_is_never_exceeded_when_a_step_runs(profile, rates, kv, policy, seed):
    """A tiny KV pool forces preemptions; after each pre-step check every LLM must fit its quota."""
    from skyplex_muxserve import engine

    checked = []
    original = engine.MeshEngine._grow_or_preempt

    def checking(self, s):
        original(self, s)
        if s.running:
            need = (s.sum_ctx + len(s.running) + 8 * len(s.running)) * s.token_bytes
            assert need <= s.quota_bytes + 1e-6, (s.name, need, s.quota_bytes)
            checked.append(s.name)

    engine.MeshEngine._grow_or_preempt = checking
    try:
        llms = [LLM(f"m{i}", "llama-7b", r, 200, 300) for i, r in enumerate(rates)]
        mesh = Mesh(1, [MeshLLM(m.name, m.model, 80, 50, 256) for m in llms], kv_fraction=kv)
        res = simulate(PlacementPlan([mesh]), MuxWorkload(llms, 1, 1), profile,
                       SimConfig(seed=seed, duration_s=4, kv_policy=policy))
    finally:
        engine.MeshEngine._grow_or_preempt = original
    assert checked
    assert res.unfinished + sum(r.finished for r in res.llms.values()) == sum(r.requests for r in res.llms.values())
