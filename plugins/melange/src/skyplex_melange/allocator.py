"""The ``melange`` allocator: an ``AllocationProblem`` in, the cheapest GPU mix out.

Everything Mélange needs rides in the kernel's ``AllocationProblem``: ``workload.requests`` are the
buckets (lengths and rates), ``gpu_types`` the candidates (empty: the catalogue), ``slo`` the latency
target, ``model`` the model for roofline estimates, ``max_gpus`` a total cap, and ``options`` the rest
(see :class:`MelangeOptions`). Where each bucket's max rate per GPU comes from, first match wins:
``options.throughputs`` (tables given directly), ``options.profile`` (measured profile files or inline
profiles), else a roofline estimate from ``model`` (marked ``estimate: true``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from skyplex.errors import InvalidInputError
from skyplex.interfaces import (
    SLO,
    Allocation,
    AllocationProblem,
    Allocator,
    GPUType,
    ModelSpec,
    Placement,
    SkyplexModel,
    Workload,
)

from .catalogue import Catalogue, load_catalogue
from .plot import best_type_heatmap, cost_curve, default_rates
from .profiles import (
    Profile,
    ProfileHeader,
    ProfilePoint,
    RooflineAssumptions,
    lookup_rate,
    max_rate_table,
    min_tensor_parallel,
    read_profile,
    roofline_max_rate,
)
from .solver import (
    Bucket,
    MelangeInfeasible,
    MelangeInstance,
    Offer,
    Solution,
    SolverSettings,
    best_baseline,
    savings,
    single_type_baselines,
    solve,
)
from .workload import histogram_workload, scale_workload

log = logging.getLogger(__name__)


class MelangeOptions(SkyplexModel):
    """``AllocationProblem.options`` understood by ``melange`` (unknown keys are errors)."""

    slice_factor: int = Field(default=8, ge=1, le=4096, description="Slices per bucket (S); 1 = whole buckets.")
    solver: Literal["cbc", "highs"] = "cbc"
    time_limit_s: float | None = Field(default=60.0, gt=0)
    gap: float = Field(default=0.0, ge=0, lt=1, description="Accepted relative MIP gap (0 = optimum).")
    throughputs: dict[str, list[float | None]] | None = Field(
        default=None,
        description="GPU type -> max req/s of one GPU per request class (workload order), within the "
        "SLO; null = cannot serve.",
    )
    profile: list[str | dict[str, Any]] | None = Field(
        default=None, description="Measured profiles: file paths (server-side) or inline {header, points}."
    )
    availability: dict[str, int] = Field(default_factory=dict, description="GPU type -> most GPUs to be had.")
    gpu_names: list[str] = Field(default_factory=list, description="Catalogue GPU names, when gpu_types is empty.")
    catalogue: str | None = Field(default=None, description="Path of a catalogue JSON file to use instead.")
    prices: dict[str, float] = Field(default_factory=dict, description="Price overrides, USD/h per GPU.")
    multi_gpu_prices: dict[str, float] = Field(
        default_factory=dict, description="USD/h per GPU in a multi-GPU host, for tensor-parallel groups (default: "
        "the catalogue's, else the one-GPU price).")
    model_name: str | None = Field(default=None, description="A model preset (e.g. 'llama-2-7b') when model is unset.")
    slo_tiers: dict[str, SLO] = Field(default_factory=dict, description="Named SLOs for tiers of requests.")
    request_tiers: dict[str, str] = Field(default_factory=dict, description="Request class name -> SLO tier.")
    period_rates: list[float] | None = Field(default=None, description="Total req/s per period (e.g. hourly).")
    period_hours: float = Field(default=1.0, gt=0)
    tensor_parallel: Literal["auto"] | int = Field(
        default="auto", description="GPUs per replica for roofline offers; 'auto' offers the smallest power-of-two "
        "group that holds the weights and twice that."
    )
    roofline: dict[str, float] = Field(default_factory=dict, description="RooflineAssumptions overrides.")
    plot: bool = Field(default=True, description="Put plot data (cost curve, heatmap) in details.")
    plot_points: int = Field(default=6, ge=2, le=50)


def parse_options(raw: dict[str, Any]) -> MelangeOptions:
    try:
        return MelangeOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"option {where!r}: {first['msg']}", field=f"options.{where}") from exc


def _bucket_names(workload: Workload) -> list[str]:
    names, seen = [], set()
    for i, r in enumerate(workload.requests):
        name = r.name or f"in{r.input_tokens}/out{r.output_tokens}"
        if name in seen:
            name = f"{name}#{i}"
        seen.add(name)
        names.append(name)
    return names


class MelangeAllocator(Allocator):
    """Mélange: the cheapest mix of GPU types that serves a workload within its latency SLO."""

    name = "melange"

    def __init__(self, kernel: Any = None, catalogue: str | None = None, **defaults: Any) -> None:
        self._kernel = kernel
        self._catalogue_path = catalogue
        self._defaults = defaults  # options from the settings file apply unless a problem overrides them

    # --- building the instance -------------------------------------------------------------------
    def _catalogue(self, opts: MelangeOptions) -> Catalogue:
        cat = load_catalogue(opts.catalogue or self._catalogue_path)
        return cat.with_prices(opts.prices) if opts.prices else cat

    def _profiles(self, opts: MelangeOptions) -> list[Profile]:
        out = []
        for i, item in enumerate(opts.profile or []):
            if isinstance(item, str):
                out.append(read_profile(Path(item).expanduser()))
            else:
                try:
                    out.append(Profile(ProfileHeader(**item["header"]), [ProfilePoint(**p) for p in item["points"]]))
                except (KeyError, TypeError) as exc:
                    raise InvalidInputError(f"inline profile {i} needs 'header' and 'points': {exc}",
                                            field=f"options.profile[{i}]") from exc
        return out

    def _gpus(self, problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue,
              profiles: list[Profile]) -> list[GPUType]:
        if problem.gpu_types:
            gpus = list(problem.gpu_types)
            for g in gpus:
                if g.name in opts.prices:
                    raise InvalidInputError(f"price of {g.name!r} is given twice (gpu_types and options.prices)",
                                            field=f"options.prices.{g.name}")
        elif opts.gpu_names:
            gpus = [cat.gpu(n, field_name=f"options.gpu_names[{i}]") for i, n in enumerate(opts.gpu_names)]
        elif opts.throughputs:
            gpus = [cat.gpu(n, field_name=f"options.throughputs.{n}") for n in opts.throughputs]
        elif profiles:
            gpus = list({p.header.gpu: cat.gpu(p.header.gpu, field_name="options.profile") for p in profiles}.values())
        else:
            gpus = list(cat.gpus.values())
        for g in gpus:
            if g.price_per_hour <= 0:
                raise InvalidInputError(f"GPU type {g.name!r} has price {g.price_per_hour}; prices must be > 0",
                                        field=f"gpu_types.{g.name}.price_per_hour")
        return gpus

    @staticmethod
    def _group_price(gpu: GPUType, tp: int, problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue) -> float:
        """Hourly price of one replica of ``tp`` GPUs. A tensor-parallel group must sit in one host
        (its GPUs exchange activations every layer), and where a type is also sold one GPU per
        instance the multi-GPU hosts usually cost more per GPU: ``options.multi_gpu_prices``, else the
        catalogue's figure (for catalogue GPUs only), else the one-GPU price."""
        if tp == 1:
            return gpu.price_per_hour
        if gpu.name in opts.multi_gpu_prices:
            per_gpu = opts.multi_gpu_prices[gpu.name]
            if not isinstance(per_gpu, (int, float)) or not per_gpu > 0:
                raise InvalidInputError(f"multi-GPU price for {gpu.name!r} must be > 0 USD per GPU-hour, got {per_gpu!r}",
                                        field=f"options.multi_gpu_prices.{gpu.name}")
            return tp * float(per_gpu)
        if not problem.gpu_types:
            return cat.group_price(gpu, tp)
        return tp * gpu.price_per_hour

    def _slos(self, problem: AllocationProblem, opts: MelangeOptions, names: list[str]) -> tuple[list[SLO], list[str | None]]:
        tiers_of = {**problem.workload.metadata.get("request_tiers", {}), **opts.request_tiers}
        unknown = set(tiers_of) - set(names)
        if unknown:
            raise InvalidInputError(f"request_tiers names unknown request class(es): {', '.join(sorted(unknown))}",
                                    field="options.request_tiers")
        slos, tiers = [], []
        for n in names:
            tier = tiers_of.get(n)
            if tier is not None and tier not in opts.slo_tiers:
                raise InvalidInputError(f"request class {n!r} is in SLO tier {tier!r}, which options.slo_tiers "
                                        f"does not define (tiers: {', '.join(sorted(opts.slo_tiers)) or 'none'})",
                                        field=f"options.request_tiers.{n}")
            slos.append(opts.slo_tiers[tier] if tier is not None else problem.slo)
            tiers.append(tier)
        return slos, tiers

    def _model(self, problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue) -> ModelSpec:
        if problem.model is not None:
            return problem.model
        if opts.model_name:
            return cat.model(opts.model_name)
        if problem.workload.models:
            return problem.workload.models[0]
        raise InvalidInputError(
            "Mélange needs each bucket's max rate per GPU: give options.throughputs (tables), options.profile "
            "(measured profiles), or a model (problem.model or options.model_name) for a roofline estimate",
            field="model",
        )

    def build_instance(self, problem: AllocationProblem, opts: MelangeOptions) -> tuple[MelangeInstance, dict[str, Any]]:
        """The solver's instance for ``problem``, and a description of where its throughputs came from."""
        cat = self._catalogue(opts)
        profiles = self._profiles(opts)
        gpus = self._gpus(problem, opts, cat, profiles)
        names = _bucket_names(problem.workload)
        reqs = problem.workload.requests
        buckets = [Bucket(n, r.rate, r.input_tokens, r.output_tokens) for n, r in zip(names, reqs)]
        slos, _ = self._slos(problem, opts, names)
        gpu_names = {g.name for g in gpus}
        for name in opts.multi_gpu_prices:
            if name not in gpu_names:
                raise InvalidInputError(f"multi-GPU price for unknown GPU type {name!r}; the problem's GPU types "
                                        f"are {', '.join(sorted(gpu_names))}", field=f"options.multi_gpu_prices.{name}")
        for name in opts.availability:
            if name not in gpu_names:
                raise InvalidInputError(f"availability cap for unknown GPU type {name!r}; the problem's GPU types "
                                        f"are {', '.join(sorted(gpu_names))}", field=f"options.availability.{name}")
        offers: list[Offer] = []
        table: list[list[float | None]] = [[] for _ in buckets]
        reasons: dict[tuple[int, int], str] = {}
        source: dict[str, Any]
        if opts.throughputs is not None:
            extra = set(opts.throughputs) - gpu_names
            if extra:
                raise InvalidInputError(f"throughputs given for unknown GPU type(s) {', '.join(sorted(extra))}; "
                                        f"the problem's GPU types are {', '.join(sorted(gpu_names))}",
                                        field=f"options.throughputs.{sorted(extra)[0]}")
            for g in gpus:
                rates = opts.throughputs.get(g.name)
                if rates is None:
                    raise InvalidInputError(f"GPU type {g.name!r} has no throughput table", field=f"options.throughputs.{g.name}")
                if len(rates) != len(buckets):
                    raise InvalidInputError(f"throughput table of {g.name!r} has {len(rates)} entries for "
                                            f"{len(buckets)} request classes", field=f"options.throughputs.{g.name}")
                offers.append(Offer(g.name, g.name, g.price_per_hour))
                for b in range(len(buckets)):
                    table[b].append(rates[b])
            source = {"source": "tables", "estimate": False}
        elif profiles:
            by_gpu: dict[str, list[Profile]] = {}
            for p in profiles:
                by_gpu.setdefault(p.header.gpu, []).append(p)
            for g in gpus:
                if g.name not in by_gpu:
                    raise InvalidInputError(f"GPU type {g.name!r} has no profile (profiles cover "
                                            f"{', '.join(sorted(by_gpu))})", field="options.profile")
                merged = Profile(by_gpu[g.name][0].header, [pt for p in by_gpu[g.name] for pt in p.points])
                offers.append(Offer(g.name, g.name, g.price_per_hour))
                o = len(offers) - 1
                cache: dict[int, dict] = {}
                for b, bucket in enumerate(buckets):
                    key = id(slos[b])
                    if key not in cache:
                        cache[key] = max_rate_table(merged, slos[b])
                    rate = lookup_rate(cache[key], bucket.input_tokens or 0, bucket.output_tokens or 1)
                    table[b].append(rate)
                    if rate is None:
                        reasons[(b, o)] = "no measured rate met the SLO"
            source = {"source": "profile", "estimate": any(p.header.estimate for p in profiles)}
        else:
            model = self._model(problem, opts, cat)
            try:
                assumptions = RooflineAssumptions(**opts.roofline)
            except TypeError as exc:
                raise InvalidInputError(f"unknown roofline assumption: {exc}", field="options.roofline") from exc
            for g in gpus:
                if g.bandwidth_gbps is None or g.peak_tflops is None:
                    known = cat.gpus.get(g.name)
                    if known is None or known.bandwidth_gbps is None or known.peak_tflops is None:
                        raise InvalidInputError(
                            f"GPU type {g.name!r} has no bandwidth_gbps/peak_tflops and is not in the catalogue; "
                            "give them for a roofline estimate", field=f"gpu_types.{g.name}")
                    g = g.model_copy(update={"bandwidth_gbps": known.bandwidth_gbps, "peak_tflops": known.peak_tflops})
                if opts.tensor_parallel == "auto":
                    smallest = min_tensor_parallel(g, model, assumptions)
                    # the smallest group that holds the weights, and twice that (more room for KV cache)
                    tps = [t for t in (1, 2, 4, 8) if smallest is not None and smallest <= t <= 2 * smallest] or [1]
                else:
                    tps = [int(opts.tensor_parallel)]
                for tp in tps:
                    price = self._group_price(g, tp, problem, opts, cat)
                    offers.append(Offer(g.name if tp == 1 else f"{g.name}x{tp}", g.name, price, tp))
                    o = len(offers) - 1
                    for b, bucket in enumerate(buckets):
                        est = roofline_max_rate(g, model, bucket.input_tokens or 0, bucket.output_tokens or 1, slos[b],
                                                tensor_parallel=tp, assumptions=assumptions)
                        table[b].append(est.max_rate)
                        if est.max_rate is None:
                            reasons[(b, o)] = est.reason
            source = {"source": "roofline", "estimate": True, "model": model.name,
                      "assumptions": assumptions.__dict__}
        cap = dict(opts.availability)
        inst = MelangeInstance(buckets, offers, table, opts.slice_factor, cap, problem.max_gpus, reasons)
        return inst, source

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
        out: dict[str, Any] = {"heatmap": best_type_heatmap(inst)}
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


