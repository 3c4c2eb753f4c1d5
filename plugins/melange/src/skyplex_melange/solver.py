"""Mélange's cost-aware bin packing, as an integer program.

Bins are GPU offers (a GPU type, or a tensor-parallel group of them) with an hourly price; items are
slices of request-size buckets. Bucket ``b`` arrives at ``r_b`` req/s and is cut into ``S`` equal
slices (the slice factor); one unit of offer ``o`` sustains at most ``T[b][o]`` req/s of bucket ``b``
within the SLO, so a slice placed on ``o`` uses ``(r_b / S) / T[b][o]`` of one unit.

Two formulations of the same optimum live here:

* :func:`solve` (the one to use). Slices of one bucket are interchangeable, so instead of one binary
  per (slice, offer) it keeps one integer ``n[b][o]`` in ``[0, S]``: how many of bucket ``b``'s slices
  go to ``o``. Constraints: ``sum_o n[b][o] = S`` for every bucket; ``sum_b n[b][o] * (r_b/S)/T[b][o]
  <= y[o]`` with integer ``y[o]`` units; minimise ``sum_o price_o * y[o]``. The size no longer grows
  with ``S`` and the slice symmetry the binary form has to branch through is gone.
* :func:`solve_reference` — the paper's binary-per-slice model, written from its description, kept
  to check :func:`solve` against and for the scale benchmark. Do not use it for real instances.

Both go through PuLP, with CBC (default) or HiGHS (``highspy``).
The instance lives in :mod:`.instance`, the PuLP plumbing in :mod:`.milp`, the exact pruning in
:mod:`.pruning` and the single-type baselines in :mod:`.baselines`; their names are importable from
here too.
"""

from __future__ import annotations

import math
from typing import Any

from .baselines import Baseline, best_baseline, savings, single_type_baselines
from .instance import LOAD_EPS, Bucket, MelangeInfeasible, MelangeInstance, Offer, SolverError, instance_from_tables
from .milp import Solution, SolverName, SolverSettings, Speedups, add_unit_constraints, finish, new_var, run
from .pruning import dominated_offers, greedy_counts, unit_bound

__all__ = [
    "LOAD_EPS",
    "Baseline",
    "Bucket",
    "MelangeInfeasible",
    "MelangeInstance",
    "Offer",
    "Solution",
    "SolverError",
    "SolverName",
    "SolverSettings",
    "Speedups",
    "best_baseline",
    "dominated_offers",
    "greedy_counts",
    "instance_from_tables",
    "savings",
    "single_type_baselines",
    "solve",
    "solve_reference",
]


