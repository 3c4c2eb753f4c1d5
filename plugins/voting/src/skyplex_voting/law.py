"""Exact accuracy of plurality voting over K independent answers, for any answer distribution.

A query's answers fall into columns ``[correct, wrong_1, ..., wrong_L, abstain]``. Abstentions
(answers that could not be parsed) never win; if every one of the K answers abstains the vote has no
winner and counts as wrong. When the correct answer ties for the most votes with ``t`` wrong answers
the tie rule decides:

* ``random``: one of the tied answers is picked uniformly, so the query scores ``1 / (1 + t)`` in
  expectation. Picking the tied answer that was *sampled first* gives the same expectation, because
  i.i.d. samples arrive in a uniformly random order given their counts.
* ``lose``: a tie is a loss (the correct answer needs a strict plurality).
* ``win``: a tie is a win (an optimistic bound).

How the exact curve is computed, for every K up to ``kmax`` at once: with the counts Poissonised
(each column an independent Poisson with mean ``p_j * s``, or, for a Dirichlet posterior, an
independent negative binomial), the probability that the correct answer wins *and* the total is K
equals the multinomial (or Dirichlet-multinomial) probability times the chance that the total is K.
For each correct count ``c`` the wrong columns must stay below ``c`` (or tie at ``c``): products of
truncated series, kept for every subset of wrong columns so that raising ``c`` by one only adds
shifted terms. All terms are non-negative, so there is no cancellation; ``s`` is chosen per block of
K so that the chance of the total being K never underflows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.special import betainc, gammaln
from skyplex.errors import InvalidInputError

TieRule = Literal["random", "lose", "win"]
TIE_RULES: tuple[str, ...] = ("random", "lose", "win")
#: at most this many wrong columns are kept exactly (3^L shifted additions per correct count)
MAX_WRONG = 6
#: the chance of the total being K may go down to exp(-this) within one block (far above underflow)
_LOG_FLOOR = 300.0


def check_tie_rule(tie: str) -> str:
    """``tie`` if it is a known tie rule, else an error naming the choices."""
    if tie not in TIE_RULES:
        raise InvalidInputError(f"unknown tie rule {tie!r}; use one of {', '.join(TIE_RULES)}", field="tie")
    return tie


def check_kmax(kmax: int) -> int:
    """``kmax`` as an int >= 1, else an error."""
    if isinstance(kmax, bool) or not isinstance(kmax, (int, np.integer)) or kmax < 1:
        raise InvalidInputError(f"K must be a whole number of calls >= 1, got {kmax!r}", field="k")
    return int(kmax)


def tie_weight(tie: str, tied_wrong: int) -> float:
    """Expected score of a query whose correct answer ties with ``tied_wrong`` wrong answers."""
    if tied_wrong == 0:
        return 1.0
    return {"random": 1.0 / (1 + tied_wrong), "lose": 0.0, "win": 1.0}[tie]


# ------------------------------------------------------------------------------------------------
def _as_distributions(probs: np.ndarray) -> np.ndarray:
    P = np.asarray(probs, dtype=float)
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2 or P.shape[1] < 2:
        raise InvalidInputError("an answer distribution needs at least the columns [correct, abstain]",
                                field="probs")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise InvalidInputError("answer probabilities must be finite and >= 0", field="probs")
    totals = P.sum(axis=1)
    bad = np.flatnonzero(np.abs(totals - 1.0) > 1e-9)
    if bad.size:
        raise InvalidInputError(
            f"answer probabilities (with the abstain column) must sum to 1; row {int(bad[0])} sums to "
            f"{totals[bad[0]]:.6g}: normalise them, or put the missing mass in the abstain column", field="probs")
    return P


def as_distributions(probs: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """``probs`` as checked answer distributions (rows ``[correct, wrong..., abstain]`` summing to 1)."""
    return _as_distributions(np.asarray(probs, dtype=float))


def _blocks(log_norm, kmax: int) -> list[tuple[int, int, float]]:
    """Split K = 1..kmax into blocks (lo, hi, s) whose normaliser stays above exp(-_LOG_FLOOR)."""
    blocks = []
    hi = kmax
    while hi >= 1:
        s = float(hi)
        ks = np.arange(1, hi + 1)
        ok = log_norm(ks, s) >= -_LOG_FLOOR
        lo = int(ks[np.argmax(ok)]) if ok.any() else hi
        # the first K that passes may be followed by failing ones only at the top, which cannot happen
        # for unimodal normalisers with mode near s; keep the contiguous tail [lo, hi]
        blocks.append((lo, hi, s))
        hi = lo - 1
    return blocks


def _win_series(W: np.ndarray, tie: str) -> np.ndarray:
    """``sum_c w_correct(c) x^c * sum_U weight(|U|) prod_{j in U} w_j(c) x^{c|U|} prod_{j not in U} T_j,c``.

    ``W`` has shape (Q, 1 + L, N + 1): the correct column then the L wrong columns, each a series
    in the count. ``T_j,c`` is column j truncated below ``c``. Returns shape (Q, N + 1).
    """
    Q, cols, n1 = W.shape
    N = n1 - 1
    L = cols - 1
    subsets = [frozenset(s) for r in range(L + 1) for s in itertools.combinations(range(L), r)]
    index = {s: i for i, s in enumerate(subsets)}
    full = frozenset(range(L))
    # P[S] = prod_{j in S} T_{j,c}; at c = 1 each T is the constant w_j(0)
    P = np.zeros((len(subsets), Q, n1))
    for S in subsets:
        P[index[S], :, 0] = np.prod(W[:, [1 + j for j in S], 0], axis=1) if S else 1.0
    # sub-subsets with their complement, listed once (the same pairs serve ties and updates)
    parts = {S: [(T, index[S - T]) for r in range(len(S) + 1) for T in map(frozenset, itertools.combinations(sorted(S), r))]
             for S in subsets}
    weights = {r: tie_weight(tie, r) for r in range(L + 1)}
    out = np.zeros((Q, n1))
    for c in range(1, N + 1):
        wc = W[:, 1:, c]  # (Q, L): each wrong column's weight at exactly c
        acc = np.zeros((Q, n1 - c))
        for U, rest in parts[full]:
            shift = c * len(U)
            if shift > N - c or weights[len(U)] == 0.0:
                continue
            coef = weights[len(U)] * (np.prod(wc[:, sorted(U)], axis=1) if U else 1.0)
            acc[:, shift:] += (coef if np.ndim(coef) == 0 else coef[:, None]) * P[rest, :, : n1 - c - shift]
        out[:, c:] += W[:, 0, c][:, None] * acc
        if c == N:
            break
        # raise c: T_{j,c+1} = T_{j,c} + w_j(c) x^c, expanded over every subset product. Larger
        # subsets first, so the strict subsets each update reads still hold their values for c
        for S in reversed(subsets):
            for T, rest in parts[S]:
                if not T:
                    continue
                shift = c * len(T)
                if shift > N:
                    continue
                coef = np.prod(wc[:, sorted(T)], axis=1)
                P[index[S], :, shift:] += coef[:, None] * P[rest, :, : n1 - shift]
    return out


def _convolve_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise product of series, truncated to A's length."""
    n1 = A.shape[1]
    out = np.zeros_like(A)
    for k in range(n1):
        out[:, k:] += A[:, : n1 - k] * B[:, k : k + 1]
    return out


