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


# --- exact speed-ups: dominance, bounds, warm start ------------------------------------------------


def test_dominated_offer_is_dropped_only_without_caps():
    from skyplex_melange.solver import dominated_offers

    # B is dearer than A and never faster: dominated. C is dearer but faster on bucket 1: kept.
    inst = instance_from_tables([4.0, 2.0], {"A": 1.0, "B": 1.5, "C": 2.0},
                                {"A": [2.0, 1.0], "B": [2.0, None], "C": [1.0, 3.0]})
    assert dominated_offers(inst) == {1}
    # identical offers: the first one stays
    twins = instance_from_tables([1.0], {"A": 1.0, "B": 1.0}, {"A": [2.0], "B": [2.0]})
    assert dominated_offers(twins) == {1}
    # with a cap the dominator may be full, so nothing is dropped
    capped = instance_from_tables([4.0, 2.0], {"A": 1.0, "B": 1.5, "C": 2.0},
                                  {"A": [2.0, 1.0], "B": [2.0, None], "C": [1.0, 3.0]}, availability={"A": 1})
    assert dominated_offers(capped) == set()
    assert solve(capped).cost_per_hour == solve_reference(capped).cost_per_hour


@pytest.mark.parametrize("seed", range(12))
def test_speedups_keep_the_optimum(seed, make_random_instance):
    """Each speed-up off and on gives the same cost (and equals the binary reference)."""
    import skyplex_melange.solver as sv

    inst = make_random_instance(seed, buckets=5, gpus=4, slice_factor=4)
    plain = solve(inst, SolverSettings(speedups=sv.Speedups.none())).cost_per_hour
    fast = solve(inst).cost_per_hour
    for one in ("dominance", "bounds", "warm_start"):  # each alone, too
        only = sv.Speedups(**{k: k == one for k in ("dominance", "bounds", "warm_start")})
        assert solve(inst, SolverSettings(speedups=only)).cost_per_hour == pytest.approx(plain, abs=1e-9)
    assert fast == pytest.approx(plain, abs=1e-9)
    assert fast == pytest.approx(solve_reference(inst).cost_per_hour, abs=1e-9)


def test_greedy_start_is_feasible(make_random_instance):
    from skyplex_melange.solver import greedy_counts

    for seed in range(8):
        inst = make_random_instance(seed, buckets=5, gpus=3, slice_factor=8)
        counts = greedy_counts(inst, range(len(inst.offers)))
        assert counts is not None
        for b in inst.active():
            assert sum(counts[b].values()) == 8
            assert all(inst.max_rate[b][o] is not None for o in counts[b] if counts[b][o])


def test_highs_matches_cbc_on_presolve_trap():
    """A 6x6-bucket roofline instance on which HiGHS 1.16 with presolve reported $12.29 as optimal
    while $9.749 exists (CBC finds it); the plugin runs HiGHS without presolve."""
    import numpy as np
    import skyplex_melange.solver as sv
    from skyplex.interfaces import SLO
    from skyplex_melange.catalogue import load_catalogue
    from skyplex_melange.profiles import roofline_max_rate

    cat = load_catalogue()
    model, slo = cat.model("llama-2-7b"), SLO(tpot_s=0.12)
    shares = np.random.default_rng(0).dirichlet(np.ones(36))
    sizes = [(i, o) for i in (64, 128, 256, 512, 1024, 2048) for o in (32, 64, 128, 256, 512, 1024)]
    gpus = [cat.gpu(g) for g in ("L4", "A10G", "A100-80GB", "H100")]
    inst = sv.MelangeInstance(
        [sv.Bucket(f"{i}/{o}", float(10 * shares[n]), i, o) for n, (i, o) in enumerate(sizes)],
        [sv.Offer(g.name, g.name, g.price_per_hour) for g in gpus],
        [[roofline_max_rate(g, model, i, o, slo).max_rate for g in gpus] for i, o in sizes], slice_factor=16)
    plain = sv.Speedups.none()  # the model that tripped it
    cbc = solve(inst, SolverSettings(solver="cbc", speedups=plain)).cost_per_hour
    highs = solve(inst, SolverSettings(solver="highs", speedups=plain)).cost_per_hour
    assert highs == pytest.approx(cbc, abs=1e-9)
