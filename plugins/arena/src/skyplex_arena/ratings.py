"""Ratings from pairwise votes: online Elo and the Bradley-Terry maximum-likelihood fit.

Bradley-Terry says model ``i`` beats ``j`` with probability ``sigmoid(beta_i - beta_j)``; the fit is a
logistic regression on (+1 for model_a, -1 for model_b) indicator features. Battles with the same
pair of models are interchangeable, so they are grouped into one row per unordered pair with win,
loss and tie counts, and the likelihood is minimised over those rows with L-BFGS (then polished
with two Newton steps, so independent solvers agree to the last digit). Ratings are
``400/ln(10) * beta`` centred on a mean of 1000, i.e. the Elo scale (base 10, scale 400).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import expit
from skyplex.errors import InvalidInputError

from .battles import A_WINS, B_WINS, BOTH_BAD, TIE, BattleSet
from .regularise import Prior, as_prior, centre_per_component, core_prior

log = logging.getLogger(__name__)

#: Elo points per unit of the natural (log-odds) scale: 400 / ln(10)
SCALE = 400.0 / math.log(10.0)
#: the mean rating every fit is centred on
BASE_RATING = 1000.0
#: virtual ties per model against a 1000-rated anchor when the MLE does not exist (see diagnose)
DEFAULT_PRIOR_TIES = 1.0
#: below this many votes a model's sandwich error is floored by the model-based one (see sandwich_intervals)
MIN_SANDWICH_VOTES = 30

TieRule = Literal["half", "drop"]
DegeneratePolicy = Literal["regularise", "refuse"]


# --------------------------------------------------------------------------------------------- Elo
def online_elo(battles: BattleSet, *, k: float = 4.0, base: float = 10.0, scale: float = 400.0,
               initial: float = 1000.0, both_bad: TieRule = "half") -> dict[str, float]:
    """Sequential Elo over the battles in their order: ties (and both-bad, unless dropped) score 0.5.

    Elo depends on the order of the votes and never converges; it is here for comparison with the
    paper's early leaderboards, not as the recommended rating.
    """
    ratings = [initial] * len(battles.models)
    score_of = {A_WINS: 1.0, B_WINS: 0.0, TIE: 0.5, BOTH_BAD: 0.5}
    for a, b, o in zip(battles.model_a.tolist(), battles.model_b.tolist(), battles.outcome.tolist()):
        if o == BOTH_BAD and both_bad == "drop":
            continue
        expected_a = 1.0 / (1.0 + base ** ((ratings[b] - ratings[a]) / scale))
        delta = k * (score_of[o] - expected_a)
        ratings[a] += delta
        ratings[b] -= delta
    return dict(zip(battles.models, ratings))


# ----------------------------------------------------------------------------------- grouped rows
@dataclass
class PairCounts:
    """One row per unordered pair (i < j) with i's wins, j's wins and the ties counted as half each."""

    n_models: int
    i: np.ndarray
    j: np.ndarray
    wins: np.ndarray  # i beat j
    losses: np.ndarray  # j beat i
    ties: np.ndarray  # counted as half a win for each side

    @property
    def total(self) -> np.ndarray:
        return self.wins + self.losses + self.ties

    def with_counts(self, cells: np.ndarray) -> PairCounts:
        """The same pairs with new (wins, losses, ties) counts, shape (pairs, 3) -- for the bootstrap."""
        return PairCounts(self.n_models, self.i, self.j, cells[:, 0].astype(float), cells[:, 1].astype(float),
                          cells[:, 2].astype(float))


def pair_counts(battles: BattleSet, *, ties: TieRule = "half", both_bad: TieRule = "half") -> PairCounts:
    """Group battles by unordered pair; ``ties``/``both_bad``: count as half a win each, or drop."""
    n = len(battles.models)
    a, b, o = battles.model_a.astype(np.int64), battles.model_b.astype(np.int64), battles.outcome
    keep = np.ones(o.shape, dtype=bool)
    if ties == "drop":
        keep &= o != TIE
    if both_bad == "drop":
        keep &= o != BOTH_BAD
    a, b, o = a[keep], b[keep], o[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    swapped = a > b
    # outcome from the lower index's point of view: 0 win, 1 loss, 2 tie
    cell = np.where(o >= TIE, 2, np.where((o == A_WINS) != swapped, 0, 1))
    key = lo * n + hi
    uniq, inv = np.unique(key, return_inverse=True)
    counts = np.zeros((uniq.size, 3))
    np.add.at(counts, (inv, cell), 1.0)
    return PairCounts(n, (uniq // n).astype(np.int64), (uniq % n).astype(np.int64), counts[:, 0], counts[:, 1],
                      counts[:, 2])


# ----------------------------------------------------------------------------------- diagnostics
@dataclass
class Diagnostics:
    """Whether the Bradley-Terry MLE exists for these battles, and why not when it does not."""

    components: list[list[str]]  # of the comparison graph (who met whom)
    strong_components: int  # of the "took at least half a point from" graph; 1 means the MLE exists
    unbeaten: list[str] = field(default_factory=list)  # never lost a point: MLE rating +infinity
    winless: list[str] = field(default_factory=list)  # never won a point: MLE rating -infinity
    single_battle: list[str] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return len(self.components) <= 1

    @property
    def mle_exists(self) -> bool:
        return self.connected and self.strong_components <= 1

    def problems(self) -> list[str]:
        """Plain-language statements of what is wrong (empty when nothing is)."""
        out = []
        if not self.connected:
            groups = "; ".join(", ".join(c[:6]) + (" ..." if len(c) > 6 else "") for c in self.components)
            out.append(f"the comparison graph is disconnected into {len(self.components)} groups that never met "
                       f"({groups}); ratings of different groups are not comparable")
        if self.unbeaten:
            out.append(f"never lost a vote (rating would be +infinity): {', '.join(self.unbeaten)}")
        if self.winless:
            out.append(f"never won a vote (rating would be -infinity): {', '.join(self.winless)}")
        if self.connected and self.strong_components > 1 and not (self.unbeaten or self.winless):
            out.append("some group of models never lost to the rest (the maximum-likelihood ratings do not exist)")
        if self.single_battle:
            out.append(f"rated from a single battle: {', '.join(self.single_battle)}")
        return out


def diagnose(counts: PairCounts, models: list[str]) -> Diagnostics:
    """Check the comparison graph: connected, and every model both won and lost some credit."""
    n = counts.n_models
    met = coo_matrix((np.ones(counts.i.size), (counts.i, counts.j)), shape=(n, n))
    n_comp, labels = connected_components(met, directed=False)
    components = [[models[k] for k in np.flatnonzero(labels == c)] for c in range(n_comp)]
    # edge i->j when j took credit from i (j won or tied): strongly connected iff the MLE is finite
    credit_j = counts.losses + counts.ties  # j's credit against i
    credit_i = counts.wins + counts.ties
    rows = np.concatenate([counts.i[credit_j > 0], counts.j[credit_i > 0]])
    cols = np.concatenate([counts.j[credit_j > 0], counts.i[credit_i > 0]])
    beat = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    n_strong, _ = connected_components(beat, directed=True, connection="strong")
    won = np.zeros(n)
    lost = np.zeros(n)
    np.add.at(won, counts.i, credit_i)
    np.add.at(won, counts.j, credit_j)
    np.add.at(lost, counts.i, credit_j)
    np.add.at(lost, counts.j, credit_i)
    played = np.zeros(n)
    np.add.at(played, counts.i, counts.total)
    np.add.at(played, counts.j, counts.total)
    return Diagnostics(
        components=components, strong_components=int(n_strong),
        unbeaten=[models[k] for k in range(n) if lost[k] == 0 and won[k] > 0],
        winless=[models[k] for k in range(n) if won[k] == 0 and lost[k] > 0],
        single_battle=[models[k] for k in range(n) if played[k] == 1],
    )


def mle_exists(counts: PairCounts) -> bool:
    """Cheap check that the MLE is finite: the "took credit from" graph is strongly connected."""
    credit_j = counts.losses + counts.ties
    credit_i = counts.wins + counts.ties
    rows = np.concatenate([counts.i[credit_j > 0], counts.j[credit_i > 0]])
    cols = np.concatenate([counts.j[credit_j > 0], counts.i[credit_i > 0]])
    n = counts.n_models
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=True, connection="strong")[0] == 1


# ------------------------------------------------------------------------------------------- fit
@dataclass
class BTFit:
    """A Bradley-Terry fit: natural-scale coefficients (centred), ratings, and what it was fitted on."""

    models: list[str]
    beta: np.ndarray
    counts: PairCounts
    prior_ties: float
    diagnostics: Diagnostics
    iterations: int
    warnings: list[str] = field(default_factory=list)
    #: the virtual ties actually applied (None: the plain MLE); ``prior_ties`` is their strength
    prior: Prior | None = None

    @property
    def regularised_models(self) -> list[str]:
        """The models that carry virtual ties (empty for the plain maximum-likelihood fit)."""
        return [] if self.prior is None else [self.models[k] for k in self.prior.regularised]

    @property
    def ratings(self) -> np.ndarray:
        """Elo-scale ratings, mean 1000."""
        return SCALE * self.beta + BASE_RATING

    def rating_of(self) -> dict[str, float]:
        return dict(zip(self.models, self.ratings.tolist()))


def _nll_and_grad(beta: np.ndarray, c: PairCounts, prior: float | Prior | None, norm: float) -> tuple[float, np.ndarray]:
    d = beta[c.i] - beta[c.j]
    # log sigmoid(d) = -logaddexp(0, -d), stable for large |d|
    pos_credit = c.wins + 0.5 * c.ties
    neg_credit = c.losses + 0.5 * c.ties
    nll = float(np.dot(pos_credit, np.logaddexp(0.0, -d)) + np.dot(neg_credit, np.logaddexp(0.0, d)))
    resid = c.total * expit(d) - pos_credit  # d(nll)/d(d)
    grad = np.bincount(c.i, resid, minlength=c.n_models) - np.bincount(c.j, resid, minlength=c.n_models)
    prior = as_prior(prior, c.n_models)
    if prior is not None:  # virtual ties against the prior's anchors (see regularise)
        extra, extra_grad = prior.value_and_grad(beta)
        nll, grad = nll + extra, grad + extra_grad
    return nll / norm, grad / norm


def hessian(beta: np.ndarray, c: PairCounts, prior: float | Prior | None = 0.0) -> np.ndarray:
    """The observed information (negative log-likelihood Hessian) over the models' coefficients."""
    p = expit(beta[c.i] - beta[c.j])
    prior = as_prior(prior, c.n_models)
    return _laplacian(c.total * p * (1.0 - p), c) + (prior.hessian(beta) if prior is not None else 0)


