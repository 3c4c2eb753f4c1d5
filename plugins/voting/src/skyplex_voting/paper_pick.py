"""The grid prior or the paper's per-query fitter, chosen inside the sample (``components="grid-or-paper"``).

The grid prior (:mod:`.grid_prior`) pools the queries: it reads each query's few answers in the
light of how difficulty varies across the task, and extrapolates a query's accuracy beyond K = m by
the prior's smooth shape. The paper's fitter (:mod:`.baseline`) takes each query's observed answer
frequencies as its distribution and fits the two-level curve to them: a query whose correct answer
leads in its m answers rises towards 1, one whose correct answer trails falls towards 0. Measured on
SmolLM2's tasks (docs/plugins/voting.md) the first is better where the task's curve keeps rising and
the second where it peaks and falls; neither is better on every task.

The choice uses the m answers only. Each query's answers are split at random into ``ceil(m / 2)``
seen and the rest (a multivariate hypergeometric draw, :func:`.choose.split_answers`),
:data:`SPLITS` times; both candidates are fitted on the seen answers alone and predict the task's
curve up to K = m, which is compared with the unbiased curve of all m answers
(:func:`.choose.subsample_curves`: K of a query's own answers drawn without replacement). The error
is the MAE over K = 1..m, averaged over the splits (:func:`half_split_errors`): how well a
candidate extrapolates from half the answers to all of them, the step it must take again from m
answers to K = 100.

* ``components="grid-or-paper"`` keeps the candidate with the lower error (the grid prior on a tie)
  and fits it on all m answers (``extras["paper_pick"]``: the choice and both errors).
* ``components="grid-paper-mix"`` predicts ``w * grid + (1 - w) * paper`` per query, with the weight
  ``w`` from :data:`WEIGHTS` whose mixed half-split curves have the lowest error
  (:func:`mix_weight`; the grid prior's weight on a tie).

Below :data:`MIN_ANSWERS` answers per query (the median) both are the grid prior: the halves then
hold 3 answers or fewer, too few for the grid prior fitted on them to stand for the one fitted on all
m (chosen in sample on the seven 240-query tasks: at m = 4 the choice made the mean error worse,
2.71 and 3.15 points against 2.39).

Neither is the default; docs/plugins/voting.md has the measurements.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp
from skyplex.errors import InvalidInputError

#: ``fit_law`` components: the lower half-split error of the two, or the mixture with the best weight
PICK, MIX = "grid-or-paper", "grid-paper-mix"
#: random splits of each query's answers the errors average over
SPLITS = 3
#: the grid prior's weights :func:`mix_weight` tries
WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 1)  # 0.0, 0.1, .., 1.0 exactly as written (0.7, not 0.7000000000000001)
#: below this median number of answers per query the choice is not made: the grid prior
MIN_ANSWERS = 8


def half_split_curves(counts: Any, *, splits: int = SPLITS, seed: int = 0, tie: str = "random") -> dict:
    """The curves the choice compares, for K = 1..m (m: the smallest row total, at least 2):
    ``target``, the mean :func:`.choose.subsample_curves` of all the answers, and per split the task
    curve the grid prior (``"grid"``) and the paper's fitter (``"paper"``) predict from that split's
    seen answers alone: ``{"target": (m,), "grid": (splits, m), "paper": (splits, m), "m": m}``."""
    from .baseline import authors_curves
    from .choose import split_answers, subsample_curves
    from .fit import check_counts
    from .grid_prior import GRID_SECOND, PENALTY, GridPrior, _fit_smooth, smooth_basis, support_grid, support_loglik

    C = check_counts(counts, min_samples=2)
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise InvalidInputError(f"splits must be a whole number >= 1, got {splits!r}", field="splits")
    m = int(C.sum(axis=1).min())
    if m < 2:
        raise InvalidInputError(f"choosing between the grid prior and the paper's fitter splits every query's "
                                f"answers in two: each query needs at least 2, one has {m}", field="counts")
    target = subsample_curves(C, m, tie).mean(axis=0)
    # the grid with the answers' pooled abstain rate and its exact curves up to K = m, shared by every split
    support = support_grid(C.shape[1] - 2, float(C[:, -1].sum() / C.sum()), seconds=GRID_SECOND)
    grid = GridPrior(support=support, weights=np.full(len(support), 1.0 / len(support)), penalty=PENALTY,
                     log_likelihood=0.0, queries=int(C.shape[0]), samples=int(C.sum()))
    curves = grid.curves(m, tie)
    basis = smooth_basis(support)
    rng = np.random.default_rng(seed)
    out = {"target": target, "grid": np.empty((splits, m)), "paper": np.empty((splits, m)), "m": m}
    for s in range(splits):
        seen = split_answers(C, rng)[0]
        rows, inverse, mult = np.unique(seen, axis=0, return_inverse=True, return_counts=True)
        ll = support_loglik(rows, support)
        weights = _fit_smooth(ll, mult.astype(float), basis, PENALTY)[0]
        log_post = ll + np.log(np.maximum(weights, 1e-300))[None]
        post = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
        out["grid"][s] = (post @ curves)[inverse.ravel()].mean(axis=0)
        out["paper"][s] = authors_curves(seen, m, seed=seed + s).mean(axis=0)
    return out


def half_split_errors(curves: dict) -> dict[str, float]:
    """Each candidate's MAE over K = 1..m (accuracy, not points) against the target, mean over splits."""
    return {name: float(np.abs(curves[name] - curves["target"][None]).mean()) for name in ("grid", "paper")}


