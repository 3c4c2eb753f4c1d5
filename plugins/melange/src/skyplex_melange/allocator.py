"""The ``melange`` allocator: an ``AllocationProblem`` in, the cheapest GPU mix out.

Everything Mélange needs rides in the kernel's ``AllocationProblem``: ``workload.requests`` are the
buckets (lengths and rates), ``gpu_types`` the candidates (empty: the catalogue), ``slo`` the latency
target, ``model`` the model for roofline estimates, ``max_gpus`` a total cap, and ``options`` the rest
(see :class:`MelangeOptions`). Where each bucket's max rate per GPU comes from, first match wins:
``options.throughputs`` (tables given directly), ``options.profile`` (measured profile files or inline
profiles), else a roofline estimate from ``model`` (marked ``estimate: true``).
"""

from __future__ import annotations

import logging
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import Allocation, AllocationProblem, Allocator, Placement

from .baselines import best_baseline, savings, single_type_baselines
from .instance import MelangeInfeasible, MelangeInstance
from .milp import Solution, SolverSettings
from .options import MelangeOptions, bucket_names, parse_options
from .plot import best_type_heatmap, cost_curve, default_rates
from .problems import load_problem, problem_from_paper_format
from .solver import solve
from .throughputs import build_instance

__all__ = ["MelangeAllocator", "MelangeOptions", "bucket_names", "load_problem", "parse_options",
           "problem_from_paper_format"]

log = logging.getLogger(__name__)


