"""Shared fixtures and helpers for the Mélange tests (conftest, because tests import in importlib mode)."""

from __future__ import annotations

import json
import random

import pytest
from skyplex.interfaces import SLO, AllocationProblem, RequestClass, Workload

#: the paper's example (2x2 buckets, A10G and A100-80GB; melange-release's example.json), carried by
#: the tests so they read nothing outside the repository
EXAMPLE_DATA = {
    "gpu_info": {
        "A10G": {"cost": 1.01, "tputs": [[2, 1], [5, 2]]},
        "A100-80GB": {"cost": 3.67, "tputs": [[20, 20], [40, 20]]},
    },
    "workload_distribution": [[0.2, 0.1], [0.5, 0.2]],
    "total_request_rate": 30.0,
    "slice_factor": 1,
}


@pytest.fixture
def example_data() -> dict:
    """The paper's example (a fresh copy per test)."""
    return json.loads(json.dumps(EXAMPLE_DATA))


@pytest.fixture
def example_problem(example_data) -> AllocationProblem:
    from skyplex_melange.allocator import problem_from_paper_format

    problem = problem_from_paper_format(example_data)
    return problem.model_copy(update={"options": {**problem.options, "plot": False}})


def random_instance(seed: int, buckets: int = 4, gpus: int = 3, slice_factor: int = 2):
    """A small random instance, some (bucket, GPU) pairs unservable but every bucket servable."""
    from skyplex_melange.solver import instance_from_tables

    rng = random.Random(seed)
    rates = [round(rng.uniform(0.5, 12), 3) for _ in range(buckets)]
    prices = {f"G{g}": round(rng.uniform(0.5, 8), 3) for g in range(gpus)}
    tables = {}
    for g in prices:
        scale = rng.uniform(0.5, 5) * (1 + list(prices).index(g))
        tables[g] = [round(scale * rng.uniform(0.3, 3), 3) if rng.random() > 0.15 else None for _ in range(buckets)]
    for b in range(buckets):  # keep every bucket servable by someone
        if all(tables[g][b] is None for g in prices):
            tables["G0"][b] = 1.0
    return instance_from_tables(rates, prices, tables, slice_factor=slice_factor)


@pytest.fixture
def make_random_instance():
    """The :func:`random_instance` factory (helpers reach tests as fixtures under importlib mode)."""
    return random_instance


@pytest.fixture
def roofline_problem() -> AllocationProblem:
    """A chat + long-document workload for Llama-2-7B on catalogue GPUs, TPOT SLO 120 ms."""
    return AllocationProblem(
        workload=Workload(requests=[
            RequestClass(name="chat", input_tokens=256, output_tokens=256, rate=6.0),
            RequestClass(name="doc", input_tokens=3000, output_tokens=200, rate=2.0),
        ]),
        slo=SLO(tpot_s=0.12),
        options={"model_name": "llama-2-7b", "gpu_names": ["L4", "A10G", "A100-80GB"], "slice_factor": 4,
                 "plot": False},
    )