def mix_weight(curves: dict) -> tuple[float, dict[str, float]]:
    """The grid prior's weight in :data:`WEIGHTS` whose mixture ``w * grid + (1 - w) * paper`` of the
    half-split curves has the lowest MAE against the target (the largest such weight on a tie), and
    the error of every weight tried."""
    errors = {f"{w:.1f}": float(np.abs(w * curves["grid"] + (1 - w) * curves["paper"] - curves["target"][None]).mean())
              for w in WEIGHTS}
    best = min(errors.values())
    return max(float(k) for k, e in errors.items() if e <= best + 1e-15), errors


def fit_paper_pick_law(counts: Any, *, components: str, kmax: int, tie: str, draws: int, rounds: int,
                       level: float, seed: int):
    """``fit_law`` with ``components="grid-or-paper"`` or ``"grid-paper-mix"`` (see the module's
    docstring). ``prior`` is always the grid prior fitted on all the answers; the optimum's interval
    and the band are a bootstrap over queries of the per-query curves (``draws=0`` skips both)."""
    from .baseline import authors_curves
    from .fit import LawFit, _fit_grid_law, bootstrap_band, check_counts, holding_point

    if components not in (PICK, MIX):
        raise InvalidInputError(f"components must be {PICK!r} or {MIX!r}, got {components!r}", field="components")
    C = check_counts(counts, min_samples=2)
    key = "paper_pick" if components == PICK else "paper_mix"
    if float(np.median(C.sum(axis=1))) < MIN_ANSWERS:
        weight = 1.0
        extras = {key: {**({"chosen": "grid"} if components == PICK else {"grid_weight": 1.0}),
                        "note": f"fewer than {MIN_ANSWERS} answers per query (median): the grid prior"}}
    elif components == PICK:
        curves = half_split_curves(C, seed=seed, tie=tie)
        errors = half_split_errors(curves)
        weight = 1.0 if errors["grid"] <= errors["paper"] else 0.0
        extras = {key: {"chosen": "grid" if weight == 1.0 else "paper", "half_split_error": errors}}
    else:
        weight, tried = mix_weight(half_split_curves(C, seed=seed, tie=tie))
        extras = {key: {"grid_weight": weight, "half_split_error": tried}}
    grid = _fit_grid_law(C, kmax=kmax, tie=tie, draws=0, rounds=rounds, level=level, seed=seed)
    per_query = grid.per_query
    if weight < 1.0:
        per_query = weight * per_query + (1.0 - weight) * authors_curves(C, kmax, seed=seed)
    curve = per_query.mean(axis=0)
    k_best = int(np.flatnonzero(curve >= curve.max() - 1e-12)[0]) + 1
    interval, band = (k_best, k_best), (None, None)
    if draws > 0:
        low, high, boot_interval = bootstrap_band(per_query, rounds=rounds, level=level, seed=seed)
        interval, band = holding_point(curve, k_best, boot_interval, low, high)
    return LawFit(prior=grid.prior, kmax=kmax, tie=tie, per_query=per_query, curve=curve, k_opt=k_best,
                  accuracy_opt=float(curve[k_best - 1]), k_interval=interval, level=level,
                  extras={"grid": grid.extras["grid"], **extras}, curve_low=band[0], curve_high=band[1])
