"""Time-varying rates: re-place per period, paying for every model that moves, vs one placement.

Each period has its own per-LLM rates. ``static`` keeps one placement (optimised for the mean
rates) all day; ``replan`` optimises each period and moves to the new placement only if a trial simulation
(other arrivals than the scored ones) says it pays: an LLM whose mesh changes (size or neighbours)
cannot serve for ``weights / load_gib_per_s`` seconds at the start of the period (its requests
queue; their latency counts from arrival). SM shares and batch caps of LLMs that stay where they
are are re-tuned for free (weights stay loaded). Periods are simulated one by one,
each with its own arrivals and drain.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from skyplex.errors import InvalidInputError

from .catalogue import shape_of
from .placement import optimise
from .profiles import LatencyProfile
from .simulator import SimConfig, simulate
from .workload import MuxWorkload, PlacementPlan


DECIDE_SEED = 104729


def _homes(plan: PlacementPlan) -> dict[str, tuple[int, frozenset]]:
    return {x.name: (m.ngpus, frozenset(y.name for y in m.llms)) for m in plan.meshes for x in m.llms}


def moved_llms(before: PlacementPlan, after: PlacementPlan) -> list[str]:
    """LLMs whose mesh size or mesh neighbours differ between two placements (they must be reloaded)."""
    a, b = _homes(before), _homes(after)
    return sorted(n for n in b if a.get(n) != b[n])


def run_periods(wl: MuxWorkload, profile: LatencyProfile, period_rates: list[dict[str, float]], period_s: float = 30.0,
                load_gib_per_s: float = 2.0, seed: int = 0) -> dict[str, Any]:
    """Goodput per period for a static placement and for re-placing every period (with move costs)."""
    if not period_rates:
        raise InvalidInputError("give at least one period of rates", field="periods")
    names = [m.name for m in wl.llms]
    for i, rates in enumerate(period_rates):
        missing = sorted(set(names) - set(rates))
        if missing:
            raise InvalidInputError(f"period {i} gives no rate for LLM(s) {missing}", field=f"periods[{i}]")
    mean = {n: sum(r[n] for r in period_rates) / len(period_rates) for n in names}
    static, _ = optimise(_with_rates(wl, mean), profile)
    out: dict[str, Any] = {"static": [], "replan": [], "moves": []}
    prev = static
    for i, rates in enumerate(period_rates):
        pwl = _with_rates(wl, rates)
        cfg = SimConfig(seed=seed + i, duration_s=period_s)
        out["static"].append(simulate(static, pwl, profile, cfg).goodput)
        plan, _ = optimise(pwl, profile)
        moved = moved_llms(prev, plan)
        wait = {n: shape_of(pwl.by_name()[n].model).weight_gib / load_gib_per_s for n in moved}
        # move only if it pays: judge both options on other arrivals than the ones scored below
        trial = SimConfig(seed=DECIDE_SEED + i, duration_s=period_s)
        if moved and simulate(plan, pwl, profile, replace(trial, unavailable_s=wait)).goodput <= \
                simulate(prev, pwl, profile, trial).goodput:
            plan, moved, wait = prev, [], {}
        out["replan"].append(simulate(plan, pwl, profile, replace(cfg, unavailable_s=wait)).goodput)
        out["moves"].append(moved)
        prev = plan
    out["static_total"] = sum(out["static"])
    out["replan_total"] = sum(out["replan"])
    return out


def _with_rates(wl: MuxWorkload, rates: dict[str, float]) -> MuxWorkload:
    return replace(wl, llms=[replace(m, rate=float(rates[m.name])) for m in wl.llms])