def _curves(log_w, log_norm, columns: int, Q: int, kmax: int, tie: str, series_of=None) -> np.ndarray:
    """Shared driver: ``log_w(s, n)`` gives (Q, columns, len(n)) log-weights at scale s.
    ``series_of`` replaces :func:`_win_series` (the peaked shape has no limit on wrong columns)."""
    check_tie_rule(tie)
    L = columns - 2
    if series_of is None and L > MAX_WRONG:
        raise InvalidInputError(f"{L} wrong answers per query is more than the {MAX_WRONG} kept exactly; "
                                "lump the rarest wrong answers into the abstain column first (see lump_columns)",
                                field="probs")
    result = np.zeros((Q, kmax))
    def binding(k: np.ndarray, s: float) -> np.ndarray:
        # one block split serves every query: the smallest normaliser is the one that must not underflow
        vals = log_norm(k, s)
        return vals.min(axis=0) if vals.ndim == 2 else vals

    for lo, hi, s in _blocks(binding, kmax):
        n = np.arange(hi + 1)
        W = np.exp(log_w(s, n))  # (Q, columns, hi + 1)
        series = (series_of or _win_series)(W[:, :-1, :], tie)
        series = _convolve_rows(series, W[:, -1, :])
        ks = np.arange(lo, hi + 1)
        result[:, lo - 1 : hi] = series[:, lo : hi + 1] * np.exp(-log_norm(ks, s))
    return np.clip(result, 0.0, 1.0)


