"""Conformance kit for an allocator: the contract every caller relies on."""

from __future__ import annotations

import pytest

from ...interfaces import Allocation, AllocationProblem
from ._base import must_override


class AllocatorConformance:
    """Contract of an allocator. Override ``allocator`` and ``problem`` (a feasible problem)."""

    @pytest.fixture
    def allocator(self):
        must_override("allocator")

    @pytest.fixture
    def problem(self) -> AllocationProblem:
        must_override("problem")

    def test_returns_allocation(self, allocator, problem):
        alloc = allocator.allocate(problem)
        assert isinstance(alloc, Allocation)
        assert alloc.allocator == allocator.name
        assert all(isinstance(n, int) and n >= 0 for n in alloc.gpus.values())
        assert alloc.cost_per_hour >= 0

    def test_cost_matches_prices(self, allocator, problem):
        alloc = allocator.allocate(problem)
        prices = {g.name: g.price_per_hour for g in problem.gpu_types}
        if not alloc.feasible or not prices or not set(alloc.gpus) <= set(prices):
            pytest.skip("allocation not priced from the problem's GPU types")
        expected = sum(prices[g] * n for g, n in alloc.gpus.items())
        assert alloc.cost_per_hour == pytest.approx(expected, rel=1e-6, abs=1e-9)

    def test_is_deterministic(self, allocator, problem):
        assert allocator.allocate(problem).gpus == allocator.allocate(problem).gpus

    def test_round_trips_as_json(self, allocator, problem):
        alloc = allocator.allocate(problem)
        assert Allocation.model_validate_json(alloc.model_dump_json()) == alloc
