"""Allocators decide which GPUs to rent and what runs where."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import Field

from .common import SLO, Allocation, GPUType, ModelSpec, SkyplexModel, Workload


class AllocationProblem(SkyplexModel):
    workload: Workload
    slo: SLO = Field(default_factory=SLO)
    gpu_types: list[GPUType] = Field(default_factory=list, description="Candidates; empty = allocator's catalogue.")
    model: ModelSpec | None = None
    max_gpus: int | None = Field(default=None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict, description="Allocator-specific settings.")


class Allocator(ABC):
    name: str = "unnamed"

    @abstractmethod
    def allocate(self, problem: AllocationProblem) -> Allocation:
        """The cheapest (or best, by the allocator's objective) allocation that meets the problem."""
