"""The grid prior with its weights free to differ on the two sides of the tie (``components="grid-gap"``).

Where a query's accuracy goes as K grows is set by one thing: whether its correct answer is more
likely than its top wrong one (then voting drives its accuracy to 1) or less (to 0). A task whose
curve peaks and then falls has a sizeable share of queries of the second kind. The grid prior's
g-model (:func:`.grid_prior.smooth_basis`) makes the log-weights smooth in ``p_correct`` and the
top wrong answer's share, so the weight just below the tie ``p_top = p_correct`` and just above it
move together, and with few answers per query the ridge pulls the weights towards the whole grid,
61% of whose points have the correct answer on top. :func:`gap_basis` adds two features, each with
its own coefficient under the same ridge:

* a step at the tie (1 where the top wrong answer is more likely than the correct one): the mass on
  the "wrong on top" side, estimated from the answers like every other coefficient;
* a bump at the tie (a Gaussian in ``(p_top - p_correct) / parsable`` of width :data:`GAP_WIDTH`):
  the weight may dip there (a gap between easy and hard queries) or pile up (queries split evenly).

``components="grid-pick"`` chooses between the plain grid prior and this one inside the sample
(:func:`pick_by_extrapolation`): each is fitted on half of every query's answers and scored by how
well it extrapolates the task's curve from those to K = m, against the unbiased curve of all m
answers (:func:`.choose.subsample_curves`). Nothing held out is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from .grid_prior import GRID_SECOND, PENALTY, GridPrior, _fit_smooth, smooth_basis, support_grid, support_loglik

#: width of the bump at the tie, in (p_top - p_correct) over the parsable mass
GAP_WIDTH = 0.1
#: ``fit_law`` components: the gap prior always, or the in-sample choice between it and the grid
GAP, PICK = "grid-gap", "grid-pick"
#: random halvings of each query's answers the in-sample choice averages over
PICK_SPLITS = 3


def gap_features(support: np.ndarray) -> np.ndarray:
    """The step and the bump at the tie of every grid point, standardised: shape (points, 2)."""
    parsable = 1.0 - support[:, -1]
    margin = (support[:, 1] - support[:, 0]) / np.where(parsable > 0, parsable, 1.0)
    F = np.stack([(margin > 1e-9).astype(float), np.exp(-0.5 * (margin / GAP_WIDTH) ** 2)], axis=1)
    sd = F.std(axis=0)
    return (F - F.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def gap_basis(support: np.ndarray) -> np.ndarray:
    """The grid prior's smooth design matrix with the two tie features appended."""
    return np.hstack([smooth_basis(support), gap_features(support)])


def extrapolation_error(counts: np.ndarray, support: np.ndarray, curves: np.ndarray,
                        basis: np.ndarray, halves: list[np.ndarray], penalty: float = PENALTY) -> float:
    """Mean over ``halves`` (each row's seen answers) of the MAE over K = 1..m between the task curve
    a prior fitted on the seen answers predicts and :func:`.choose.subsample_curves` of all the
    answers (``curves``: the grid's exact curves up to K = m, the smallest row total)."""
    from .choose import subsample_curves

    m = curves.shape[1]
    target = subsample_curves(counts, m).mean(axis=0)
    errors = []
    for seen in halves:
        rows, inverse, mult = np.unique(seen, axis=0, return_inverse=True, return_counts=True)
        ll = support_loglik(rows, support)
        weights = _fit_smooth(ll, mult.astype(float), basis, penalty)[0]
        log_post = ll + np.log(np.maximum(weights, 1e-300))[None]
        post = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
        predicted = (post @ curves)[inverse.ravel()].mean(axis=0)
        errors.append(float(np.abs(predicted - target).mean()))
    return float(np.mean(errors))


def pick_by_extrapolation(counts: Any, *, seed: int = 0, splits: int = PICK_SPLITS) -> tuple[str, dict[str, float]]:
    """``"grid"`` or ``"grid-gap"``, whichever extrapolates the task curve from half of each query's
    answers to all of them better (:func:`extrapolation_error`, the same halvings for both; the
    plain grid on a tie), and both errors."""
    from .choose import split_answers
    from .fit import check_counts

    C = check_counts(counts, min_samples=2)
    # the grid with the answers' pooled abstain rate and its exact curves up to K = m, shared by both
    support = support_grid(C.shape[1] - 2, float(C[:, -1].sum() / C.sum()), seconds=GRID_SECOND)
    grid = GridPrior(support=support, weights=np.full(len(support), 1.0 / len(support)), penalty=PENALTY,
                     log_likelihood=0.0, queries=int(C.shape[0]), samples=int(C.sum()))
    curves = grid.curves(max(int(C.sum(axis=1).min()), 1))
    rng = np.random.default_rng(seed)
    halves = [split_answers(C, rng)[0] for _ in range(splits)]
    scores = {name: extrapolation_error(C, support, curves, basis(support), halves)
              for name, basis in (("grid", smooth_basis), (GAP, gap_basis))}
    return ("grid" if scores["grid"] <= scores[GAP] else GAP), scores


def fit_gap_law(counts: Any, *, components: str, **options):
    """``fit_law`` with ``components="grid-gap"`` or ``"grid-pick"`` (``extras["pick"]``: the
    choice and both in-sample extrapolation errors)."""
    from .fit import _fit_grid_law, check_counts

    C = check_counts(counts, min_samples=2)
    pick = None
    if components == PICK:
        choice, scores = pick_by_extrapolation(C, seed=options.get("seed", 0))
        pick = {"chosen": choice, "extrapolation_error": scores}
    use_gap = components == GAP or pick["chosen"] == GAP
    law = _fit_grid_law(C, basis=gap_basis if use_gap else None, **options)
    law.extras["grid"]["basis"] = "gap" if use_gap else "smooth"
    if pick is not None:
        law.extras["pick"] = pick
    return law