def _poisson_log(mean: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = n * np.log(mean[..., None]) - mean[..., None] - gammaln(n + 1.0)
    zero = mean[..., None] == 0
    return np.where(zero, np.where(n == 0, 0.0, -np.inf), out)


def plurality_curves(probs: np.ndarray | Sequence[Sequence[float]], kmax: int, tie: str = "random") -> np.ndarray:
    """Exact accuracy of plurality voting for K = 1..kmax, one row per query.

    ``probs`` has rows ``[p_correct, p_wrong_1, ..., p_wrong_L, p_abstain]`` summing to 1 (an
    abstain column of 0 when every answer parses). Returns shape (queries, kmax); column K-1 is the
    chance that K independent answers elect the correct one under the ``tie`` rule.
    """
    P = _as_distributions(np.asarray(probs, dtype=float))
    kmax = check_kmax(kmax)

    def log_w(s: float, n: np.ndarray) -> np.ndarray:
        return _poisson_log(P * s, n)

    def log_norm(k: np.ndarray, s: float) -> np.ndarray:
        return k * np.log(s) - s - gammaln(k + 1.0)

    return _curves(log_w, log_norm, P.shape[1], P.shape[0], kmax, tie)


def peaked_plurality_curves(probs: np.ndarray | Sequence[Sequence[float]], kmax: int,
                            tie: str = "random") -> np.ndarray:
    """:func:`plurality_curves` for distributions ``[p_correct, p_top, q, ..., q, p_abstain]`` whose
    wrong columns after the first are all equal (one dominant wrong answer, the rest spread evenly).

    The same exact accuracy in O(L^2) instead of O(3^L) per correct count, so any number of wrong
    columns is allowed; rows whose wrong columns 2..L differ are refused. It is
    :func:`.grouped_law.grouped_plurality_curves` with one distinct wrong answer.
    """
    from .grouped_law import grouped_plurality_curves  # it builds on this module's series

    return grouped_plurality_curves(probs, kmax, tie, distinct=1)


def plurality_curve(probs: Sequence[float], kmax: int, tie: str = "random") -> np.ndarray:
    """:func:`plurality_curves` for one query: accuracy at K = 1..kmax."""
    return plurality_curves(np.asarray(probs, dtype=float)[None, :], kmax, tie)[0]


def dirichlet_plurality_curves(alphas: np.ndarray, kmax: int, tie: str = "random") -> np.ndarray:
    """Expected plurality accuracy when the answer distribution is Dirichlet(``alphas``)-distributed.

    This is the exact accuracy of K answers drawn from a Dirichlet-multinomial (Pólya urn), which is
    what the posterior predicts for K fresh calls. Columns as in :func:`plurality_curves`; an alpha
    of 0 means the answer cannot occur.
    """
    A = np.asarray(alphas, dtype=float)
    if A.ndim == 1:
        A = A[None, :]
    if A.ndim != 2 or A.shape[1] < 2 or not np.all(np.isfinite(A)) or np.any(A < 0) or np.any(A.sum(axis=1) <= 0):
        raise InvalidInputError("Dirichlet parameters must be finite, >= 0, at least two columns, not all 0",
                                field="alphas")
    kmax = check_kmax(kmax)
    a0 = A.sum(axis=1)

    def z_of(s: float) -> np.ndarray:
        return s / (s + a0)  # negative-binomial success scale whose total has mean s

    def log_w(s: float, n: np.ndarray) -> np.ndarray:
        z = z_of(s)[:, None, None]
        a = A[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = gammaln(n + a) - gammaln(a) - gammaln(n + 1.0) + n * np.log(z) + a * np.log1p(-z)
        return np.where(a == 0, np.where(n == 0, 0.0, -np.inf), out)

    def log_norm(k: np.ndarray, s: float) -> np.ndarray:
        z = z_of(s)
        return (gammaln(k[None, :] + a0[:, None]) - gammaln(a0[:, None]) - gammaln(k[None, :] + 1.0)
                + k[None, :] * np.log(z[:, None]) + a0[:, None] * np.log1p(-z[:, None]))

    return _curves(log_w, log_norm, A.shape[1], A.shape[0], kmax, tie)


def lump_columns(probs: np.ndarray, keep: int = MAX_WRONG) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``keep`` largest wrong columns per row and move the rest into the abstain column.

    Returns the narrowed matrix and the mass moved per row. Moved answers can no longer win, so the
    curve computed from the result is exact when that mass is 0 and otherwise slightly optimistic
    for the correct answer only if a lumped answer could have reached the plurality.
    """
    P = np.asarray(probs, dtype=float)
    wrong = P[:, 1:-1]
    if wrong.shape[1] <= keep:
        return P, np.zeros(P.shape[0])
    order = np.argsort(-wrong, axis=1)
    kept = np.take_along_axis(wrong, order[:, :keep], axis=1)
    moved = np.take_along_axis(wrong, order[:, keep:], axis=1).sum(axis=1)
    out = np.concatenate([P[:, :1], kept, (P[:, -1] + moved)[:, None]], axis=1)
    return out, moved


# ------------------------------------------------------------------------------------------------
def two_level_curve(p_correct: float, p_wrong: float, kmax: int, tie: str = "random") -> np.ndarray:
    """The two-level closed form: accuracy at K = 1..kmax when only the correct answer (``p_correct``)
    and one wrong answer (``p_wrong``) can win and the rest of the mass abstains.

    Of the ``n`` answers that are not abstentions (binomial in K with ``s = p_correct + p_wrong``),
    the correct one wins with the regularised incomplete beta ``I_r(floor(n/2) + 1, ceil(n/2))``,
    ``r = p_correct / s``, and ties (n even) score by the tie rule. With ``s = 1`` this is the
    paper's ``I_r`` closed form directly. Exact when no other answer has mass.
    """
    return two_level_curves(np.array([p_correct]), np.array([p_wrong]), kmax, tie)[0]


def two_level_curves(p_correct: np.ndarray, p_wrong: np.ndarray, kmax: int, tie: str = "random") -> np.ndarray:
    """:func:`two_level_curve` for many queries at once: shape (queries, kmax)."""
    check_tie_rule(tie)
    kmax = check_kmax(kmax)
    pc = np.asarray(p_correct, dtype=float).ravel()
    pw = np.asarray(p_wrong, dtype=float).ravel()
    if pc.shape != pw.shape or np.any(pc < 0) or np.any(pw < 0) or np.any(pc + pw > 1 + 1e-9) \
            or not (np.all(np.isfinite(pc)) and np.all(np.isfinite(pw))):
        raise InvalidInputError("p_correct and p_wrong must be probabilities with p_correct + p_wrong <= 1",
                                field="probs")
    s = np.clip(pc + pw, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # the ratio is a probability; a p_correct a rounding error above 1 (accepted above) must not
        # push it past 1, where the incomplete beta and log1p(-r) are NaN
        r = np.clip(np.where(s > 0, pc / np.where(s > 0, s, 1.0), 0.0), 0.0, 1.0)
    n = np.arange(1, kmax + 1)
    half = n // 2
    # h[q, n-1]: chance the correct answer wins among n votes for the two answers
    h = betainc(half[None, :] + 1.0, (n - half)[None, :] * 1.0, r[:, None])
    even = (n % 2 == 0)
    tw = {"random": 0.5, "lose": 0.0, "win": 1.0}[tie]
    if tw:
        m = half[even]
        log_tie = gammaln(2 * m + 1.0) - 2 * gammaln(m + 1.0)
        with np.errstate(divide="ignore"):
            lr = m * (np.log(r[:, None]) + np.log1p(-r[:, None]))
        h[:, even] += tw * np.exp(log_tie + np.nan_to_num(lr, nan=-np.inf))
    full = np.isclose(s, 1.0, rtol=0.0, atol=1e-12)
    out = np.empty((pc.size, kmax))
    out[full] = h[full]
    part = ~full
    if part.any():
        # binomial mixture over the number n of non-abstaining answers (n = 0 has no winner)
        K = n[:, None]
        nn = n[None, :]
        ss = s[part][:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            logb = (gammaln(K + 1.0) - gammaln(nn + 1.0) - gammaln(K - nn + 1.0))[None] \
                + nn[None] * np.log(ss) + (K - nn)[None] * np.log1p(-ss)
        binom = np.where(nn[None] <= K[None], np.exp(np.nan_to_num(logb, nan=-np.inf)), 0.0)
        out[part] = np.einsum("qkn,qn->qk", binom, h[part])
    return np.clip(out, 0.0, 1.0)


# ------------------------------------------------------------------------------------------------
def optimal_k(curve: Sequence[float]) -> tuple[int, float]:
    """The K (1-based) with the highest accuracy on ``curve``, the smallest such K on ties, and its accuracy."""
    arr = np.asarray(curve, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidInputError("an accuracy curve must be a non-empty list of finite numbers", field="curve")
    best = arr.max()
    k = int(np.flatnonzero(arr >= best - 1e-12)[0]) + 1
    return k, float(arr[k - 1])


def cost_optimal_k(curve: Sequence[float], *, cost_per_call: float, value_per_correct: float = 1.0) -> tuple[int, float]:
    """The K that maximises ``value_per_correct * accuracy(K) - cost_per_call * K`` (per query),
    over every K on ``curve`` (the smallest on ties), and that net value.

    With a backend's price, ``cost_per_call`` is the dollars of one call (tokens x price) and
    ``value_per_correct`` what a correct answer is worth in the same unit.
    """
    arr = np.asarray(curve, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise InvalidInputError("an accuracy curve must be a non-empty list of finite numbers", field="curve")
    if not (np.isfinite(cost_per_call) and cost_per_call >= 0 and np.isfinite(value_per_correct) and value_per_correct > 0):
        raise InvalidInputError("cost_per_call must be >= 0 and value_per_correct > 0", field="cost_per_call")
    ks = np.arange(1, arr.size + 1)
    # compare in accuracy units (net / value): a tolerance on the net value itself would merge every K
    # when a correct answer is worth little (fractions of a cent) and none when it is worth a lot
    with np.errstate(over="ignore"):
        ratio = cost_per_call / value_per_correct
        rel = arr - ratio * ks
    k = int(np.flatnonzero(rel >= rel.max() - 1e-12)[0]) + 1
    return k, float(value_per_correct * arr[k - 1] - cost_per_call * k)
