"""From an ``AllocationProblem`` to the solver's instance: which GPU types, which SLO per bucket, and
each bucket's max rate per GPU from one of three sources (first match wins): tables given in
``options.throughputs``, measured profiles in ``options.profile``, else a roofline estimate from the
model (marked ``estimate: true``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError
from skyplex.interfaces import SLO, AllocationProblem, GPUType, ModelSpec

from .catalogue import Catalogue, load_catalogue
from .instance import Bucket, MelangeInstance, Offer
from .options import MelangeOptions, bucket_names
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

def catalogue_for(opts: MelangeOptions, default_path: str | None = None) -> Catalogue:
    """The GPU catalogue the problem uses: ``options.catalogue``, else the default, with price overrides."""
    cat = load_catalogue(opts.catalogue or default_path)
    return cat.with_prices(opts.prices) if opts.prices else cat

def read_profiles(opts: MelangeOptions) -> list[Profile]:
    """Measured profiles from ``options.profile``: server-side files or inline ``{header, points}``."""
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

def candidate_gpus(problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue,
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

def group_price(gpu: GPUType, tp: int, problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue) -> float:
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

def bucket_slos(problem: AllocationProblem, opts: MelangeOptions, names: list[str]) -> tuple[list[SLO], list[str | None]]:
    """Each bucket's SLO (its tier's, else the problem's) and tier name."""
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

def model_for(problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue) -> ModelSpec:
    """The model for roofline estimates: ``problem.model``, else ``options.model_name``, else the workload's."""
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


def build_instance(problem: AllocationProblem, opts: MelangeOptions,
                   default_catalogue: str | None = None) -> tuple[MelangeInstance, dict[str, Any]]:
    """The solver's instance for ``problem``, and a description of where its throughputs came from."""
    cat = catalogue_for(opts, default_catalogue)
    profiles = read_profiles(opts)
    gpus = candidate_gpus(problem, opts, cat, profiles)
    names = bucket_names(problem.workload)
    reqs = problem.workload.requests
    buckets = [Bucket(n, r.rate, r.input_tokens, r.output_tokens) for n, r in zip(names, reqs)]
    slos, _ = bucket_slos(problem, opts, names)
    gpu_names = {g.name for g in gpus}
    for name in opts.multi_gpu_prices:
        if name not in gpu_names:
            raise InvalidInputError(f"multi-GPU price for unknown GPU type {name!r}; the problem's GPU types "
                                    f"are {', '.join(sorted(gpu_names))}", field=f"options.multi_gpu_prices.{name}")
    for name in opts.availability:
        if name not in gpu_names:
            raise InvalidInputError(f"availability cap for unknown GPU type {name!r}; the problem's GPU types "
                                    f"are {', '.join(sorted(gpu_names))}", field=f"options.availability.{name}")
    # where the max rates come from, first match wins: tables given, measured profiles, a roofline estimate
    if opts.throughputs is not None:
        offers, table, reasons, source = from_tables(gpus, buckets, opts)
    elif profiles:
        offers, table, reasons, source = from_profiles(gpus, buckets, slos, profiles)
    else:
        offers, table, reasons, source = from_roofline(problem, opts, cat, gpus, buckets, slos)
    cap = dict(opts.availability)
    inst = MelangeInstance(buckets, offers, table, opts.slice_factor, cap, problem.max_gpus, reasons)
    return inst, source


#: what a throughput source gives: offers, max_rate[bucket][offer], reasons[(bucket, offer)], a description
SourceResult = tuple[list[Offer], list[list[float | None]], dict[tuple[int, int], str], dict[str, Any]]


def from_tables(gpus: list[GPUType], buckets: list[Bucket], opts: MelangeOptions) -> SourceResult:
    """Max rates given directly: ``options.throughputs`` {GPU: [req/s per request class]}."""
    gpu_names = {g.name for g in gpus}
    offers: list[Offer] = []
    table: list[list[float | None]] = [[] for _ in buckets]
    reasons: dict[tuple[int, int], str] = {}
    assert opts.throughputs is not None
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
    return offers, table, reasons, source


def from_profiles(gpus: list[GPUType], buckets: list[Bucket], slos: list[SLO], profiles: list[Profile]) -> SourceResult:
    """Max rates derived from measured profiles, per bucket and SLO."""
    offers: list[Offer] = []
    table: list[list[float | None]] = [[] for _ in buckets]
    reasons: dict[tuple[int, int], str] = {}
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
    return offers, table, reasons, source


def from_roofline(problem: AllocationProblem, opts: MelangeOptions, cat: Catalogue, gpus: list[GPUType],
                  buckets: list[Bucket], slos: list[SLO]) -> SourceResult:
    """Max rates estimated from the model and each GPU's bandwidth and FLOP/s, with tensor-parallel offers."""
    offers: list[Offer] = []
    table: list[list[float | None]] = [[] for _ in buckets]
    reasons: dict[tuple[int, int], str] = {}
    model = model_for(problem, opts, cat)
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
            price = group_price(g, tp, problem, opts, cat)
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
    return offers, table, reasons, source
