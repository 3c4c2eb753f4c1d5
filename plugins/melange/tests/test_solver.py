"""The count formulation: the paper's optimum, equality with the binary reference, caps, bad input."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex_melange.solver import (
    MelangeInfeasible,
    SolverSettings,
    instance_from_tables,
    single_type_baselines,
    solve,
    solve_reference,
)


def _example(data, S):
    W, R = data["workload_distribution"], data["total_request_rate"]
    rates = [W[i][k] * R for i in range(2) for k in range(2)]
    prices = {g: v["cost"] for g, v in data["gpu_info"].items()}
    tables = {g: [v["tputs"][i][k] for i in range(2) for k in range(2)] for g, v in data["gpu_info"].items()}
    return instance_from_tables(rates, prices, tables, slice_factor=S)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize(("S", "cost", "gpus"), [(1, 6.70, {"A10G": 3, "A100-80GB": 1}),
                                                 (2, 5.69, {"A10G": 2, "A100-80GB": 1}),
                                                 (16, 5.69, {"A10G": 2, "A100-80GB": 1})])
def test_paper_example_optimum(example_data, S, cost, gpus, solver):
    sol = solve(_example(example_data, S), SolverSettings(solver=solver))
    assert sol.cost_per_hour == pytest.approx(cost)
    assert sol.gpus == gpus
    assert sol.status == "optimal"
    # every bucket's slices placed exactly once, and no GPU over-full
    assert all(sum(row.values()) == S for row in sol.slices)
    assert all(0 < u <= 1 + 1e-9 for u in sol.utilisation.values())


def test_baselines_on_example(example_data):
    base = single_type_baselines(_example(example_data, 2))
    assert base["A10G"].cost_per_hour == pytest.approx(12 * 1.01)  # 6/2+3/1+15/5+6/2 = 12 GPUs
    assert base["A100-80GB"].cost_per_hour == pytest.approx(2 * 3.67)


@pytest.mark.parametrize("seed", range(8))
def test_count_formulation_equals_binary_reference(seed, make_random_instance):
    inst = make_random_instance(seed, buckets=4, gpus=3, slice_factor=1 + seed % 4)
    fast, ref = solve(inst), solve_reference(inst)
    assert fast.cost_per_hour == pytest.approx(ref.cost_per_hour, abs=1e-6)


def test_availability_cap_changes_the_answer(example_data):
    inst = _example(example_data, 2)
    free = solve(inst)
    assert free.gpus["A100-80GB"] == 1
    inst.availability = {"A100-80GB": 0}
    capped = solve(inst)
    assert "A100-80GB" not in capped.gpus and capped.gpus["A10G"] == 12
    assert capped.cost_per_hour > free.cost_per_hour


def test_caps_too_tight_is_infeasible(example_data):
    inst = _example(example_data, 2)
    inst.availability = {"A100-80GB": 0, "A10G": 3}
    with pytest.raises(MelangeInfeasible, match="caps"):
        solve(inst)


def test_infeasible_bucket_is_named():
    inst = instance_from_tables([1.0, 2.0], {"A": 1.0, "B": 2.0}, {"A": [1.0, None], "B": [2.0, None]},
                                names=["short", "very-long"])
    with pytest.raises(MelangeInfeasible) as err:
        solve(inst)
    assert "'very-long'" in err.value.message and err.value.bucket == "very-long"
    assert err.value.field == "workload.requests[1]"


@pytest.mark.parametrize(("tables", "prices", "match", "field"), [
    ({"A": [0.0, 1.0]}, {"A": 1.0}, "throughputs must be > 0", "throughputs.A[0]"),
    ({"A": [1.0, -3.0]}, {"A": 1.0}, "throughputs must be > 0", "throughputs.A[1]"),
    ({"A": [1.0, 1.0]}, {"A": 0.0}, "prices must be > 0", "gpu_types.A.price_per_hour"),
    ({"A": [1.0, 1.0]}, {"A": -1.0}, "prices must be > 0", "gpu_types.A.price_per_hour"),
    ({"A": [1.0, 1.0], "Z": [1.0, 1.0]}, {"A": 1.0}, "without a price: Z", "throughputs"),
])
def test_bad_tables_and_prices(tables, prices, match, field):
    with pytest.raises(InvalidInputError, match=match) as err:
        solve(instance_from_tables([1.0, 1.0], prices, tables))
    assert err.value.field == field


def test_cap_on_unknown_gpu_is_an_error():
    inst = instance_from_tables([1.0], {"A": 1.0}, {"A": [1.0]}, availability={"H100": 2})
    with pytest.raises(InvalidInputError, match="unknown GPU type 'H100'"):
        solve(inst)


def test_bad_settings():
    inst = instance_from_tables([1.0], {"A": 1.0}, {"A": [1.0]})
    with pytest.raises(InvalidInputError, match="unknown solver"):
        solve(inst, SolverSettings(solver="gurobi"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="slice_factor"):
        solve(instance_from_tables([1.0], {"A": 1.0}, {"A": [1.0]}, slice_factor=0))


def test_no_traffic_needs_no_gpus():
    sol = solve(instance_from_tables([0.0, 0.0], {"A": 1.0}, {"A": [1.0, None]}))
    assert sol.gpus == {} and sol.cost_per_hour == 0
