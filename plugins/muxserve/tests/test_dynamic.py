"""Time-varying rates: moves are detected, moving costs latency, periods are checked."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex_muxserve.dynamic import moved_llms, run_periods
from skyplex_muxserve.simulator import SimConfig, simulate
from skyplex_muxserve.workload import LLM, Mesh, MeshLLM, MuxWorkload, PlacementPlan


def _plan(groups):
    return PlacementPlan([Mesh(n, [MeshLLM(x, "llama-7b", 80, 60, 64) for x in names], kv_fraction=0.4)
                          for n, names in groups])


def test_moves_are_changes_of_mesh_size_or_neighbours():
    a = _plan([(2, ["x", "y"]), (1, ["z"]), (1, ["w"])])
    assert moved_llms(a, a) == []
    assert moved_llms(a, _plan([(2, ["x"]), (1, ["y", "z"]), (1, ["w"])])) == ["x", "y", "z"]
    assert moved_llms(a, _plan([(1, ["w"]), (1, ["z"]), (2, ["y", "x"])])) == []  # same homes, other order


def test_a_model_being_loaded_makes_its_requests_wait(profile):
    wl = MuxWorkload([LLM("x", "llama-7b", 2.0, 80, 60)], 1, 1)
    plan = _plan([(1, ["x"])])
    free = simulate(plan, wl, profile, SimConfig(duration_s=10))
    held = simulate(plan, wl, profile, SimConfig(duration_s=10, unavailable_s={"x": 5.0}))
    assert held.llms["x"].finished == free.llms["x"].finished
    assert held.llms["x"].latency_mean > free.llms["x"].latency_mean + 1.0


def test_periods_are_simulated_and_checked(profile):
    wl = MuxWorkload([LLM("a", "llama-7b", 2.0, 80, 60), LLM("b", "llama-13b", 1.0, 80, 60)], 1, 4)
    out = run_periods(wl, profile, [{"a": 4.0, "b": 0.5}, {"a": 0.5, "b": 3.0}], period_s=6)
    assert len(out["static"]) == len(out["replan"]) == len(out["moves"]) == 2
    assert all(g > 0 for g in out["static"] + out["replan"])
    with pytest.raises(InvalidInputError, match=r"period 1 gives no rate for LLM\(s\) \['b'\]"):
        run_periods(wl, profile, [{"a": 1.0, "b": 1.0}, {"a": 1.0}])
