"""The ``melange`` allocator through the kernel's AllocationProblem."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces import SLO, AllocationProblem, GPUType, RequestClass, Workload
from skyplex_melange.allocator import MelangeAllocator


def test_paper_example_through_the_allocator(example_problem):
    alloc = MelangeAllocator().allocate(example_problem)
    assert alloc.gpus == {"A10G": 3, "A100-80GB": 1} and alloc.cost_per_hour == pytest.approx(6.70)
    two = example_problem.model_copy(update={"options": {**example_problem.options, "slice_factor": 2}})
    alloc = MelangeAllocator().allocate(two)
    assert alloc.cost_per_hour == pytest.approx(5.69)
    d = alloc.details
    assert d["best_single_type"]["gpu_type"] == "A100-80GB"
    assert d["savings"]["A100-80GB"] == pytest.approx(1 - 5.69 / 7.34, abs=1e-6)
    assert d["savings"]["A10G"] == pytest.approx(1 - 5.69 / 12.12, abs=1e-6)
    assert len(d["assignment"]) == 4 and all(sum(a["slices"].values()) == 2 for a in d["assignment"])
    assert set(d["utilisation"]) == {"A10G", "A100-80GB"}
    assert sum(p.count for p in alloc.placements) == 3
    assert "22.5% cheaper" in alloc.explanation


def test_plot_data_in_details(example_problem):
    problem = example_problem.model_copy(update={"options": {**example_problem.options, "plot": True, "plot_points": 3}})
    plot = MelangeAllocator().allocate(problem).details["plot"]
    curve = plot["cost_curve"]
    assert len(curve["rates"]) == 3 and set(curve["baselines"]) == {"A10G", "A100-80GB"}
    # Mélange is never dearer than any single type at any rate
    for i, m in enumerate(curve["melange"]):
        assert all(m <= b[i] + 1e-9 for b in curve["baselines"].values() if b[i] is not None)
    assert plot["heatmap"]["best_gpu"]


def test_roofline_allocation_is_an_estimate(roofline_problem):
    alloc = MelangeAllocator().allocate(roofline_problem)
    assert alloc.feasible and alloc.details["estimate"] is True
    assert alloc.details["throughputs"]["source"] == "roofline"
    assert "roofline estimates" in alloc.explanation
    assert alloc.cost_per_hour <= min(b["cost_per_hour"] for b in alloc.details["baselines"].values() if b["feasible"])


def test_unservable_bucket_gives_infeasible_allocation(roofline_problem):
    problem = roofline_problem.model_copy(update={"slo": SLO(tpot_s=0.001)})
    alloc = MelangeAllocator().allocate(problem)
    assert not alloc.feasible and alloc.gpus == {}
    assert "'chat'" in alloc.explanation and "misses the SLO" in alloc.explanation
    assert alloc.details["infeasible"]["bucket"] == "chat"


def test_slo_tiers_change_the_answer(roofline_problem):
    base = MelangeAllocator().allocate(roofline_problem)
    tiers = {"slo_tiers": {"fast": {"tpot_s": 0.03}}, "request_tiers": {"chat": "fast"}}
    tiered = MelangeAllocator().allocate(roofline_problem.model_copy(
        update={"options": {**roofline_problem.options, **tiers}}))
    assert tiered.cost_per_hour > base.cost_per_hour
    assert next(a for a in tiered.details["assignment"] if a["bucket"] == "chat")["slo_tier"] == "fast"
    with pytest.raises(InvalidInputError, match="tier 'slow'"):
        MelangeAllocator().allocate(roofline_problem.model_copy(
            update={"options": {**roofline_problem.options, "request_tiers": {"chat": "slow"}}}))


def test_periods_give_one_allocation_each(example_problem):
    problem = example_problem.model_copy(update={"options": {**example_problem.options, "slice_factor": 2,
                                                            "period_rates": [7.5, 30.0, 0.0]}})
    alloc = MelangeAllocator().allocate(problem)
    periods = alloc.details["periods"]
    assert [p["rate"] for p in periods] == [7.5, 30.0, 0.0]
    assert periods[2]["gpus"] == {} and periods[1]["cost_per_hour"] == pytest.approx(5.69)
    assert alloc.cost_per_hour == pytest.approx(5.69) and alloc.details["peak_period"] == 1
    assert alloc.details["total_cost"] == pytest.approx(sum(p["cost_per_hour"] for p in periods))


def test_availability_caps_through_options(example_problem):
    problem = example_problem.model_copy(update={"options": {**example_problem.options, "slice_factor": 2,
                                                            "availability": {"A100-80GB": 0}}})
    alloc = MelangeAllocator().allocate(problem)
    assert alloc.gpus == {"A10G": 12}


@pytest.mark.parametrize(("options", "match"), [
    ({"availability": {"H100": 1}}, "unknown GPU type 'H100'"),
    ({"throughputs": {"A10G": [1, 1, 1, 1], "B200": [1, 1, 1, 1]}}, "unknown GPU type"),
    ({"throughputs": {"A10G": [1, 1, 1], "A100-80GB": [1, 1, 1, 1]}}, "3 entries for 4"),
    ({"throughputs": {"A10G": [1, 0, 1, 1], "A100-80GB": [1, 1, 1, 1]}}, "must be > 0"),
    ({"slice_factr": 2}, "slice_factr"),
    ({"solver": "gurobi"}, "solver"),
])
def test_bad_options_are_named(example_problem, options, match):
    problem = example_problem.model_copy(update={"options": {**example_problem.options, **options}})
    with pytest.raises(InvalidInputError, match=match):
        MelangeAllocator().allocate(problem)


def test_unknown_catalogue_gpu_name():
    problem = AllocationProblem(workload=Workload(requests=[RequestClass(input_tokens=10, output_tokens=10, rate=1)]),
                                options={"gpu_names": ["A10G", "TPUv9"], "model_name": "llama-2-7b"})
    with pytest.raises(InvalidInputError, match="unknown GPU type 'TPUv9'") as err:
        MelangeAllocator().allocate(problem)
    assert err.value.field == "options.gpu_names[1]"


def test_zero_price_gpu_is_an_error():
    problem = AllocationProblem(
        workload=Workload(requests=[RequestClass(input_tokens=10, output_tokens=10, rate=1)]),
        gpu_types=[GPUType(name="free", memory_gb=24, price_per_hour=0)], options={"throughputs": {"free": [1.0]}})
    with pytest.raises(InvalidInputError, match="prices must be > 0"):
        MelangeAllocator().allocate(problem)


def test_inline_profile_feeds_the_solver():
    pts = [{"input_tokens": 128, "output_tokens": 64, "rate": r, "requests": 4, "ttft_s": [0.1] * 4,
            "tpot_s": [t] * 4, "e2e_s": [1.0] * 4, "throughput_rps": r, "output_tokens_per_s": r * 64}
           for r, t in ((1, 0.02), (2, 0.03), (4, 0.09))]
    problem = AllocationProblem(
        workload=Workload(requests=[RequestClass(name="x", input_tokens=100, output_tokens=60, rate=5)]),
        slo=SLO(tpot_s=0.05),
        options={"profile": [{"header": {"gpu": "A10G", "model": "m"}, "points": pts}], "plot": False})
    alloc = MelangeAllocator().allocate(problem)
    assert alloc.gpus == {"A10G": 3}  # 2 req/s per GPU within 50 ms TPOT -> ceil(5/2)
    assert alloc.details["throughputs"]["source"] == "profile"


def test_tensor_parallel_groups_pay_multi_gpu_host_prices(roofline_problem):
    """A TP group must sit in one host; A10Gs come one per g5.xlarge but a group needs a 4-GPU host,
    which costs more per GPU. Pricing A10Gx2 as two g5.xlarge made it look 30% cheaper than it is."""
    from skyplex_melange.allocator import parse_options
    from skyplex_melange.catalogue import load_catalogue

    cat = load_catalogue()
    per_gpu = cat.multi_gpu_prices["A10G"][0]
    assert per_gpu > cat.gpu("A10G").price_per_hour
    alloc = MelangeAllocator()
    problem = roofline_problem.model_copy(update={"options": {**roofline_problem.options, "gpu_names": ["A10G", "A100-80GB"]}})
    inst, _ = alloc.build_instance(problem, parse_options(problem.options))
    prices = {o.name: o.price_per_hour for o in inst.offers}
    assert prices["A10G"] == cat.gpu("A10G").price_per_hour
    assert prices["A10Gx2"] == pytest.approx(2 * per_gpu)
    assert prices["A100-80GBx2"] == pytest.approx(2 * cat.gpu("A100-80GB").price_per_hour)  # sold in 8-GPU hosts anyway
    over = problem.model_copy(update={"options": {**problem.options, "multi_gpu_prices": {"A10G": 2.0}}})
    inst, _ = alloc.build_instance(over, parse_options(over.options))
    assert {o.name: o.price_per_hour for o in inst.offers}["A10Gx2"] == pytest.approx(4.0)
    bad = problem.model_copy(update={"options": {**problem.options, "multi_gpu_prices": {"H100": 2.0}}})
    with pytest.raises(InvalidInputError, match="multi-GPU price for unknown GPU type 'H100'"):
        alloc.build_instance(bad, parse_options(bad.options))