def problem_from_paper_format(data: dict[str, Any] | str | Path) -> AllocationProblem:
    """An ``AllocationProblem`` from the paper's JSON shape: ``gpu_info`` {name: {cost, tputs[i][k]}},
    ``workload_distribution`` [i][k] summing to 1, ``total_request_rate``, ``slice_factor``."""
    if not isinstance(data, dict):
        data = json.loads(Path(data).read_text())
    try:
        gpu_info, dist, rate = data["gpu_info"], data["workload_distribution"], float(data["total_request_rate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"paper-format problem needs gpu_info, workload_distribution and "
                                f"total_request_rate: {exc}", field="problem") from exc
    workload = histogram_workload(dist, rate)
    shape = (len(dist), len(dist[0]))
    gpu_types, tables = [], {}
    catalogue = load_catalogue()
    for name, info in gpu_info.items():
        cost = info.get("cost")
        if not isinstance(cost, (int, float)) or cost <= 0:
            raise InvalidInputError(f"GPU {name!r} has cost {cost!r}; prices must be > 0", field=f"gpu_info.{name}.cost")
        tputs = info.get("tputs")
        if not isinstance(tputs, list) or (len(tputs), len(tputs[0]) if tputs else 0) != shape:
            raise InvalidInputError(f"GPU {name!r}: tputs must be a {shape[0]}x{shape[1]} table like the histogram",
                                    field=f"gpu_info.{name}.tputs")
        flat = []
        for i, row in enumerate(tputs):
            for k, t in enumerate(row):
                if t is not None and (not isinstance(t, (int, float)) or t <= 0):
                    # the paper's files use 0 for "cannot serve"; negatives are errors
                    if isinstance(t, (int, float)) and t == 0:
                        t = None
                    else:
                        raise InvalidInputError(f"GPU {name!r} throughput [{i}][{k}] is {t!r}; must be > 0",
                                                field=f"gpu_info.{name}.tputs[{i}][{k}]")
                flat.append(t)
        # the paper's format has no specs; memory is informational here (tables are given), so take the
        # catalogue's when it knows the name
        known = catalogue.gpus.get(name)
        gpu_types.append(GPUType(name=name, memory_gb=known.memory_gb if known else 1.0, price_per_hour=float(cost),
                                 price_source="problem file"))
        tables[name] = flat
    options: dict[str, Any] = {"throughputs": tables}
    if "slice_factor" in data:
        options["slice_factor"] = int(data["slice_factor"])
    return AllocationProblem(workload=workload, gpu_types=gpu_types, options=options)


def load_problem(path: str | Path) -> AllocationProblem:
    """An ``AllocationProblem`` from a JSON or YAML file, in skyplex's shape or the paper's."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"problem file {p} does not exist", field="problem")
    text = p.read_text()
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise InvalidInputError(f"problem file {p} could not be parsed: {exc}", field="problem") from exc
    if isinstance(data, dict) and "gpu_info" in data:
        return problem_from_paper_format(data)
    try:
        return AllocationProblem.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InvalidInputError(f"problem file {p}: {where}: {first['msg']}", field=where) from exc
