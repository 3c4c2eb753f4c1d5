"""A nonparametric difficulty prior on a fixed grid of answer distributions (empirical Bayes).

Dirichlet-type priors tie a query's difficulty to how spread its answers are and put much mass
near the tie between the correct answer and the top wrong one. Real answer distributions need not
look like that (the SmolLM2 tasks measured here are nearly two-answer distributions with little mass
at the tie), so this prior is a weight per point of a fixed grid of distributions

    ``[p_correct, p_top_wrong, p_second_wrong, q, ..., q, p_abstain]``

(``p_correct`` on :data:`GRID_CORRECT` levels, the top wrong answer's share of the wrong mass on
:data:`GRID_SHARE` levels from "all wrong answers alike" to "one wrong answer", the second wrong
answer's share of the rest on :data:`GRID_SECOND` levels from "alike" to "all of it", the rest of
the wrong mass spread evenly, ``p_abstain`` the pooled rate of unparsable answers), learned from all
queries' multinomial likelihoods at once. Which wrong columns hold the top and the second answer is
unknown, so a count row's likelihood averages over them (the wrong columns stay exchangeable, as in
the Dirichlet prior). Tasks whose wrong answers cluster on two values (a digit off by one either
way, two plausible items of a list) need the second level; with one the grid spreads that mass.

Two estimators of the weights:

* ``penalty > 0`` (default :data:`PENALTY`): Efron-style g-modelling, ``log weights = basis @ a``
  with smooth bumps in ``p_correct`` times a quadratic in the top share, maximising the marginal
  log-likelihood minus ``penalty * |a|^2``. Smooth, and still free to leave a gap at the tie.
* ``penalty = 0``: the Kiefer-Wolfowitz NPMLE by EM (every weight free). With 4-10 answers per query
  it piles mass onto a few grid points and extrapolates the curve beyond K = m badly
  (benchmarks/voting_law.py), so it is there for comparison.

Every grid point's exact accuracy curve is computed once (:mod:`.grouped_law`), so a
query's predicted curve is its posterior weights times those curves: one matrix product for all
queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from skyplex.errors import InvalidInputError

from .grouped_law import grouped_plurality_curves
from .law import check_kmax, check_tie_rule

#: levels of p_correct on the grid (0 to 1 of the parsable mass)
GRID_CORRECT = 41
#: levels of the top wrong answer's share of the wrong mass (1/L: all alike .. 1: one wrong answer)
GRID_SHARE = 8
#: levels of the second wrong answer's share of the non-top wrong mass (1: the one-peak grid). Chosen
#: with PENALTY on the arithmetic and sequence tasks (in sample, 3 draws, m = 4, 8, 10, mean MAE of
#: the whole-task curves: 1 level 2.22 points at penalty 10 and 2.10 at 30; 4 levels 1.91 / 1.67;
#: 5 levels 1.54 and 6 levels 1.48 at 30; benchmarks/voting_law.py's grid:N:R comparison)
GRID_SECOND = 6
#: strength of the ridge on the g-model's coefficients; 10 was chosen on the arithmetic task for the
#: one-peak grid (1, 3, 10, 30, 100 tried); with the second-answer levels 30 had the lowest mean error
#: on the arithmetic and sequence tasks (1, 3, 10, 30, 100 tried at 4 levels; see GRID_SECOND)
PENALTY = 30.0
#: smooth bumps in p_correct (Gaussian, centres evenly over [0, 1], width = their spacing)
BASIS_CENTRES = 7
#: degree of the polynomial in the top wrong share
SHARE_DEGREE = 2
#: EM stops when the log-likelihood gains less than this (relative) in one step
EM_TOL = 1e-10
_LOG_TINY = np.log(1e-300)


def support_grid(n_wrong: int, p_abstain: float = 0.0, *, levels: int = GRID_CORRECT,
                 shares: int = GRID_SHARE, seconds: int = 1) -> np.ndarray:
    """The grid's answer distributions, rows ``[p_correct, p_top, p_second, q x (n_wrong - 2), p_abstain]``.

    ``seconds`` levels of the second wrong answer's share of the non-top wrong mass, from "alike"
    (then ``p_second = q``: the one-peak shape) to "all of it"; points whose second answer would
    outweigh the top one are left out (they are the same distributions with the columns swapped).
    """
    if n_wrong < 1 or levels < 2 or shares < 1 or seconds < 1:
        raise InvalidInputError("the grid needs at least one wrong column, two p_correct levels, one "
                                "share level and one second-answer level", field="grid")
    if not 0.0 <= p_abstain <= 1.0:
        raise InvalidInputError(f"p_abstain must be a probability, got {p_abstain}", field="p_abstain")
    parsable = 1.0 - p_abstain
    share_levels = np.linspace(1.0 / n_wrong, 1.0, shares) if n_wrong > 1 else np.array([1.0])
    second_levels = np.linspace(1.0 / (n_wrong - 1), 1.0, seconds) if n_wrong > 2 else np.array([1.0])
    rows = []
    for pc in np.linspace(0.0, 1.0, levels):
        wrong = (1.0 - pc) * parsable
        for share in (share_levels if wrong > 0 else share_levels[-1:]):
            top = share * wrong
            rest_mass = wrong - top
            for k, second_share in enumerate(second_levels if rest_mass > 1e-12 else second_levels[:1]):
                second = second_share * rest_mass
                if k > 0 and second > top + 1e-12:
                    break
                others = [(rest_mass - second) / (n_wrong - 2)] * (n_wrong - 2) if n_wrong > 2 else []
                rows.append([pc * parsable, top, *([second] if n_wrong > 1 else []), *others, p_abstain])
    G = np.array(rows)
    return G / G.sum(axis=1, keepdims=True)


def support_loglik(counts: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Log-likelihood of each count row under each grid distribution, up to a per-row constant:
    shape (rows, points). The top and the second wrong answer are equally likely to be any ordered
    pair of wrong columns (the one-peak shape needs only the top one's column)."""
    C = np.asarray(counts, dtype=float)
    with np.errstate(divide="ignore"):
        logs = np.maximum(np.log(support), _LOG_TINY)  # a zero probability seen 0 times adds 0
    W = C[:, 1:-1]
    L = W.shape[1]
    S = W.sum(axis=1)
    base = C[:, :1] * logs[None, :, 0] + C[:, -1:] * logs[None, :, -1]
    if L == 1:
        return base + W * logs[None, :, 1]
    lt, ls = logs[:, 1], logs[:, 2]
    lq = logs[:, 3] if L > 2 else logs[:, 2]
    if np.all(np.abs(ls - lq) < 1e-12):
        # column i is the top one: t^{v_i} q^{S - v_i}; average over the L columns
        per_col = W[:, :, None] * lt[None, None, :] + (S[:, None, None] - W[:, :, None]) * lq[None, None, :]
        return base + logsumexp(per_col, axis=1) - np.log(L)
    # columns (i, j) are the top and the second: t^{v_i} s^{v_j} q^{S - v_i - v_j}; average over pairs
    total = np.full((C.shape[0], support.shape[0]), -np.inf)
    for i in range(L):
        for j in range(L):
            if i != j:
                term = (W[:, i, None] * (lt - lq)[None] + W[:, j, None] * (ls - lq)[None] + S[:, None] * lq[None])
                total = np.logaddexp(total, term)
    return base + total - np.log(L * (L - 1))


