"""Single-type baselines: the cheapest allocation using one GPU type only, and what a mix saves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .instance import LOAD_EPS, MelangeInfeasible, MelangeInstance
from .milp import SolverSettings


@dataclass
class Baseline:
    """The cheapest allocation that uses one GPU type only (``cost_per_hour`` None when it can't)."""

    gpu_type: str
    cost_per_hour: float | None
    gpus: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"gpu_type": self.gpu_type, "cost_per_hour": self.cost_per_hour, "gpus": self.gpus,
                "feasible": self.cost_per_hour is not None, "reason": self.reason}


def single_type_baselines(inst: MelangeInstance, settings: SolverSettings | None = None) -> dict[str, Baseline]:
    """For each GPU type, the cheapest allocation using only it, under the same caps and SLO.

    With one offer per type this is closed form (all traffic on it: ceil(sum_b r_b / T_b) units);
    with several (tensor-parallel variants) it is the same MIP restricted to that type.
    """
    out: dict[str, Baseline] = {}
    gpu_types = list(dict.fromkeys(o.gpu_type for o in inst.offers))
    for gpu_type in gpu_types:
        idx = [o for o, offer in enumerate(inst.offers) if offer.gpu_type == gpu_type]
        sub = MelangeInstance(
            buckets=inst.buckets,
            offers=[inst.offers[o] for o in idx],
            max_rate=[[row[o] for o in idx] for row in inst.max_rate],
            slice_factor=inst.slice_factor,
            availability={k: v for k, v in inst.availability.items() if k == gpu_type},
            max_gpus=inst.max_gpus,
            reasons={(b, idx.index(o)): r for (b, o), r in inst.reasons.items() if o in idx},
        )
        unservable = [inst.buckets[b].name for b in inst.active() if all(sub.max_rate[b][k] is None for k in range(len(idx)))]
        if unservable:
            out[gpu_type] = Baseline(gpu_type, None, 0, f"cannot serve bucket {unservable[0]!r} within the SLO")
            continue
        if len(idx) == 1:
            offer = sub.offers[0]
            load = sum(inst.buckets[b].rate / sub.max_rate[b][0] for b in inst.active())  # type: ignore[operator]
            units = math.ceil(load - LOAD_EPS) if load > LOAD_EPS else 0
            cap = sub.unit_cap(0)
            if cap is not None and units > cap:
                out[gpu_type] = Baseline(gpu_type, None, 0, f"needs {units * offer.gpus_per_unit} GPUs, caps allow {cap * offer.gpus_per_unit}")
            else:
                out[gpu_type] = Baseline(gpu_type, round(units * offer.price_per_hour, 10), units * offer.gpus_per_unit)
            continue
        from .solver import solve  # the full MIP, for types with several tensor-parallel offers

        try:
            sol = solve(sub, settings)
        except MelangeInfeasible as exc:
            out[gpu_type] = Baseline(gpu_type, None, 0, exc.message)
            continue
        out[gpu_type] = Baseline(gpu_type, sol.cost_per_hour, sum(sol.gpus.values()))
    return out


def savings(cost: float, baselines: dict[str, Baseline]) -> dict[str, float | None]:
    """Fraction saved against each feasible baseline: 1 - cost / baseline (None where infeasible)."""
    out: dict[str, float | None] = {}
    for name, base in baselines.items():
        if base.cost_per_hour is None or base.cost_per_hour <= 0:
            out[name] = None
        else:
            out[name] = 1.0 - cost / base.cost_per_hour
    return out


def best_baseline(baselines: dict[str, Baseline]) -> Baseline | None:
    """The cheapest feasible single-type baseline."""
    feasible = [b for b in baselines.values() if b.cost_per_hour is not None]
    return min(feasible, key=lambda b: (b.cost_per_hour, b.gpu_type)) if feasible else None
