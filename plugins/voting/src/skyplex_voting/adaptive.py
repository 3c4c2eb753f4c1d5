"""Adaptive K per query: sample one answer at a time and stop once the vote is decided.

Two stopping rules, both sequential tests on the running counts:

* ``curtail``: stop when the leader is ahead of the runner-up by more than the calls left before
  ``kmax``. The elected answer is then exactly the one the fixed-``kmax`` vote would elect, so the
  accuracy is unchanged and every call after the stop is saved.
* ``margin=d``: stop as soon as the leader is ``d`` votes ahead (capped at ``kmax``). For the two
  leading answers this is Wald's sequential probability ratio test, whose boundary is a difference of
  counts; a larger ``d`` buys accuracy with calls.

Abstentions never lead. A run that reaches ``kmax`` undecided votes as usual (random tie break).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from skyplex.errors import InvalidInputError

from .law import as_distributions, check_kmax


def sequential_vote(answers: Iterable[str | None], kmax: int, *, margin: int | None = None) -> tuple[str | None, int]:
    """Consume answers until the rule stops (or ``kmax``); return (the leader, calls used)."""
    kmax = check_kmax(kmax)
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 1):
        raise InvalidInputError(f"margin must be a whole number >= 1, got {margin!r}", field="margin")
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    calls = 0
    for a in answers:
        calls += 1
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
            first.setdefault(a, calls)
        ranked = sorted(counts.values(), reverse=True) + [0, 0]
        lead = ranked[0] - ranked[1]
        if calls >= kmax or (margin is not None and lead >= margin) or (margin is None and lead > kmax - calls):
            break
    if not counts:
        return None, calls
    best = max(counts.values())
    leaders = sorted((a for a, c in counts.items() if c == best), key=first.__getitem__)
    return leaders[0], calls


def simulate_adaptive(probs: np.ndarray, kmax: int, *, margin: int | None = None, runs: int = 2000,
                      seed: int = 0) -> dict:
    """Accuracy and mean calls of the rule on answer distributions ``[correct, wrong..., abstain]``,
    by simulation; the fixed-``kmax`` vote on the same draws is reported beside it."""
    kmax = check_kmax(kmax)
    P = as_distributions(probs)
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 1):
        raise InvalidInputError(f"margin must be a whole number >= 1, got {margin!r}", field="margin")
    rng = np.random.default_rng(seed)
    cols = P.shape[1]
    acc_rule = acc_fixed = calls = 0.0
    for p in P:
        draws = rng.choice(cols, size=(runs, kmax), p=p / p.sum())
        onehot = np.zeros((runs, kmax, cols - 1))
        valid = draws < cols - 1
        r, k = np.nonzero(valid)
        onehot[r, k, draws[valid]] = 1.0
        cum = np.cumsum(onehot, axis=1)  # (runs, kmax, answers): running counts, abstentions left out
        top2 = np.sort(cum, axis=2)[:, :, -2:] if cols - 1 >= 2 else np.concatenate([np.zeros_like(cum), cum], axis=2)
        lead = top2[:, :, -1] - top2[:, :, -2]
        left = kmax - np.arange(1, kmax + 1)
        stop = lead >= margin if margin is not None else lead > left[None]
        stop[:, -1] = True
        at = stop.argmax(axis=1)  # first step where the rule stops
        final = cum[np.arange(runs), at]
        noise = rng.random(final.shape) * 0.5  # random tie break among the leaders
        win = (np.where(final > 0, final + noise, -1.0).argmax(axis=1) == 0) & (final[:, 0] > 0)
        last = cum[:, -1]
        win_fixed = (np.where(last > 0, last + noise, -1.0).argmax(axis=1) == 0) & (last[:, 0] > 0)
        acc_rule += win.mean()
        acc_fixed += win_fixed.mean()
        calls += (at + 1).mean()
    n = len(P)
    return {"accuracy": float(acc_rule / n), "fixed_accuracy": float(acc_fixed / n), "mean_calls": float(calls / n),
            "kmax": kmax, "margin": margin, "calls_saved": float(1.0 - calls / n / kmax)}