class MelangeAllocator(Allocator):
    """Mélange: the cheapest mix of GPU types that serves a workload within its latency SLO."""

    name = "melange"

    def __init__(self, kernel: Any = None, catalogue: str | None = None, **defaults: Any) -> None:
        self._kernel = kernel
        self._catalogue_path = catalogue
        self._defaults = defaults  # options from the settings file apply unless a problem overrides them

    def build_instance(self, problem: AllocationProblem, opts: MelangeOptions) -> tuple[MelangeInstance, dict[str, Any]]:
        """The solver's instance for ``problem``, and a description of where its throughputs came from."""
        return build_instance(problem, opts, self._catalogue_path)

    # --- allocating --------------------------------------------------------------------------------
    def _options(self, problem: AllocationProblem) -> MelangeOptions:
        return parse_options({**self._defaults, **problem.options})

    def allocate(self, problem: AllocationProblem) -> Allocation:
        """The cheapest allocation; ``feasible=False`` with the reason when none meets the SLO."""
        opts = self._options(problem)
        settings = SolverSettings(opts.solver, opts.time_limit_s, opts.gap)
        inst, source = self.build_instance(problem, opts)
        if opts.period_rates is not None:
            return self._allocate_periods(problem, opts, inst, source, settings)
        return self._allocate_one(problem, opts, inst, source, settings)

    def _allocate_one(self, problem: AllocationProblem, opts: MelangeOptions, inst: MelangeInstance,
                      source: dict[str, Any], settings: SolverSettings, plot: bool | None = None) -> Allocation:
        try:
            sol = solve(inst, settings)
        except MelangeInfeasible as exc:
            return Allocation(allocator=self.name, gpus={}, cost_per_hour=0.0, feasible=False,
                              explanation=exc.message,
                              details={"infeasible": {"bucket": exc.bucket, "field": exc.field},
                                       "throughputs": self._table_details(inst, source)})
        baselines = single_type_baselines(inst, settings)
        best = best_baseline(baselines)
        details: dict[str, Any] = {
            "status": sol.status,
            "formulation": "count",
            "solver": settings.solver,
            "solve_time_s": round(sol.solve_time_s, 4),
            "slice_factor": inst.slice_factor,
            "offers": [{"name": o.name, "gpu_type": o.gpu_type, "gpus_per_unit": o.gpus_per_unit,
                        "price_per_hour": o.price_per_hour} for o in inst.offers],
            "units": sol.units,
            "assignment": self._assignment(problem, opts, inst, sol),
            "utilisation": {k: round(v, 6) for k, v in sol.utilisation.items()},
            "baselines": {k: v.to_dict() for k, v in baselines.items()},
            "savings": {k: (round(v, 6) if v is not None else None) for k, v in savings(sol.cost_per_hour, baselines).items()},
            "best_single_type": best.to_dict() if best else None,
            "savings_vs_best_single_type": (round(1 - sol.cost_per_hour / best.cost_per_hour, 6)
                                            if best and best.cost_per_hour else None),
            "throughputs": self._table_details(inst, source),
            "estimate": bool(source.get("estimate")),
        }
        if opts.plot if plot is None else plot:
            details["plot"] = self.plot_data(inst, opts, settings)
        return Allocation(
            allocator=self.name,
            gpus=sol.gpus,
            cost_per_hour=sol.cost_per_hour,
            placements=self._placements(problem, inst, sol),
            feasible=True,
            explanation=self._explain(inst, sol, best, source),
            details=details,
        )

    def _allocate_periods(self, problem: AllocationProblem, opts: MelangeOptions, inst: MelangeInstance,
                          source: dict[str, Any], settings: SolverSettings) -> Allocation:
        """One allocation per period; the top level is the most expensive period (what to be able to
        provision at peak), and ``details['periods']`` lists them all."""
        total = sum(b.rate for b in inst.buckets)
        if total <= 0:
            raise InvalidInputError("period_rates scale the workload's mix, but its total rate is 0",
                                    field="workload.requests")
        from .plot import scaled

        periods, allocations = [], []
        for p, rate in enumerate(opts.period_rates or []):
            if rate < 0:
                raise InvalidInputError(f"period {p} has rate {rate}; rates are >= 0", field=f"options.period_rates[{p}]")
            alloc = self._allocate_one(problem, opts, scaled(inst, rate / total), source, settings, plot=False)
            allocations.append(alloc)
            best = (alloc.details.get("best_single_type") or {}).get("cost_per_hour")
            periods.append({"period": p, "rate": rate, "feasible": alloc.feasible, "gpus": alloc.gpus,
                            "cost_per_hour": alloc.cost_per_hour, "best_single_type_cost_per_hour": best,
                            "explanation": alloc.explanation})
        if not allocations:
            raise InvalidInputError("period_rates is empty", field="options.period_rates")
        infeasible = [a for a in allocations if not a.feasible]
        peak = infeasible[0] if infeasible else max(allocations, key=lambda a: a.cost_per_hour)
        details = dict(peak.details)
        details["periods"] = periods
        details["period_hours"] = opts.period_hours
        details["total_cost"] = round(sum(a.cost_per_hour for a in allocations) * opts.period_hours, 6)
        details["peak_period"] = allocations.index(peak)
        if opts.plot and peak.feasible:
            details["plot"] = self.plot_data(inst, opts, settings)
        return peak.model_copy(update={
            "details": details,
            "explanation": f"{len(periods)} periods; peak period {allocations.index(peak)}: {peak.explanation}",
        })

    # --- reporting -----------------------------------------------------------------------------------
    def plot_data(self, inst: MelangeInstance, opts: MelangeOptions, settings: SolverSettings) -> dict[str, Any]:
        total = sum(b.rate for b in inst.buckets)
        out: dict[str, Any] = {"heatmap": best_type_heatmap(inst, length_units=opts.length_units)}
        if total > 0:
            out["cost_curve"] = cost_curve(inst, default_rates(total, opts.plot_points), settings)
        return out

    @staticmethod
    def _assignment(problem: AllocationProblem, opts: MelangeOptions, inst: MelangeInstance, sol: Solution) -> list[dict[str, Any]]:
        tiers = {**problem.workload.metadata.get("request_tiers", {}), **opts.request_tiers}
        return [{"bucket": b.name, "input_tokens": b.input_tokens, "output_tokens": b.output_tokens, "rate": b.rate,
                 "slo_tier": tiers.get(b.name), "slices": sol.slices[i], "share": sol.share(i)}
                for i, b in enumerate(inst.buckets)]

    @staticmethod
    def _table_details(inst: MelangeInstance, source: dict[str, Any]) -> dict[str, Any]:
        return {**source, "max_rate": {o.name: [row[j] for row in inst.max_rate] for j, o in enumerate(inst.offers)},
                "buckets": [b.name for b in inst.buckets],
                "reasons": {f"{inst.buckets[b].name} @ {inst.offers[o].name}": r for (b, o), r in inst.reasons.items()}}

    @staticmethod
    def _placements(problem: AllocationProblem, inst: MelangeInstance, sol: Solution) -> list[Placement]:
        model = [problem.model.name] if problem.model else []
        out = []
        for o in inst.offers:
            units = sol.units.get(o.name, 0)
            if not units:
                continue
            share = {b.name: sol.slices[i].get(o.name, 0) / inst.slice_factor
                     for i, b in enumerate(inst.buckets) if sol.slices[i].get(o.name)}
            out.append(Placement(gpu_type=o.gpu_type, count=units * o.gpus_per_unit, models=model,
                                 request_classes=list(share), share=share,
                                 utilisation=round(sol.utilisation.get(o.name, 0.0), 6)))
        return out

    @staticmethod
    def _explain(inst: MelangeInstance, sol: Solution, best: Any, source: dict[str, Any]) -> str:
        if not sol.units:
            return "no traffic: no GPUs needed"
        mix = " + ".join(f"{n} {o}" for o, n in sorted(sol.units.items()))
        total = sum(b.rate for b in inst.buckets)
        text = f"{mix} = ${sol.cost_per_hour:.2f}/h serves {total:g} req/s"
        if best is not None and best.cost_per_hour:
            pct = 100 * (1 - sol.cost_per_hour / best.cost_per_hour)
            text += f"; {pct:.1f}% cheaper than the best single type ({best.gpu_type}, ${best.cost_per_hour:.2f}/h)"
        if sol.status != "optimal":
            text += "; stopped at the time limit or gap, so possibly not optimal"
        if source.get("estimate"):
            text += " (throughputs are roofline estimates: measure before buying)"
        return text
