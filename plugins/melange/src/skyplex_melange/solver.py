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
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from skyplex.errors import InvalidInputError, SkyplexError

log = logging.getLogger(__name__)

#: loads within this of an integer count as that integer (float noise from r/S/T, solver tolerances)
LOAD_EPS = 1e-7

SolverName = Literal["cbc", "highs"]


class MelangeInfeasible(InvalidInputError):
    """No allocation meets the SLO: a bucket no GPU type can serve, or caps too tight."""

    def __init__(self, message: str, *, field: str | None = None, bucket: str | None = None) -> None:
        super().__init__(message, field=field)
        self.bucket = bucket


class SolverError(SkyplexError):
    """The MIP solver failed or ran out of time before finding any allocation."""

    status_code = 504
    error_type = "solver_error"


@dataclass(frozen=True)
class Bucket:
    """One request-size bucket: a name, its arrival rate and (when known) its token lengths."""

    name: str
    rate: float
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Offer:
    """A unit that can be rented: ``gpus_per_unit`` GPUs of ``gpu_type`` serving one model replica."""

    name: str
    gpu_type: str
    price_per_hour: float  # per unit, i.e. gpus_per_unit * the GPU's price
    gpus_per_unit: int = 1


@dataclass
class MelangeInstance:
    """Everything the integer program needs.

    ``max_rate[b][o]`` is the most req/s of bucket ``b`` one unit of offer ``o`` sustains within the
    SLO; ``None`` means it cannot serve that bucket at all. ``reasons[(b, o)]`` says why, when known.
    ``availability`` caps physical GPUs per type; ``max_gpus`` caps them in total.
    """

    buckets: list[Bucket]
    offers: list[Offer]
    max_rate: list[list[float | None]]
    slice_factor: int = 1
    availability: dict[str, int] = field(default_factory=dict)
    max_gpus: int | None = None
    reasons: dict[tuple[int, int], str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`InvalidInputError` naming the first bad entry; never divide by zero later."""
        if not self.buckets:
            raise InvalidInputError("the workload has no buckets (request classes)", field="workload.requests")
        if not self.offers:
            raise InvalidInputError("no GPU types to choose from", field="gpu_types")
        if not isinstance(self.slice_factor, int) or isinstance(self.slice_factor, bool) or self.slice_factor < 1:
            raise InvalidInputError(
                f"slice_factor must be a positive integer, got {self.slice_factor!r}", field="options.slice_factor"
            )
        for i, b in enumerate(self.buckets):
            if not math.isfinite(b.rate) or b.rate < 0:
                raise InvalidInputError(
                    f"bucket {b.name!r} has rate {b.rate!r}; rates are finite and >= 0 req/s",
                    field=f"workload.requests[{i}].rate",
                )
        names = set()
        for o in self.offers:
            if o.name in names:
                raise InvalidInputError(f"GPU type {o.name!r} is listed twice", field="gpu_types")
            names.add(o.name)
            if not math.isfinite(o.price_per_hour) or o.price_per_hour <= 0:
                raise InvalidInputError(
                    f"GPU type {o.gpu_type!r} has price {o.price_per_hour!r} USD/h; prices must be > 0 "
                    "(a free GPU makes 'cheapest' meaningless)",
                    field=f"gpu_types.{o.gpu_type}.price_per_hour",
                )
            if o.gpus_per_unit < 1:
                raise InvalidInputError(f"offer {o.name!r} has gpus_per_unit {o.gpus_per_unit}", field="gpu_types")
        if len(self.max_rate) != len(self.buckets):
            raise InvalidInputError(
                f"throughput table has {len(self.max_rate)} rows for {len(self.buckets)} buckets", field="max_rate"
            )
        for i, row in enumerate(self.max_rate):
            if len(row) != len(self.offers):
                raise InvalidInputError(
                    f"throughput row of bucket {self.buckets[i].name!r} has {len(row)} entries for "
                    f"{len(self.offers)} GPU types",
                    field=f"max_rate[{i}]",
                )
            for j, t in enumerate(row):
                if t is None:
                    continue
                if not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
                    raise InvalidInputError(
                        f"max rate of bucket {self.buckets[i].name!r} on {self.offers[j].name!r} is {t!r}; "
                        "throughputs must be > 0 req/s (use null for 'cannot serve')",
                        field=f"throughputs.{self.offers[j].name}[{i}]",
                    )
        gpu_types = {o.gpu_type for o in self.offers}
        for name, cap in self.availability.items():
            if name not in gpu_types:
                raise InvalidInputError(
                    f"availability cap for unknown GPU type {name!r}; the problem's GPU types are "
                    f"{', '.join(sorted(gpu_types))}",
                    field=f"options.availability.{name}",
                )
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
                raise InvalidInputError(
                    f"availability cap for {name!r} must be an integer >= 0, got {cap!r}",
                    field=f"options.availability.{name}",
                )

    def active(self) -> list[int]:
        """Indices of buckets with traffic (rate-0 buckets need no GPU)."""
        return [i for i, b in enumerate(self.buckets) if b.rate > 0]

    def unit_cap(self, o: int) -> int | None:
        """Most units of offer ``o`` the caps allow on their own (``None``: unbounded)."""
        offer = self.offers[o]
        caps = [c for c in (self.availability.get(offer.gpu_type), self.max_gpus) if c is not None]
        return min(caps) // offer.gpus_per_unit if caps else None

    def check_servable(self) -> None:
        """Raise :class:`MelangeInfeasible` naming the first bucket no offer can serve (within caps)."""
        for i in self.active():
            serving = [o for o, t in enumerate(self.max_rate[i]) if t is not None and self.unit_cap(o) != 0]
            if serving:
                continue
            b = self.buckets[i]
            why = []
            for o, offer in enumerate(self.offers):
                if self.max_rate[i][o] is None:
                    why.append(f"{offer.name}: {self.reasons.get((i, o), 'cannot meet the SLO')}")
                else:
                    why.append(f"{offer.name}: availability cap is 0")
            size = f", {b.input_tokens} in / {b.output_tokens} out tokens" if b.input_tokens is not None else ""
            raise MelangeInfeasible(
                f"bucket {b.name!r} ({b.rate:g} req/s{size}) cannot be served by any GPU type within the SLO "
                f"({'; '.join(why)}). Relax the SLO, add a GPU type that can serve it, or drop the bucket.",
                field=f"workload.requests[{i}]",
                bucket=b.name,
            )


@dataclass(frozen=True)
class SolverSettings:
    """How to run the MIP solver. ``gap`` is the relative MIP gap accepted (0 = proven optimum)."""

    solver: SolverName = "cbc"
    time_limit_s: float | None = 60.0
    gap: float = 0.0
    threads: int | None = None

    def validate(self) -> None:
        if self.solver not in ("cbc", "highs"):
            raise InvalidInputError(f"unknown solver {self.solver!r}; choose 'cbc' or 'highs'", field="options.solver")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise InvalidInputError(f"time_limit_s must be > 0, got {self.time_limit_s!r}", field="options.time_limit_s")
        if not 0 <= self.gap < 1:
            raise InvalidInputError(f"gap must be in [0, 1), got {self.gap!r}", field="options.gap")


@dataclass
class Solution:
    """One solved instance. ``slices[b][offer] = n`` means n of bucket b's S slices run on that offer."""

    status: Literal["optimal", "feasible"]
    formulation: str
    units: dict[str, int]
    gpus: dict[str, int]
    cost_per_hour: float
    slices: list[dict[str, int]]
    load: dict[str, float]
    utilisation: dict[str, float]
    solve_time_s: float
    slice_factor: int
    #: time inside the solver itself (HiGHS's own clock; None for CBC, run as a separate process,
    #: whose solve_time_s includes writing the model and starting it)
    solver_time_s: float | None = None

    def share(self, b: int) -> dict[str, float]:
        """Fraction of bucket ``b``'s traffic on each offer."""
        return {o: n / self.slice_factor for o, n in self.slices[b].items() if n}


def _var(prob: Any, name: str, low: float | None, up: float | None, cat: str) -> Any:
    """A variable attached to ``prob``: PuLP 3.3+ wants ``prob.add_variable``; older ones ``LpVariable``."""
    import pulp

    if hasattr(prob, "add_variable"):
        return prob.add_variable(name, low, up, cat=cat)
    return pulp.LpVariable(name, lowBound=low, upBound=up, cat=cat)


def _pulp_solver(settings: SolverSettings, warm_start: bool = False) -> Any:
    import pulp

    kwargs: dict[str, Any] = {"msg": False, "gapRel": settings.gap}
    if warm_start and settings.solver == "cbc":  # PuLP's in-process HiGHS takes no start values
        kwargs["warmStart"] = True
    if settings.time_limit_s is not None:
        kwargs["timeLimit"] = settings.time_limit_s
    if settings.threads is not None:
        kwargs["threads"] = settings.threads
    if settings.solver == "highs":
        # HiGHS 1.16's presolve returned a worse allocation as "Optimal" (dual bound equal to it) on
        # a 6x6-bucket scale instance that CBC, and HiGHS without presolve, solve to a cheaper one
        # (tests/test_solver.py::test_highs_matches_cbc_on_presolve_trap); without presolve it costs
        # little on these small models, so correctness wins.
        kwargs["presolve"] = "off"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.HiGHS(**kwargs) if settings.solver == "highs" else pulp.PULP_CBC_CMD(**kwargs)
    if not solver.available():
        raise SolverError(
            f"solver {settings.solver!r} is not available here; install "
            f"{'highspy' if settings.solver == 'highs' else 'pulp (which bundles CBC)'} or pick the other solver"
        )
    return solver


def _add_unit_constraints(prob: Any, inst: MelangeInstance, y: dict[int, Any]) -> None:
    """Availability caps per GPU type and the total GPU cap, both in physical GPUs."""
    import pulp

    for k, (gpu_type, cap) in enumerate(sorted(inst.availability.items())):
        terms = [inst.offers[o].gpus_per_unit * y[o] for o in y if inst.offers[o].gpu_type == gpu_type]
        if terms:
            prob += pulp.lpSum(terms) <= cap, f"cap_{k}"
    if inst.max_gpus is not None:
        prob += pulp.lpSum(inst.offers[o].gpus_per_unit * y[o] for o in y) <= inst.max_gpus, "max_gpus"


def _run(prob: Any, inst: MelangeInstance, settings: SolverSettings, what: str,
         warm_start: bool = False) -> tuple[str, float, float | None]:
    import pulp

    solver = _pulp_solver(settings, warm_start)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # PuLP 3.x announces API changes for 4.0 (PULP_CBC_CMD's bundled CBC); nothing for users to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        prob.solve(solver)
    elapsed = time.perf_counter() - start
    own = None  # HiGHS runs in-process and keeps its own clock; CBC is a separate process
    if settings.solver == "highs" and getattr(prob, "solverModel", None) is not None:
        own = float(prob.solverModel.getRunTime())
    status = pulp.LpStatus.get(prob.status, str(prob.status))
    sol_status = getattr(prob, "sol_status", None)
    log.debug("%s: status %s (solution status %s) in %.3fs", what, status, sol_status, elapsed)
    if status == "Infeasible" or sol_status == pulp.LpSolutionInfeasible:
        caps = ", ".join(f"{k} <= {v}" for k, v in sorted(inst.availability.items())) or "none"
        raise MelangeInfeasible(
            f"no allocation serves the whole workload within the SLO under the GPU limits "
            f"(availability caps: {caps}; max_gpus: {inst.max_gpus}). Every bucket is servable on its own, "
            "so the caps are too tight: raise them or add GPU types.",
            field="options.availability",
        )
    if sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible", elapsed, own
    if status != "Optimal" or sol_status not in (None, pulp.LpSolutionOptimal):
        raise SolverError(
            f"{settings.solver} found no allocation ({status}) within time_limit_s={settings.time_limit_s}; "
            "raise time_limit_s, accept a gap, or lower the slice factor"
        )
    return "optimal", elapsed, own


def _finish(
    inst: MelangeInstance, counts: list[dict[int, int]], status: str, elapsed: float, formulation: str,
    solver_time: float | None = None,
) -> Solution:
    """Turn per-(bucket, offer) slice counts into units, GPUs, cost and utilisation.

    Units are recomputed as ceil(load) from the integral slice counts rather than read from the
    solver, so solver tolerances can never leave a GPU short.
    """
    S = inst.slice_factor
    load = [0.0] * len(inst.offers)
    for b, row in enumerate(counts):
        for o, n in row.items():
            if n:
                load[o] += n * (inst.buckets[b].rate / S) / inst.max_rate[b][o]  # type: ignore[operator]
    units = {}
    for o, offer in enumerate(inst.offers):
        u = math.ceil(load[o] - LOAD_EPS) if load[o] > LOAD_EPS else 0
        if u:
            units[offer.name] = u
    gpus: dict[str, int] = {}
    for o, offer in enumerate(inst.offers):
        if offer.name in units:
            gpus[offer.gpu_type] = gpus.get(offer.gpu_type, 0) + units[offer.name] * offer.gpus_per_unit
    cost = sum(inst.offers[o].price_per_hour * units.get(inst.offers[o].name, 0) for o in range(len(inst.offers)))
    return Solution(
        status=status,  # type: ignore[arg-type]
        formulation=formulation,
        units=units,
        gpus=gpus,
        cost_per_hour=round(cost, 10),
        slices=[{inst.offers[o].name: n for o, n in sorted(row.items()) if n} for row in counts],
        load={inst.offers[o].name: load[o] for o in range(len(inst.offers)) if load[o] > 0},
        utilisation={inst.offers[o].name: load[o] / units[inst.offers[o].name] for o in range(len(inst.offers))
                     if inst.offers[o].name in units},
        solve_time_s=elapsed,
        slice_factor=S,
        solver_time_s=solver_time,
    )


#: switches for the speed-ups below, so the scale benchmark can measure each one; all keep the optimum
SPEEDUPS = {"dominance": True, "bounds": True, "warm_start": True}


def dominated_offers(inst: MelangeInstance) -> set[int]:
    """Offers that some other offer dominates, and that can be dropped without changing the optimum.

    Offer ``d`` dominates offer ``o`` when ``price_d <= price_o`` and, on every bucket with traffic,
    ``d`` serves at least the rate ``o`` does (``o`` unable to serve counts as rate 0), with ties
    broken by position so that of identical offers the first stays.

    Why dropping ``o`` is safe: take any optimal solution and move every slice on ``o`` to ``d``.
    Each moved slice loads ``d`` no more than it loaded ``o`` (``T[b][d] >= T[b][o]``), so ``d``'s
    load becomes at most ``L_d + L_o`` and needs at most ``ceil(L_d + L_o) <= ceil(L_d) + ceil(L_o)
    = y_d + y_o`` units, costing ``price_d * (y_d + y_o) <= price_d * y_d + price_o * y_o``: no dearer,
    so an optimal solution without ``o`` exists. Dominance is transitive and, with the tie-break, a
    strict order, so every dropped offer has an undominated dominator that stays. The argument needs
    ``d`` to have room for the extra units, which availability caps and ``max_gpus`` (counted in
    GPUs: ``d`` may need more GPUs per unit) can deny, so with any cap nothing is dropped.
    """
    if inst.availability or inst.max_gpus is not None:
        return set()
    active = inst.active()
    offers = range(len(inst.offers))

    def rate(b: int, o: int) -> float:
        return inst.max_rate[b][o] or 0.0

    def dominates(d: int, o: int) -> bool:
        if inst.offers[d].price_per_hour > inst.offers[o].price_per_hour:
            return False
        if any(rate(b, d) < rate(b, o) for b in active):
            return False
        strictly = inst.offers[d].price_per_hour < inst.offers[o].price_per_hour or any(
            rate(b, d) > rate(b, o) for b in active)
        return strictly or d < o

    return {o for o in offers if any(d != o and dominates(d, o) for d in offers)}


def _unit_bound(inst: MelangeInstance, o: int, buckets: Sequence[int]) -> int:
    """Most units of ``o`` an optimal solution can use: its load is at most all the traffic it can serve."""
    load = sum(inst.buckets[b].rate / inst.max_rate[b][o] for b in buckets if inst.max_rate[b][o] is not None)  # type: ignore[operator]
    return math.ceil(load - LOAD_EPS) if load > LOAD_EPS else 0


def greedy_counts(inst: MelangeInstance, offers: Sequence[int]) -> list[dict[int, int]] | None:
    """A good feasible allocation, quickly: the start the MIP solver improves on and its cost bound.

    Every bucket goes whole to its cheapest offer per req/s; then, offer by offer from the one
    whose last unit is emptiest, it tries to free one unit by moving slices into the spare room of
    units already paid for elsewhere. Returns per-bucket slice counts, or None when caps make the
    result infeasible (the solver then starts from nothing).
    """
    S = inst.slice_factor
    active = inst.active()
    counts: list[dict[int, int]] = [{} for _ in inst.buckets]
    load = [0.0] * len(inst.offers)

    def a(b: int, o: int) -> float:  # load one slice of b puts on one unit of o
        return inst.buckets[b].rate / S / inst.max_rate[b][o]  # type: ignore[operator]

    for b in active:
        best = min((o for o in offers if inst.max_rate[b][o] is not None),
                   key=lambda o: inst.offers[o].price_per_hour / inst.max_rate[b][o])  # type: ignore[operator]
        counts[b][best] = S
        load[best] += S * a(b, best)

    def units(o: int) -> int:
        return math.ceil(load[o] - LOAD_EPS) if load[o] > LOAD_EPS else 0

    improved = True
    while improved:
        improved = False
        # the offer whose last unit is least used is the cheapest to empty
        order = sorted((o for o in offers if units(o)), key=lambda o: load[o] - (units(o) - 1))
        for o in order:
            target = units(o) - 1
            moves: list[tuple[int, int, int]] = []  # (bucket, to, slices)
            spare = {d: units(d) - load[d] for d in offers if d != o}
            excess = load[o] - target
            for b in sorted((b for b in active if counts[b].get(o)), key=lambda b: -a(b, o)):
                if excess <= LOAD_EPS:
                    break
                left = counts[b][o]
                for d in sorted((d for d in spare if inst.max_rate[b][d] is not None), key=lambda d: a(b, d)):
                    if excess <= LOAD_EPS or not left:
                        break
                    k = min(left, int((spare[d] + LOAD_EPS) // a(b, d)), math.ceil((excess - LOAD_EPS) / a(b, o)))
                    if k > 0:
                        moves.append((b, d, k))
                        spare[d] -= k * a(b, d)
                        excess -= k * a(b, o)
                        left -= k
            if excess <= LOAD_EPS:
                for b, d, k in moves:
                    counts[b][o] -= k
                    counts[b][d] = counts[b].get(d, 0) + k
                    load[o] -= k * a(b, o)
                    load[d] += k * a(b, d)
                improved = True
                break
    gpus: dict[str, int] = {}
    for o in offers:
        gpus[inst.offers[o].gpu_type] = gpus.get(inst.offers[o].gpu_type, 0) + units(o) * inst.offers[o].gpus_per_unit
    if any(gpus.get(t, 0) > cap for t, cap in inst.availability.items()):
        return None
    if inst.max_gpus is not None and sum(gpus.values()) > inst.max_gpus:
        return None
    return counts


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
        return _finish(inst, [{} for _ in inst.buckets], "optimal", 0.0, "count")

    dropped = dominated_offers(inst) if SPEEDUPS["dominance"] else set()
    keep = [o for o in range(len(inst.offers)) if o not in dropped and inst.unit_cap(o) != 0]
    start = greedy_counts(inst, keep) if (SPEEDUPS["bounds"] or SPEEDUPS["warm_start"]) else None
    incumbent = None
    if start is not None:
        incumbent = _finish(inst, start, "feasible", 0.0, "greedy").cost_per_hour
    prob = pulp.LpProblem("melange_count", pulp.LpMinimize)
    y = {}
    for o in keep:
        up = inst.unit_cap(o)
        if SPEEDUPS["bounds"]:
            bounds = [_unit_bound(inst, o, active)]
            if incumbent is not None:
                # c_o * y_o <= total cost <= incumbent in any solution at least as good as the start
                bounds.append(int(math.floor(incumbent / inst.offers[o].price_per_hour + 1e-9)))
            up = min([u for u in (up, *bounds) if u is not None])
        y[o] = _var(prob, f"y_{o}", 0, up, "Integer")
    n: dict[tuple[int, int], Any] = {}
    for b in active:
        for o in keep:
            if inst.max_rate[b][o] is not None and y[o].upBound != 0:
                n[b, o] = _var(prob, f"n_{b}_{o}", 0, S, "Integer")
    prob += pulp.lpSum(inst.offers[o].price_per_hour * y[o] for o in y)
    for b in active:
        prob += pulp.lpSum(n[b, o] for o in keep if (b, o) in n) == S, f"place_{b}"
    for o in y:
        terms = [n[b, o] * (inst.buckets[b].rate / S / inst.max_rate[b][o]) for b in active if (b, o) in n]  # type: ignore[operator]
        if terms:
            prob += pulp.lpSum(terms) <= y[o], f"load_{o}"
    _add_unit_constraints(prob, inst, y)
    warm = False
    if start is not None and SPEEDUPS["warm_start"]:
        start_load = [0.0] * len(inst.offers)
        for b in active:
            for o, k in start[b].items():
                start_load[o] += k * inst.buckets[b].rate / S / inst.max_rate[b][o]  # type: ignore[operator]
        for o in y:
            y[o].setInitialValue(math.ceil(start_load[o] - LOAD_EPS) if start_load[o] > LOAD_EPS else 0)
        for (b, o), var in n.items():
            var.setInitialValue(start[b].get(o, 0))
        warm = True
    status, elapsed, own = _run(prob, inst, settings, "count formulation", warm_start=warm)
    counts = [{o: int(round(n[b, o].value() or 0)) for o in keep if (b, o) in n}
              for b in range(len(inst.buckets))]
    return _finish(inst, counts, status, elapsed, "count", own)


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
        return _finish(inst, [{} for _ in inst.buckets], "optimal", 0.0, "binary")
    prob = pulp.LpProblem("melange_binary", pulp.LpMinimize)
    y = {o: _var(prob, f"y_{o}", 0, inst.unit_cap(o), "Integer")
         for o in range(len(inst.offers))}
    x: dict[tuple[int, int, int], Any] = {}
    for b in active:
        for s in range(S):
            for o, t in enumerate(inst.max_rate[b]):
                if t is not None and inst.unit_cap(o) != 0:
                    x[b, s, o] = _var(prob, f"x_{b}_{s}_{o}", 0, 1, "Binary")
    prob += pulp.lpSum(inst.offers[o].price_per_hour * y[o] for o in y)
    for b in active:
        for s in range(S):
            prob += pulp.lpSum(x[b, s, o] for o in range(len(inst.offers)) if (b, s, o) in x) == 1, f"place_{b}_{s}"
    for o in y:
        terms = [x[b, s, o] * (inst.buckets[b].rate / S / inst.max_rate[b][o])  # type: ignore[operator]
                 for b in active for s in range(S) if (b, s, o) in x]
        if terms:
            prob += pulp.lpSum(terms) <= y[o], f"load_{o}"
    _add_unit_constraints(prob, inst, y)
    status, elapsed, own = _run(prob, inst, settings, "binary formulation")
    counts = [
        {o: sum(int(round(x[b, s, o].value() or 0)) for s in range(S) if (b, s, o) in x) for o in range(len(inst.offers))}
        for b in range(len(inst.buckets))
    ]
    return _finish(inst, counts, status, elapsed, "binary", own)


# --- single-type baselines ------------------------------------------------------------------------


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


def instance_from_tables(
    rates: Sequence[float],
    prices: dict[str, float],
    tables: dict[str, Sequence[float | None]],
    *,
    slice_factor: int = 1,
    names: Sequence[str] | None = None,
    availability: dict[str, int] | None = None,
    max_gpus: int | None = None,
) -> MelangeInstance:
    """Build an instance from flat lists: bucket rates, GPU prices, and per-GPU max-rate tables."""
    unknown = set(tables) - set(prices)
    if unknown:
        raise InvalidInputError(f"throughput table for GPU type(s) without a price: {', '.join(sorted(unknown))}",
                                field="throughputs")
    offers = [Offer(g, g, float(p)) for g, p in prices.items()]
    for g in prices:
        if g not in tables:
            raise InvalidInputError(f"GPU type {g!r} has no throughput table", field=f"throughputs.{g}")
        if len(tables[g]) != len(rates):
            raise InvalidInputError(
                f"throughput table of {g!r} has {len(tables[g])} entries for {len(rates)} buckets",
                field=f"throughputs.{g}",
            )
    names = list(names) if names is not None else [f"b{i}" for i in range(len(rates))]
    return MelangeInstance(
        buckets=[Bucket(n, float(r)) for n, r in zip(names, rates)],
        offers=offers,
        max_rate=[[tables[g][i] for g in prices] for i in range(len(rates))],
        slice_factor=slice_factor,
        availability=dict(availability or {}),
        max_gpus=max_gpus,
    )