def _laplacian(weight: np.ndarray, c: PairCounts) -> np.ndarray:
    """sum over pairs of weight * (e_i - e_j)(e_i - e_j)^T."""
    n = c.n_models
    flat = np.bincount(c.i * n + c.j, weight, minlength=n * n).reshape(n, n)
    diag = np.bincount(c.i, weight, minlength=n) + np.bincount(c.j, weight, minlength=n)
    return np.diag(diag) - flat - flat.T


def _newton_step(h: np.ndarray, g: np.ndarray, full_rank: bool) -> np.ndarray:
    """Solve h @ step = g. Without a prior, h is singular along the all-ones direction (ratings are
    relative), so one coordinate is pinned; least squares is the fallback for a singular system."""
    try:
        if full_rank:
            return np.linalg.solve(h, g)
        step = np.zeros_like(g)
        step[:-1] = np.linalg.solve(h[:-1, :-1], g[:-1])
        return step
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(h, g, rcond=None)[0]


def newton_bt(counts: PairCounts, *, prior_ties: float | Prior | None = 0.0, start: np.ndarray | None = None,
              tol: float = 1e-10, max_iter: int = 100) -> tuple[np.ndarray, int]:
    """Damped Newton on the grouped likelihood: a handful of iterations from a warm start (bootstrap rounds)."""
    beta = np.zeros(counts.n_models) if start is None else np.asarray(start, dtype=float).copy()
    norm = max(float(counts.total.sum()), 1.0)
    prior_ties = as_prior(prior_ties, counts.n_models)
    full_rank = prior_ties is not None and prior_ties.full_rank
    loss, grad = _nll_and_grad(beta, counts, prior_ties, norm)
    for it in range(1, max_iter + 1):
        step = _newton_step(hessian(beta, counts, prior_ties) / norm, grad, full_rank)
        t = 1.0
        while True:  # halve the step until the loss does not rise (keeps far starts safe)
            trial = beta - t * step
            new_loss, new_grad = _nll_and_grad(trial, counts, prior_ties, norm)
            if new_loss <= loss + 1e-15 or t < 1e-4:
                break
            t *= 0.5
        beta, loss, grad = trial - trial.mean(), new_loss, new_grad
        if np.max(np.abs(t * step)) < tol:
            return beta, it
    return beta, max_iter