def smooth_basis(support: np.ndarray, *, centres: int = BASIS_CENTRES, degree: int = SHARE_DEGREE) -> np.ndarray:
    """The g-model's design matrix over the grid: bumps in p_correct times powers of the top share
    (and the second answer's share, linearly, on a grid that has second-answer levels)."""
    L = support.shape[1] - 2
    parsable = 1.0 - support[:, -1]
    pc = np.where(parsable > 0, support[:, 0] / np.where(parsable > 0, parsable, 1.0), 0.0)
    wrong = parsable - support[:, 0]
    share = np.where(wrong > 1e-12, support[:, 1] / np.where(wrong > 1e-12, wrong, 1.0), 1.0)
    share = (share - 1.0 / L) / (1.0 - 1.0 / L) if L > 1 else np.zeros_like(share)
    mu = np.linspace(0.0, 1.0, centres)
    width = mu[1] - mu[0] if centres > 1 else 1.0
    bumps = np.exp(-0.5 * ((pc[:, None] - mu[None]) / width) ** 2)
    features = [share ** d for d in range(degree + 1 if L > 1 else 1)]
    if L > 2:
        rest = wrong - support[:, 1]
        second = np.where(rest > 1e-12, support[:, 2] / np.where(rest > 1e-12, rest, 1.0), 0.0)
        second = np.clip((second - 1.0 / (L - 1)) / (1.0 - 1.0 / (L - 1)), 0.0, 1.0)
        # a linear term in the second answer's share, where the grid has levels of it (on the one-peak
        # grid the share is 0 up to rounding, which standardising would blow up into a feature)
        if np.ptp(second) > 1e-6:
            features.append(second)
    powers = np.stack(features, axis=1)
    B = (bumps[:, :, None] * powers[:, None, :]).reshape(len(support), -1)
    sd = B.std(axis=0)
    return (B - B.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def npmle_em(loglik: np.ndarray, multiplicity: np.ndarray, *, iterations: int = 5000,
             tol: float = EM_TOL) -> tuple[np.ndarray, list[float]]:
    """Kiefer-Wolfowitz NPMLE of the grid weights by EM; returns the weights and the log-likelihood
    after each step (it never decreases: EM's guarantee, checked by the tests)."""
    top = loglik.max(axis=1, keepdims=True)
    E = np.exp(loglik - top)
    n = multiplicity / multiplicity.sum()
    w = np.full(loglik.shape[1], 1.0 / loglik.shape[1])
    trace: list[float] = []
    for _ in range(iterations):
        den = E @ w
        trace.append(float(multiplicity @ (np.log(den) + top[:, 0])))
        if len(trace) > 1 and trace[-1] - trace[-2] <= tol * abs(trace[-1]):
            break
        w = w * ((n / den) @ E)
        w /= w.sum()
    return w, trace


def _fit_smooth(loglik: np.ndarray, multiplicity: np.ndarray, basis: np.ndarray,
                penalty: float) -> tuple[np.ndarray, np.ndarray]:
    top = loglik.max(axis=1, keepdims=True)
    E = np.exp(loglik - top)
    total = multiplicity.sum()

    def objective(a: np.ndarray) -> tuple[float, np.ndarray]:
        z = basis @ a
        g = np.exp(z - logsumexp(z))
        den = E @ g
        ll = float(multiplicity @ np.log(den))
        # d ll / d z_j = sum_q n_q E_qj g_j / den_q - N g_j (softmax)
        dz = ((multiplicity / den) @ E) * g - total * g
        return -(ll - penalty * float(a @ a)), -(basis.T @ dz - 2.0 * penalty * a)

    res = minimize(objective, np.zeros(basis.shape[1]), jac=True, method="L-BFGS-B")
    z = basis @ res.x
    return np.exp(z - logsumexp(z)), res.x


@dataclass
class GridPrior:
    """Weights over a fixed grid of answer distributions, shared by all queries of a task."""

    support: np.ndarray
    weights: np.ndarray
    penalty: float
    log_likelihood: float
    queries: int
    samples: int
    coefficients: np.ndarray | None = None
    _curves: dict = field(default_factory=dict, repr=False)

    @property
    def n_wrong(self) -> int:
        """Wrong columns of the counts this prior was fitted on."""
        return self.support.shape[1] - 2

    def curves(self, kmax: int, tie: str = "random") -> np.ndarray:
        """Exact accuracy at K = 1..kmax of every grid point: shape (points, kmax), computed once
        (by the grouped law: one distinct wrong answer for the one-peak points, two for the others)."""
        key = (check_kmax(kmax), check_tie_rule(tie))
        if key not in self._curves:
            G = self.support
            one_peak = np.all(np.abs(G[:, 2:-1] - G[:, 2:3]) <= 1e-12, axis=1) if G.shape[1] > 3 else np.ones(len(G), bool)
            out = np.zeros((len(G), key[0]))
            if one_peak.any():  # the grouped law with one distinct answer: the peaked law, truncated
                out[one_peak] = grouped_plurality_curves(G[one_peak], key[0], tie, distinct=1)
            if (~one_peak).any():
                out[~one_peak] = grouped_plurality_curves(G[~one_peak], key[0], tie, distinct=2)
            self._curves[key] = out
        return self._curves[key]

    def to_dict(self) -> dict:
        """A JSON-ready summary (the grid is described, not listed)."""
        w = self.weights
        pc, top = self.support[:, 0], self.support[:, 1]
        nz = w[w > 0]
        return {"kind": "grid", "points": int(len(w)), "penalty": self.penalty,
                "effective_points": float(np.exp(-(nz * np.log(nz)).sum())),
                "mean_p_correct": float(w @ pc), "mass_near_tie": float(w[np.abs(pc - top) < 0.05].sum()),
                "p_abstain": float(self.support[0, -1]), "n_wrong": self.n_wrong,
                "mean_p_second": float(w @ self.support[:, 2]) if self.n_wrong > 1 else 0.0,
                "log_likelihood": self.log_likelihood, "queries": self.queries, "samples": self.samples}


def fit_grid_prior(counts: Any, *, penalty: float = PENALTY, seconds: int | None = None,
                   p_abstain: float | None = None, basis: Callable[[np.ndarray], np.ndarray] | None = None) -> GridPrior:
    """Fit the grid prior's weights to answer counts (rows ``[correct, wrong..., abstain]``).

    ``penalty > 0`` fits the smooth g-model, ``penalty = 0`` the unsmoothed NPMLE by EM (see the
    module's docstring). Needs at least 2 answers for some query, as every pooled prior does.
    ``p_abstain`` (default: the counts' pooled rate of unparsable answers) is the grid's abstain
    probability; a prior fitted on part of a task's queries takes the whole task's rate from it.
    ``basis`` (default :func:`smooth_basis`) maps the grid to the g-model's design matrix
    (:func:`.tie_prior.tie_basis` adds a step and a bump at the tie between the correct answer and
    the top wrong one).
    """
    from .fit import check_counts  # fit imports this module

    C = check_counts(counts, min_samples=2)
    if not (np.isfinite(penalty) and penalty >= 0):
        raise InvalidInputError(f"penalty must be a number >= 0, got {penalty!r}", field="penalty")
    if p_abstain is None:
        p_abstain = float(C[:, -1].sum() / C.sum())
    elif not 0.0 <= p_abstain <= 1.0:
        raise InvalidInputError(f"p_abstain must be a probability, got {p_abstain!r}", field="p_abstain")
    seconds = GRID_SECOND if seconds is None else seconds
    if isinstance(seconds, bool) or not isinstance(seconds, (int, np.integer)) or seconds < 1:
        raise InvalidInputError(f"seconds must be a whole number >= 1, got {seconds!r}", field="seconds")
    support = support_grid(C.shape[1] - 2, p_abstain, seconds=int(seconds))
    rows, mult = np.unique(C, axis=0, return_counts=True)
    mult = mult.astype(float)
    ll = support_loglik(rows, support)
    if penalty == 0:
        weights, trace = npmle_em(ll, mult)
        coef = None
    else:
        weights, coef = _fit_smooth(ll, mult, (basis or smooth_basis)(support), penalty)
    top = ll.max(axis=1)
    total = float(mult @ (np.log(np.exp(ll - top[:, None]) @ weights) + top))
    return GridPrior(support=support, weights=weights, penalty=float(penalty), log_likelihood=total,
                     queries=int(C.shape[0]), samples=int(C.sum()), coefficients=coef)


def grid_posterior(prior: GridPrior, counts: Any) -> np.ndarray:
    """Each query's posterior weights over the grid: shape (queries, points), rows sum to 1."""
    from .fit import check_counts

    C = check_counts(counts)
    if C.shape[1] != prior.n_wrong + 2:
        raise InvalidInputError(f"counts have {C.shape[1] - 2} wrong columns but the prior was fitted with "
                                f"{prior.n_wrong}", field="counts")
    if prior.support[0, -1] == 0 and C[:, -1].sum() > 0:
        raise InvalidInputError("these counts have unparsable answers but the prior was fitted on counts "
                                "without any; fit the prior on these counts", field="counts")
    rows, inverse = np.unique(C, axis=0, return_inverse=True)
    with np.errstate(divide="ignore"):
        log_post = support_loglik(rows, prior.support) + np.log(prior.weights)[None]
    post = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
    return post[inverse.ravel()]


def grid_predicted_curves(prior: GridPrior, counts: Any, kmax: int, tie: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Each query's posterior mean accuracy at K = 1..kmax and its posterior sd: two (queries, kmax)."""
    post = grid_posterior(prior, counts)
    curves = prior.curves(kmax, tie)
    mean = post @ curves
    var = np.maximum(post @ curves ** 2 - mean ** 2, 0.0)
    return mean, np.sqrt(var)


def grid_draw_curves(prior: GridPrior, counts: Any, kmax: int, draws: int, tie: str = "random",
                     seed: int = 0) -> np.ndarray:
    """Exact curves of ``draws`` posterior draws per query (grid points): shape (queries, draws, kmax)."""
    post = grid_posterior(prior, counts)
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(post, axis=1)
    u = rng.random((post.shape[0], draws)) * cdf[:, -1:]
    idx = np.minimum((cdf[:, None, :] < u[:, :, None]).sum(axis=2), post.shape[1] - 1)
    return prior.curves(kmax, tie)[idx]