def solve(inst: MelangeInstance, settings: SolverSettings | None = None) -> Solution:
    """The cheapest allocation, by the count formulation (see the module docstring).

    Three exact speed-ups, each measured in ``benchmarks/melange_scale.py``: offers dominated on
    every bucket are dropped (:func:`dominated_offers`); every ``y[o]`` gets the upper bound
    ``min(ceil(all the traffic o can serve / its rates), floor(incumbent cost / price_o))``; and a
    greedy allocation (:func:`greedy_counts`) is handed to CBC as a warm start and bounds the cost
    for both solvers. None of them can cut off an optimal solution.
    """
    import pulp

    settings = settings or SolverSettings()
    settings.validate()
    inst.validate()
    inst.check_servable()
    S = inst.slice_factor
    active = inst.active()
    if not active:  # no traffic: nothing to rent
        return finish(inst, [{} for _ in inst.buckets], "optimal", 0.0, "count")

    dropped = dominated_offers(inst) if settings.speedups.dominance else set()
    keep = [o for o in range(len(inst.offers)) if o not in dropped and inst.unit_cap(o) != 0]
    start = greedy_counts(inst, keep) if (settings.speedups.bounds or settings.speedups.warm_start) else None
    incumbent = None
    if start is not None:
        incumbent = finish(inst, start, "feasible", 0.0, "greedy").cost_per_hour
    prob = pulp.LpProblem("melange_count", pulp.LpMinimize)
    y = {}
    for o in keep:
        up = inst.unit_cap(o)
        if settings.speedups.bounds:
            bounds = [unit_bound(inst, o, active)]
            if incumbent is not None:
                # c_o * y_o <= total cost <= incumbent in any solution at least as good as the start
                bounds.append(int(math.floor(incumbent / inst.offers[o].price_per_hour + 1e-9)))
            up = min([u for u in (up, *bounds) if u is not None])
        y[o] = new_var(prob, f"y_{o}", 0, up, "Integer")
    n: dict[tuple[int, int], Any] = {}
    for b in active:
        for o in keep:
            if inst.max_rate[b][o] is not None and y[o].upBound != 0:
                n[b, o] = new_var(prob, f"n_{b}_{o}", 0, S, "Integer")
    prob += pulp.lpSum(inst.offers[o].price_per_hour * y[o] for o in y)
    for b in active:
        prob += pulp.lpSum(n[b, o] for o in keep if (b, o) in n) == S, f"place_{b}"
    for o in y:
        terms = [n[b, o] * (inst.buckets[b].rate / S / inst.max_rate[b][o]) for b in active if (b, o) in n]  # type: ignore[operator]
        if terms:
            prob += pulp.lpSum(terms) <= y[o], f"load_{o}"
    add_unit_constraints(prob, inst, y)
    warm = False
    if start is not None and settings.speedups.warm_start:
        start_load = [0.0] * len(inst.offers)
        for b in active:
            for o, k in start[b].items():
                start_load[o] += k * inst.buckets[b].rate / S / inst.max_rate[b][o]  # type: ignore[operator]
        for o in y:
            y[o].setInitialValue(math.ceil(start_load[o] - LOAD_EPS) if start_load[o] > LOAD_EPS else 0)
        for (b, o), var in n.items():
            var.setInitialValue(start[b].get(o, 0))
        warm = True
    status, elapsed, own = run(prob, inst, settings, "count formulation", warm_start=warm)
    counts = [{o: int(round(n[b, o].value() or 0)) for o in keep if (b, o) in n}
              for b in range(len(inst.buckets))]
    return finish(inst, counts, status, elapsed, "count", own)


def solve_reference(inst: MelangeInstance, settings: SolverSettings | None = None) -> Solution:
    """The paper's binary-per-slice model: x[b][s][o] = 1 puts slice s of bucket b on offer o.

    Same optimum as :func:`solve`; its size grows with the slice factor and its slices are
    interchangeable, so branch and bound explores many equivalent solutions. For checks only.
    """
    import pulp

    settings = settings or SolverSettings()
    settings.validate()
    inst.validate()
    inst.check_servable()
    S = inst.slice_factor
    active = inst.active()
    if not active:
        return finish(inst, [{} for _ in inst.buckets], "optimal", 0.0, "binary")
    prob = pulp.LpProblem("melange_binary", pulp.LpMinimize)
    y = {o: new_var(prob, f"y_{o}", 0, inst.unit_cap(o), "Integer")
         for o in range(len(inst.offers))}
    x: dict[tuple[int, int, int], Any] = {}
    for b in active:
        for s in range(S):
            for o, t in enumerate(inst.max_rate[b]):
                if t is not None and inst.unit_cap(o) != 0:
                    x[b, s, o] = new_var(prob, f"x_{b}_{s}_{o}", 0, 1, "Binary")
    prob += pulp.lpSum(inst.offers[o].price_per_hour * y[o] for o in y)
    for b in active:
        for s in range(S):
            prob += pulp.lpSum(x[b, s, o] for o in range(len(inst.offers)) if (b, s, o) in x) == 1, f"place_{b}_{s}"
    for o in y:
        terms = [x[b, s, o] * (inst.buckets[b].rate / S / inst.max_rate[b][o])  # type: ignore[operator]
                 for b in active for s in range(S) if (b, s, o) in x]
        if terms:
            prob += pulp.lpSum(terms) <= y[o], f"load_{o}"
    add_unit_constraints(prob, inst, y)
    status, elapsed, own = run(prob, inst, settings, "binary formulation")
    counts = [
        {o: sum(int(round(x[b, s, o].value() or 0)) for s in range(S) if (b, s, o) in x) for o in range(len(inst.offers))}
        for b in range(len(inst.buckets))
    ]
    return finish(inst, counts, status, elapsed, "binary", own)
