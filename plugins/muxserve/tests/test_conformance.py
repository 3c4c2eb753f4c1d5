"""skyplex-muxserve against the kernel's conformance kits: allocator, scheduler, entry point, plugin shape."""

from __future__ import annotations

import pytest
from skyplex.interfaces import GPUType, ScheduledRequest
from skyplex.testing import (
    AllocatorConformance,
    EntryPointConformance,
    PluginShapeConformance,
    SchedulerConformance,
)
from skyplex_muxserve.allocator import MuxServeAllocator
from skyplex_muxserve.scheduler import ADBSScheduler
from skyplex_muxserve.workload import LLM, MuxWorkload


class TestMuxServeAllocator(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        return MuxServeAllocator()

    @pytest.fixture
    def problem(self):
        from skyplex.interfaces import AllocationProblem

        wl = MuxWorkload([LLM("a", "llama-7b", 4.0), LLM("b", "llama-13b", 1.0), LLM("c", "llama-30b", 0.5)], 1, 4)
        return AllocationProblem(workload=wl.to_workload(), gpu_types=[GPUType(name="A100-80GB", memory_gb=80,
                                                                              price_per_hour=3.67)])


class TestADBSScheduler(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return ADBSScheduler()

    @pytest.fixture
    def requests(self):
        return [ScheduledRequest(id=f"r{i}", prompt="hello " * (i % 5 + 1), model=["a", "a", "a", "b"][i % 4])
                for i in range(20)]


def test_adbs_gives_popular_models_more_batches_but_never_starves():
    reqs = [ScheduledRequest(id=f"a{i}", prompt="x", model="a") for i in range(40)]
    reqs += [ScheduledRequest(id=f"b{i}", prompt="x", model="b") for i in range(4)]
    sched = ADBSScheduler().plan(reqs, {"rates": {"a": 9, "b": 1}, "max_batch": 2})
    first_b = next(i for i, b in enumerate(sched.batches) if b[0].startswith("b"))
    assert first_b <= 10  # b's first batch comes within its weighted turn, not after all of a
    assert sched.details["batches_per_model"]["a"] > sched.details["batches_per_model"]["b"]
    with pytest.raises(Exception, match="no quota/rate given for model 'b'"):
        ADBSScheduler().plan(reqs, {"rates": {"a": 1}})


def test_allocation_uses_every_gpu_and_places_every_llm():
    from skyplex.interfaces import AllocationProblem

    wl = MuxWorkload([LLM(f"m{i}", "llama-7b", 1.0 + i) for i in range(5)], 1, 8)
    alloc = MuxServeAllocator().allocate(AllocationProblem(workload=wl.to_workload()))
    assert alloc.total_gpus == 8
    assert sorted(m for p in alloc.placements for m in p.models) == sorted(m.name for m in wl.llms)


def test_allocator_options_are_checked_and_fidelity_mode_runs():
    from skyplex.errors import InvalidInputError
    from skyplex.interfaces import AllocationProblem

    wl = MuxWorkload([LLM("a", "llama-7b", 3.0), LLM("b", "llama-13b", 1.0)], 1, 4)
    with pytest.raises(InvalidInputError, match="options.confirm must be an integer >= 0"):
        MuxServeAllocator().allocate(AllocationProblem(workload=wl.to_workload(), options={"confirm": -1}))
    alloc = MuxServeAllocator().allocate(AllocationProblem(workload=wl.to_workload(),
                                                          options={"estimator": "fidelity", "confirm": 0}))
    assert alloc.total_gpus == 4


class TestMuxServeEntryPoint(EntryPointConformance):
    plugin_name = "muxserve"
    expected = {"allocator": ["muxserve"], "scheduler": ["adbs"]}


class TestMuxServeShape(PluginShapeConformance):
    package = "skyplex_muxserve"
