"""The solver's instance: request-size buckets, GPU offers, their max-rate table, slice factor and caps.

A bucket ``b`` arrives at ``r_b`` req/s and is cut into ``S`` equal slices (the slice factor); one
unit of offer ``o`` (a GPU type, or a tensor-parallel group of them) sustains at most ``T[b][o]``
req/s of bucket ``b`` within the SLO. :meth:`MelangeInstance.validate` refuses anything the integer
programs could not price or divide by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from skyplex.errors import InvalidInputError, SkyplexError

#: loads within this of an integer count as that integer (float noise from r/S/T, solver tolerances)
LOAD_EPS = 1e-7


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