def solve_bt(counts: PairCounts, *, prior_ties: float | Prior | None = 0.0, start: np.ndarray | None = None,
             tol: float = 1e-12, max_iter: int = 1000) -> tuple[np.ndarray, int]:
    """Minimise the grouped Bradley-Terry negative log-likelihood; the centred coefficients and iterations."""
    n = counts.n_models
    norm = max(float(counts.total.sum()), 1.0)
    prior_ties = as_prior(prior_ties, n)
    x0 = np.zeros(n) if start is None else np.asarray(start, dtype=float).copy()
    res = minimize(_nll_and_grad, x0, args=(counts, prior_ties, norm), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxcor": 20})
    beta = centre_per_component(res.x, counts)
    # Newton polish: L-BFGS stops at ~1e-7 relative precision; two exact steps reach ~1e-12, which is
    # what lets an independent solver (scikit-learn, choix) agree to well under 0.01 rating points
    for _ in range(2):
        _, g = _nll_and_grad(beta, counts, prior_ties, 1.0)
        step = np.linalg.lstsq(hessian(beta, counts, prior_ties), g, rcond=None)[0]
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
            break  # far from the optimum (degenerate data): keep the L-BFGS answer
        beta = centre_per_component(beta - step, counts)
    return beta, int(res.nit)


def fit_bradley_terry(battles: BattleSet, *, ties: TieRule = "half", both_bad: TieRule = "half",
                      on_degenerate: DegeneratePolicy = "regularise", prior_ties: float | None = None) -> BTFit:
    """The Bradley-Terry MLE of ``battles``.

    When the MLE does not exist (a disconnected comparison graph, or a model that never won or never
    lost), ``on_degenerate="refuse"`` raises an error saying why, and ``"regularise"`` rates each
    group of models that met on its own and gives ``DEFAULT_PRIOR_TIES`` virtual ties only to the
    models outside their group's well-connected core, against the core's mean (see
    :mod:`.regularise`), so votes involving new models cannot drag established ones; the reason is
    recorded in ``warnings``. ``prior_ties`` given explicitly applies that many virtual ties to every
    model against a 1000-rated anchor.
    """
    if len(battles) == 0:
        raise InvalidInputError("no battles to rate (after filtering); check the category and voter filters",
                                field="battles")
    counts = pair_counts(battles, ties=ties, both_bad=both_bad)
    if counts.total.sum() == 0:
        raise InvalidInputError("every battle was a tie or both-bad and ties are dropped; nothing to rate",
                                field="ties")
    diag = diagnose(counts, battles.models)
    problems = diag.problems()
    warnings: list[str] = []
    prior = float(prior_ties or 0.0)
    applied = as_prior(prior, counts.n_models)
    if not diag.mle_exists:
        if on_degenerate == "refuse":
            raise InvalidInputError(
                "the Bradley-Terry ratings do not exist for these votes: " + "; ".join(problems)
                + ". Collect votes that connect these models, or regularise (on_degenerate='regularise').",
                field="battles",
            )
        reason = "; ".join(p for p in problems if not p.startswith("rated from a single"))
        if prior_ties is None:
            prior = DEFAULT_PRIOR_TIES
            applied = core_prior(counts, prior)
            names = [battles.models[k] for k in applied.regularised] if applied is not None else []
            shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
            warnings.append(f"regularised {shown or 'nothing'} with {prior:g} virtual tie(s) each against the mean "
                            f"of their group's well-connected models, whose ratings come from their own votes "
                            f"only, because {reason}")
        else:
            warnings.append(f"regularised with {prior:g} virtual tie(s) per model against a 1000-rated anchor "
                            f"because {reason}")
    if diag.single_battle:
        warnings.append(f"rated from a single battle (very wide intervals): {', '.join(diag.single_battle)}")
    beta, iters = solve_bt(counts, prior_ties=applied)
    for w in warnings:
        log.warning("arena ratings: %s", w)
    return BTFit(list(battles.models), beta, counts, prior if applied is not None else 0.0, diag, iters,
                 [*battles.notes, *warnings], applied)


# ------------------------------------------------------------------------------------- intervals
def sandwich_covariance(fit: BTFit) -> np.ndarray:
    """Robust (sandwich) covariance of the centred coefficients of ``fit``: H^-1 B H^-1.

    ``H`` is the observed information and ``B`` the sum of the outer products of each battle's
    score, so the interval stays honest when the Bradley-Terry model is misspecified.
    """
    return sandwich_from_counts(fit.beta, fit.counts, fit.prior)


def sandwich_from_counts(beta: np.ndarray, c: PairCounts, prior_ties: float | Prior | None = 0.0) -> np.ndarray:
    """The sandwich covariance for coefficients ``beta`` fitted on grouped counts ``c``."""
    p = expit(beta[c.i] - beta[c.j])
    # per-battle score is (y - p)(e_i - e_j) with y = 1, 0 or 1/2
    meat = _laplacian(c.wins * (1 - p) ** 2 + c.losses * p ** 2 + c.ties * (0.5 - p) ** 2, c)
    h_inv = np.linalg.pinv(hessian(beta, c, prior_ties))
    cov = h_inv @ meat @ h_inv
    centre = np.eye(c.n_models) - 1.0 / c.n_models  # ratings are reported centred
    return centre @ cov @ centre


def normal_quantile(level: float) -> float:
    """The two-sided standard-normal quantile for a confidence level (0.95 -> 1.96)."""
    from scipy.stats import norm

    if not 0.5 <= level < 1.0:
        raise InvalidInputError(f"confidence level must be in [0.5, 1), got {level}", field="level")
    return float(norm.ppf(0.5 + level / 2.0))


def model_covariance(fit: BTFit) -> np.ndarray:
    """Model-based covariance of the centred coefficients: the inverse observed information."""
    centre = np.eye(fit.counts.n_models) - 1.0 / fit.counts.n_models
    return centre @ np.linalg.pinv(hessian(fit.beta, fit.counts, fit.prior)) @ centre


def sandwich_intervals(fit: BTFit, level: float = 0.95, *,
                       min_votes: int = MIN_SANDWICH_VOTES) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper rating bounds from the sandwich standard errors.

    The sandwich estimates each model's outcome variance from its own residuals, which is meaningless
    for a model with a handful of votes (two ties give a residual of zero and an interval of a few
    points). For models with fewer than ``min_votes`` votes the larger of the sandwich and the
    model-based standard error is used.
    """
    se = np.sqrt(np.clip(np.diag(sandwich_covariance(fit)), 0.0, None))
    c = fit.counts
    played = np.bincount(c.i, c.total, minlength=c.n_models) + np.bincount(c.j, c.total, minlength=c.n_models)
    few = played < min_votes
    if few.any():
        model_se = np.sqrt(np.clip(np.diag(model_covariance(fit)), 0.0, None))
        se = np.where(few, np.maximum(se, model_se), se)
    z = normal_quantile(level)
    return fit.ratings - z * SCALE * se, fit.ratings + z * SCALE * se


def ranks_from_intervals(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Rank = 1 + the number of models whose lower bound is above this model's upper bound."""
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


def win_matrices(battles: BattleSet, *, both_bad: TieRule = "half") -> tuple[np.ndarray, np.ndarray]:
    """(battle counts, observed win rate of row over column), ties counted as half; NaN where they never met."""
    c = pair_counts(battles, both_bad=both_bad)
    n = c.n_models
    count = np.zeros((n, n))
    count[c.i, c.j] = count[c.j, c.i] = c.total
    credit = np.zeros((n, n))
    credit[c.i, c.j] = c.wins + 0.5 * c.ties
    credit[c.j, c.i] = c.losses + 0.5 * c.ties
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, credit / count, np.nan)
    return count, rate


def predicted_win_rate(ratings: np.ndarray) -> np.ndarray:
    """Bradley-Terry probability that the row model beats the column model."""
    return 1.0 / (1.0 + 10.0 ** ((ratings[None, :] - ratings[:, None]) / 400.0))
