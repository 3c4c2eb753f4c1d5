"""Bootstrap intervals of the optimal K and pointwise bands of the task's accuracy curve.

:func:`draw_bootstrap` resamples the queries and draws each query's difficulty from its posterior
under the fitted prior, which it takes as known. With few answers per query that prior is itself an
estimate, and its error is shared by every query (its extrapolated gain beyond K = m moves the whole
curve), so :func:`grid_band` also draws the grid prior's coefficients from their posterior: the
g-model's ridge penalty ``penalty * |a|^2`` is a normal prior on the coefficients, and their
posterior is approximated by the normal at the fitted coefficients with covariance the inverse of the
penalised log-likelihood's negative Hessian (a Laplace approximation). Intervals from such a
posterior account for the smoothing as well as the noise (Nychka's argument for penalised
regression), which a bootstrap of the penalised fit does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError
from skyplex.stats import bootstrap_means


def _argmax_k(curve: np.ndarray) -> int:
    return int(np.flatnonzero(curve >= curve.max() - 1e-12)[0]) + 1


def _summarise(ks: np.ndarray, means: np.ndarray, level: float) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    lo, hi = np.quantile(ks, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return (int(lo), int(hi)), low, high


def k_interval(draw_curves: np.ndarray, *, rounds: int = 200, level: float = 0.95, seed: int = 0) -> tuple[int, int]:
    """Interval of the optimal K from per-query curves of posterior draws, shape (Q, draws, kmax)."""
    return draw_bootstrap(draw_curves, rounds=rounds, level=level, seed=seed)[0]


def draw_bootstrap(draw_curves: np.ndarray, *, rounds: int = 200, level: float = 0.95, seed: int = 0,
                   resample_queries: bool = True) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """The optimal K's interval and the pointwise band of the task curve, from per-query curves of
    posterior draws, shape (Q, draws, kmax).

    Each bootstrap round resamples the queries and picks one posterior draw per query; the interval
    is the central ``level`` range of the rounds' argmax K and the band, at every K, the central
    ``level`` range of the rounds' mean accuracy. That is the uncertainty about the task (other
    queries like these) with the prior taken as known; ``resample_queries=False`` keeps the queries
    and draws only their difficulty: the uncertainty about these queries' own curve.
    """
    Q, S, kmax = draw_curves.shape
    # two levels per round (which queries, then which posterior draw of each), so this is not the
    # kernel's one-level resample of rows (skyplex.stats.bootstrap_means)
    rng = np.random.default_rng(seed)
    ks = np.empty(rounds, dtype=int)
    means = np.empty((rounds, kmax))
    for b in range(rounds):
        qi = rng.integers(0, Q, Q) if resample_queries else np.arange(Q)
        si = rng.integers(0, S, Q)
        means[b] = draw_curves[qi, si].mean(axis=0)
        ks[b] = _argmax_k(means[b])
    return _summarise(ks, means, level)


def coefficient_cov(E: np.ndarray, mult: np.ndarray, basis: np.ndarray, weights: np.ndarray,
                    penalty: float) -> np.ndarray:
    """Inverse of the negative Hessian of the g-model's penalised log-likelihood at ``weights``
    (``E``: each distinct count row's likelihood at each grid point, any positive scale per row;
    ``mult``: how many queries have each row): the Laplace posterior covariance of the coefficients."""
    den = E @ weights
    P = E * weights[None] / den[:, None]  # each row's posterior over the grid
    BP = P @ basis
    # d2 ll / dz dz' = diag(sum_r n_r P_r) - P' diag(n) P - N (diag(g) - g g'), with z = basis @ a
    bg = basis.T @ weights
    H = (basis.T * (mult @ P)) @ basis - (BP.T * mult) @ BP - mult.sum() * ((basis.T * weights) @ basis - np.outer(bg, bg))
    J = -H + 2.0 * penalty * np.eye(basis.shape[1])
    J = 0.5 * (J + J.T)
    return np.linalg.inv(J)


def grid_band(prior: Any, counts: np.ndarray, curves: np.ndarray, basis: np.ndarray | None, *, rounds: int = 200,
              level: float = 0.95, seed: int = 0) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """:func:`draw_bootstrap` for the grid prior with the prior's own uncertainty: each round
    resamples the queries, draws the g-model's coefficients from their Laplace posterior
    (:func:`coefficient_cov`), and draws each resampled query's grid point from its posterior under
    that round's prior; ``curves`` are the grid points' exact curves (points, kmax). ``basis`` is the
    g-model's design matrix over the grid; ``None`` (or a prior without coefficients: the NPMLE)
    keeps the fitted weights in every round."""
    from .grid_prior import support_loglik

    C = np.asarray(counts, dtype=float)
    rows, inverse = np.unique(C, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    ll = support_loglik(rows, prior.support)
    E = np.exp(ll - ll.max(axis=1, keepdims=True))
    mult = np.bincount(inverse, minlength=len(rows)).astype(float)
    rng = np.random.default_rng(seed)
    Q, G = len(C), len(prior.support)
    noisy = basis is not None and prior.coefficients is not None and prior.penalty > 0
    if noisy:
        chol = np.linalg.cholesky(coefficient_cov(E, mult, basis, prior.weights, prior.penalty))
    ks = np.empty(rounds, dtype=int)
    means = np.empty((rounds, curves.shape[1]))
    if noisy:  # every round's prior weights at once, unnormalised (only ratios matter below)
        Z = basis @ (prior.coefficients[:, None] + chol @ rng.standard_normal((basis.shape[1], rounds)))
        W = np.exp(Z - Z.max(axis=0))
    for b in range(rounds):
        qi = inverse[rng.integers(0, Q, Q)]
        g = W[:, b] if noisy else prior.weights
        # one grid point per resampled query from its row's posterior (proportional to E_r * g): the
        # rows' unnormalised cdfs laid end to end in one cumulative sum, each query searching its row
        flat = np.cumsum((E * g[None]).ravel())
        ends = flat[G - 1::G]
        starts = np.concatenate([[0.0], ends[:-1]])
        target = starts[qi] + rng.random(Q) * (ends[qi] - starts[qi])
        pick = np.searchsorted(flat, target, side="right") - qi * G
        means[b] = curves[np.clip(pick, 0, G - 1)].mean(axis=0)
        ks[b] = _argmax_k(means[b])
    return _summarise(ks, means, level)


def holding_point(curve: np.ndarray, k_best: int, interval: tuple[int, int], low: np.ndarray,
                  high: np.ndarray) -> tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """A bootstrap's interval of the optimal K and its pointwise band of the curve, each widened where
    needed to hold the point estimate (``k_best``, ``curve``); the band kept inside [0, 1]."""
    lo, hi = interval
    return ((min(lo, k_best), max(hi, k_best)),
            (np.clip(np.minimum(low, curve), 0.0, 1.0), np.clip(np.maximum(high, curve), 0.0, 1.0)))


def bootstrap_band(per_query: np.ndarray, *, rounds: int = 500, level: float = 0.95,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Bootstrap over queries of a mean curve: the pointwise band and the interval of its argmax K.

    The resamples are the kernel's (:func:`skyplex.stats.bootstrap_means` over whole rows), so a seed
    names the same resampled queries here as in every other plugin's interval.
    """
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be between 0 and 1, got {level}", field="level")
    means = bootstrap_means(np.asarray(per_query, dtype=float), rounds=rounds, seed=seed)
    if means.ndim != 2:
        raise InvalidInputError("bootstrap_band takes one accuracy curve per query (a queries x K table)",
                                field="per_query")
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    arg = np.array([_argmax_k(m) for m in means])
    klo, khi = np.quantile(arg, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return lo, hi, (int(klo), int(khi))
