"""The fitter of the paper's repository, re-implemented as the baseline to beat.

Per query it takes the observed answer frequencies as the answer distribution, simulates the vote's
accuracy at a few K by Monte Carlo (``trials`` votes each), and fits one of two curves by least
squares (L-BFGS-B from (1, 1, 1), a1, a2 >= 1e-6): ``1 - exp(-a1 K - a2 sqrt(K) - a3)`` when the
correct answer is (one of) the most frequent, ``exp(-a1 K - a2 sqrt(K) - a3)`` otherwise. When the
correct answer ties for most frequent with t others the simulated accuracies are multiplied by t
before the fit and the prediction divided by t again, as the original does. The task's curve is
the mean of the per-query curves. Abstentions cannot win here either.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from .fit import check_counts


def _easy(K, a1, a2, a3):
    with np.errstate(over="ignore"):  # the optimiser probes huge exponents; they mean accuracy -inf, a bad fit
        return 1 - np.exp(-a1 * K - a2 * np.sqrt(K) - a3)


def _hard(K, a1, a2, a3):
    return np.exp(np.clip(-a1 * K - a2 * np.sqrt(K) - a3, -70, 70))


def _simulate(p: np.ndarray, K: int, trials: int, rng: np.random.Generator) -> float:
    counts = rng.multinomial(K, p, size=trials)
    votes = counts[:, :-1].astype(float)  # the abstain column never wins
    votes = np.where(votes > 0, votes + rng.random(votes.shape) * 0.5, 0.0)  # random tie break
    return float(np.mean((votes.argmax(axis=1) == 0) & (counts[:, 0] > 0)))


def authors_curves(counts, kmax: int, *, fit_ks=(1, 10, 100, 1000), trials: int = 100, seed: int = 0) -> np.ndarray:
    """Per-query predicted accuracy at K = 1..kmax by the paper's fitter: shape (Q, kmax)."""
    C = check_counts(counts)
    rng = np.random.default_rng(seed)
    K = np.arange(1, kmax + 1)
    out = np.empty((C.shape[0], kmax))
    fit_ks = np.asarray(fit_ks, dtype=float)
    for q, row in enumerate(C):
        p = row / row.sum()
        # ties are decided on the whole-number counts, exactly (np.isclose's default tolerances would
        # merge different frequencies once a query has many answers)
        answers = row[:-1]
        best = answers.max()
        tops = np.flatnonzero(answers == best) if best > 0 else np.array([], dtype=int)
        scale = 1.0
        if 0 in tops:
            G = _easy
            if len(tops) > 1:
                scale = float(len(tops))
        else:
            G = _hard
        perf = np.array([_simulate(p, int(k), trials, rng) for k in fit_ks]) * scale

        def loss(a):
            return float(np.sum((perf - G(fit_ks, *a)) ** 2))

        res = minimize(loss, [1.0, 1.0, 1.0], method="L-BFGS-B", bounds=[(1e-6, None), (1e-6, None), (None, None)])
        out[q] = G(K, *res.x) / scale
    return out
