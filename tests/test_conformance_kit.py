"""The conformance kits must pass good implementations and fail broken ones."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SCHEDULERS = '''
import pytest
from skyplex.interfaces import Schedule, ScheduledRequest, Scheduler
from skyplex.testing import SchedulerConformance

class ByPrompt(Scheduler):
    name = "by-prompt"
    def __init__(self, drop_one=False):
        self.drop_one = drop_one
    def plan(self, requests, options=None):
        first = {}
        dedup = {}
        for r in sorted(requests, key=lambda r: (r.prompt, r.id)):
            if r.prompt in first:
                dedup[r.id] = first[r.prompt]
            else:
                first[r.prompt] = r.id
        order = list(first.values())
        if self.drop_one and order:
            order = order[1:]
        return Schedule(scheduler=self.name, order=order, dedup=dedup)

REQS = [ScheduledRequest(id=str(i), prompt=p) for i, p in enumerate(["b", "a", "b", "c"])]

class TestGood(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return ByPrompt()
    @pytest.fixture
    def requests(self):
        return REQS

class TestBroken(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return ByPrompt(drop_one=True)
    @pytest.fixture
    def requests(self):
        return REQS
'''

ALLOCATORS = '''
import pytest
from skyplex.interfaces import Allocation, AllocationProblem, Allocator
from skyplex.testing import AllocatorConformance

class OneOfEach(Allocator):
    def __init__(self, overcharge=0.0):
        self.overcharge = overcharge
    def allocate(self, problem):
        gpus = {g.name: 1 for g in problem.gpu_types}
        cost = sum(g.price_per_hour for g in problem.gpu_types) + self.overcharge
        return Allocation(allocator=self.name, gpus=gpus, cost_per_hour=cost)

PROBLEM = AllocationProblem.model_validate({
    "workload": {"requests": [{"input_tokens": 1, "output_tokens": 1, "rate": 1}]},
    "gpu_types": [{"name": "A", "memory_gb": 24, "price_per_hour": 1.5}],
})

class TestGood(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        a = OneOfEach(); a.name = "one"; return a
    @pytest.fixture
    def problem(self):
        return PROBLEM

class TestOvercharges(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        a = OneOfEach(overcharge=1.0); a.name = "one"; return a
    @pytest.fixture
    def problem(self):
        return PROBLEM

class TestForgotFixture(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        return OneOfEach()
'''


def test_scheduler_kit_separates_good_from_broken(pytester):
    pytester.makepyfile(test_sched=SCHEDULERS)
    res = pytester.runpytest("-q", "-p", "no:cacheprovider")
    outcomes = res.parseoutcomes()
    assert outcomes.get("passed") == 4 + 3  # every Good test, and the broken one's unaffected tests
    failed = [line for line in res.outlines if line.startswith("FAILED")]
    assert len(failed) == 1 and "TestBroken::test_every_request_covered_once" in failed[0]


def test_allocator_kit_catches_wrong_cost_and_missing_fixture(pytester):
    pytester.makepyfile(test_alloc=ALLOCATORS)
    res = pytester.runpytest("-q", "-p", "no:cacheprovider")
    failed = "\n".join(line for line in res.outlines if line.startswith("FAILED"))
    assert "TestOvercharges::test_cost_matches_prices" in failed
    assert "TestGood" not in failed
    assert "must override the 'problem' fixture" in res.stdout.str()
