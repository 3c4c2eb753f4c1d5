"""Exact plurality accuracy for answer distributions with a few distinct wrong answers and the rest
of the wrong mass spread evenly: rows ``[p_correct, d_1, ..., d_D, q, ..., q, p_abstain]``.

:func:`law.plurality_curves` keeps every subset of wrong columns (3^L shifted additions per correct
count, at most 6 wrong columns). This keeps only the products ``prod_{i in S} T_i * A^k`` for every subset ``S``
of the ``D`` distinct columns and every power ``k`` of the identical columns' truncated series
``A``: 3^D (n+1)(n+2)/2 shifted additions per correct count for ``n`` identical columns. Raising the
correct count by one adds one term to each truncated series, so every product follows from the old
ones by the binomial theorem over ``A`` and the subset expansion over the ``T_i``; all terms are
non-negative, as in the general law. The grid prior uses ``D = 2`` (a top and a second wrong answer);
:func:`law.peaked_plurality_curves` is ``D = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln
from skyplex.errors import InvalidInputError

from .law import _as_distributions, _curves, _poisson_log, check_kmax, tie_weight


def _submasks(mask: int) -> list[int]:
    """Every submask of ``mask`` (itself and 0 included)."""
    out, sub = [], mask
    while True:
        out.append(sub)
        if sub == 0:
            return out
        sub = (sub - 1) & mask


def _grouped_win_series(W: np.ndarray, tie: str, distinct: int) -> np.ndarray:
    """The win series of :func:`law._win_series` when wrong columns ``distinct + 1 ..`` are identical.

    ``W``: (Q, 1 + L, N + 1), the correct column then the L wrong columns as series in the count.
    """
    Q, cols, n1 = W.shape
    N = n1 - 1
    L = cols - 1
    D = min(distinct, L)
    n = L - D  # identical columns
    full = (1 << D) - 1
    masks = list(range(full + 1))
    subs = {S: _submasks(S) for S in masks}
    bits = {S: [i for i in range(D) if S >> i & 1] for S in masks}
    binom = [[float(math.comb(k, j)) for j in range(k + 1)] for k in range(n + 1)]
    weights = [tie_weight(tie, r) for r in range(L + 1)]
    wq0 = W[:, 1 + D, 0] if n else np.ones(Q)
    # X[S, k] = prod_{i in S} T_i * A^k, every series truncated below c (c = 1: the zero counts)
    X = np.zeros((full + 1, n + 1, Q, n1))
    for S in masks:
        base = np.prod(W[:, [1 + i for i in bits[S]], 0], axis=1) if bits[S] else np.ones(Q)
        for k in range(n + 1):
            X[S, k, :, 0] = base * wq0 ** k
    out = np.zeros((Q, n1))
    for c in range(1, N + 1):
        wd = W[:, 1 : 1 + D, c]  # (Q, D): each distinct column's weight at exactly c
        wq = W[:, 1 + D, c] if n else np.zeros(Q)
        span = n1 - c
        acc = np.zeros((Q, span))
        for U in masks:  # the distinct columns tied with the correct one at c
            rest = full ^ U
            tied_d = len(bits[U])
            coef_u = np.prod(wd[:, bits[U]], axis=1) if bits[U] else np.ones(Q)
            for j in range(n + 1):  # identical columns tied at c
                shift = c * (tied_d + j)
                if shift >= span:
                    break
                w = weights[tied_d + j]
                if w:
                    coef = w * binom[n][j] * coef_u * wq ** j
                    acc[:, shift:] += coef[:, None] * X[rest, n - j, :, : span - shift]
        out[:, c:] += W[:, 0, c][:, None] * acc
        if c == N:
            break
        # only the first N - c terms are read from here on (the win at c' > c reads below N + 1 - c'),
        # so the products shrink every step; the term with nothing added is a copy
        lim = N - c
        new = X[:, :, :, :lim].copy()
        for S in masks:
            for T in subs[S]:
                coef_t = np.prod(wd[:, bits[T]], axis=1) if bits[T] else np.ones(Q)
                for k in range(n + 1):
                    for j in range(k + 1):
                        shift = c * (len(bits[T]) + j)
                        if shift == 0:
                            continue
                        if shift >= lim:
                            break
                        coef = (coef_t * binom[k][j] * wq ** j)[:, None]
                        new[S, k, :, shift:] += coef * X[S ^ T, k - j, :, : lim - shift]
        X = new
    return out


def grouped_plurality_curves(probs: np.ndarray | Sequence[Sequence[float]], kmax: int, tie: str = "random",
                             *, distinct: int = 2) -> np.ndarray:
    """:func:`law.plurality_curves` for rows ``[p_correct, d_1..d_distinct, q, ..., q, p_abstain]``
    whose wrong columns after the first ``distinct`` are all equal; any number of wrong columns.
    Rows that are not of that shape are refused."""
    P = _as_distributions(np.asarray(probs, dtype=float))
    kmax = check_kmax(kmax)
    if isinstance(distinct, bool) or not isinstance(distinct, (int, np.integer)) or distinct < 0:
        raise InvalidInputError(f"distinct must be a whole number >= 0, got {distinct!r}", field="distinct")
    if P.shape[1] < 3:
        raise InvalidInputError("a grouped answer distribution needs the columns [correct, wrong..., abstain]",
                                field="probs")
    rest = P[:, 1 + distinct : -1]
    if rest.shape[1] and np.any(np.abs(rest - rest[:, :1]) > 1e-12):
        bad = int(np.flatnonzero(np.any(np.abs(rest - rest[:, :1]) > 1e-12, axis=1))[0])
        raise InvalidInputError(f"row {bad}: the wrong columns after the first {distinct} must be equal; use "
                                "plurality_curves for other shapes", field="probs")

    def log_w(s: float, n: np.ndarray) -> np.ndarray:
        return _poisson_log(P * s, n)

    def log_norm(k: np.ndarray, s: float) -> np.ndarray:
        return k * np.log(s) - s - gammaln(k + 1.0)

    def series(W: np.ndarray, t: str) -> np.ndarray:
        return _grouped_win_series(W, t, int(distinct))

    return _curves(log_w, log_norm, P.shape[1], P.shape[0], kmax, tie, series_of=series)
