"""Running a MIP through PuLP (CBC or HiGHS) and turning slice counts into an allocation.

Shared by both formulations in :mod:`.solver`: solver settings and choice, availability constraints,
the solve itself with its status mapped to errors for people, and :func:`finish`, which recomputes
units from the integral slice counts so solver tolerances can never leave a GPU short.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

from skyplex.errors import InvalidInputError

from .instance import LOAD_EPS, MelangeInfeasible, MelangeInstance, SolverError

log = logging.getLogger(__name__)

SolverName = Literal["cbc", "highs"]


@dataclass(frozen=True)
class Speedups:
    """The exact speed-ups of :func:`skyplex_melange.solver.solve`, each on by default; the scale
    benchmark and the tests turn them off to show none of them changes the optimum."""

    dominance: bool = True
    bounds: bool = True
    warm_start: bool = True

    @classmethod
    def none(cls) -> Speedups:
        """Every speed-up off: the plain count formulation."""
        return cls(dominance=False, bounds=False, warm_start=False)


@dataclass(frozen=True)
class SolverSettings:
    """How to run the MIP solver. ``gap`` is the relative MIP gap accepted (0 = proven optimum)."""

    solver: SolverName = "cbc"
    time_limit_s: float | None = 60.0
    gap: float = 0.0
    threads: int | None = None
    speedups: Speedups = field(default_factory=Speedups)

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


def new_var(prob: Any, name: str, low: float | None, up: float | None, cat: str) -> Any:
    """A variable attached to ``prob``: PuLP 3.3+ wants ``prob.add_variable``; older ones ``LpVariable``."""
    import pulp

    if hasattr(prob, "add_variable"):
        return prob.add_variable(name, low, up, cat=cat)
    return pulp.LpVariable(name, lowBound=low, upBound=up, cat=cat)


def pulp_solver(settings: SolverSettings, warm_start: bool = False) -> Any:
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


def add_unit_constraints(prob: Any, inst: MelangeInstance, y: dict[int, Any]) -> None:
    """Availability caps per GPU type and the total GPU cap, both in physical GPUs."""
    import pulp

    for k, (gpu_type, cap) in enumerate(sorted(inst.availability.items())):
        terms = [inst.offers[o].gpus_per_unit * y[o] for o in y if inst.offers[o].gpu_type == gpu_type]
        if terms:
            prob += pulp.lpSum(terms) <= cap, f"cap_{k}"
    if inst.max_gpus is not None:
        prob += pulp.lpSum(inst.offers[o].gpus_per_unit * y[o] for o in y) <= inst.max_gpus, "max_gpus"


def run(prob: Any, inst: MelangeInstance, settings: SolverSettings, what: str,
         warm_start: bool = False) -> tuple[str, float, float | None]:
    import pulp

    solver = pulp_solver(settings, warm_start)
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


def finish(
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
