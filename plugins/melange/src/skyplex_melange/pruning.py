"""Exact pruning for the count formulation: dominated offers, per-offer unit bounds, and a greedy
allocation that bounds the cost and warm-starts CBC. None of them can cut off an optimal solution."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .instance import LOAD_EPS, MelangeInstance


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


def unit_bound(inst: MelangeInstance, o: int, buckets: Sequence[int]) -> int:
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
