"""Per-query difficulty from a few samples, pooled across queries, and the predicted accuracy curve.

Each query's answer counts ``[correct, wrong_1..wrong_L, abstain]`` are modelled as a multinomial
draw from that query's answer distribution, and the distributions as draws from a prior shared by
all queries: a mixture of Dirichlets whose wrong columns are exchangeable. The prior is fitted by
maximising the Dirichlet-multinomial marginal likelihood of all queries (empirical Bayes), so a
query seen 4 times borrows strength from the others instead of being taken at face value. A query's
posterior is then a mixture of Dirichlets, and its predicted accuracy at K is the exact plurality
accuracy of K fresh answers under that posterior (:func:`law.dirichlet_plurality_curves`).

With few answers per query only the curve up to K = m is pinned down by the answers; beyond it the
prior's shape extrapolates, and no Dirichlet shape measured on real answers does so without bias
("blend" predicts the middle of two that err in opposite directions). By default, with at least
:data:`BLEND_MIN_QUERIES` queries, :func:`fit_law` uses the nonparametric grid prior of
:mod:`.grid_prior` instead; ``"stack"`` averages several priors with weights learned inside the
sample (:mod:`.choose`).

The optimal K's interval and the curve's pointwise band come from a bootstrap over queries in which
every query contributes the exact curve of one posterior draw of its distribution, so they cover
both which queries were asked and how uncertain each query's difficulty is; with the grid prior each
round also draws the prior's coefficients from their Laplace posterior (:func:`.band.grid_band`), so
they cover the prior's own estimation error too (:mod:`.band`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, logsumexp
from skyplex.errors import InvalidInputError

from .band import bootstrap_band, draw_bootstrap, grid_band, holding_point, k_interval  # noqa: F401 (the API's names)
from .choose import STACK, fit_stacked_law
from .gap_prior import GAP, PICK, fit_gap_law
from .grid_prior import fit_grid_prior, grid_predicted_curves, smooth_basis
from .law import check_kmax, check_tie_rule, dirichlet_plurality_curves, plurality_curves
from .paper_pick import MIX as PAPER_MIX, PICK as PAPER_PICK, fit_paper_pick_law
from .resolution import FINE, fit_fine_law

#: Dirichlet parameters stay in [ALPHA_MIN, ALPHA_MAX] (a query seen m times cannot pin them further)
ALPHA_MIN, ALPHA_MAX = 1e-3, 1e4
#: posterior components lighter than this are dropped from a query's predicted curve
RESP_FLOOR = 1e-6
#: spread of the weak normal prior on each log-alpha (alpha within e^+-6 at 2 sd)
LOG_ALPHA_SD = 3.0
#: below this median number of answers per query, ``components='auto'`` keeps one Dirichlet
MIXTURE_MIN_SAMPLES = 12
#: ``components="blend"`` predicts the middle of these two priors' curves (see :func:`fit_law`)
BLEND = ("1", "2s")
#: fewer queries than this cannot separate an easy and a hard component: "blend" keeps one Dirichlet
BLEND_MIN_QUERIES = 20
#: ``components=GRID`` fits the nonparametric grid prior (:mod:`.grid_prior`) instead of Dirichlets
GRID = "grid"


def check_counts(counts: Any, *, min_samples: int = 1) -> np.ndarray:
    """``counts`` as a (queries, 1 + L + 1) float array of non-negative whole numbers, else an error."""
    C = np.asarray(counts, dtype=float)
    if C.ndim != 2 or C.shape[0] == 0 or C.shape[1] < 3:
        raise InvalidInputError("answer counts must be a table with one row per query and the columns "
                                "[correct, wrong_1, ..., wrong_L, abstain] (at least one wrong column)", field="counts")
    if not np.all(np.isfinite(C)) or np.any(C < 0) or np.any(C != np.round(C)):
        raise InvalidInputError("answer counts must be whole numbers >= 0", field="counts")
    per_query = C.sum(axis=1)
    empty = np.flatnonzero(per_query == 0)
    if empty.size:
        raise InvalidInputError(f"query {int(empty[0])} has no answers at all; drop it or sample it", field="counts")
    if per_query.max() < min_samples:
        raise InvalidInputError(
            f"every query has fewer than {min_samples} answers; fitting how difficulty varies between queries "
            f"needs at least {min_samples} answers for some queries (sample more per query)", field="counts")
    return C


#: prior shapes tried by ``components="auto"``: "sym" treats the wrong answers alike, "peak" has one
#: dominant wrong answer (which one is equally likely), the shape of a query the model gets wrong
FAMILIES: dict[str, tuple[str, ...]] = {"1": ("sym",), "2": ("sym", "peak"), "3": ("sym", "sym", "peak"), "2s": ("sym", "sym")}


@dataclass
class DifficultyPrior:
    """A mixture of Dirichlets over answer distributions, shared by all queries of a task.

    ``families[f]`` is ``"sym"`` (parameters ``a_correct, a_wrong, a_abstain``: every wrong column
    alike) or ``"peak"`` (``a_correct, a_top, a_wrong, a_abstain``: one wrong column, any of the L
    equally likely, gets ``a_top``). ``a_abstain`` is 0 when no answer ever failed to parse.
    """

    families: tuple[str, ...]
    weights: np.ndarray
    params: list[np.ndarray]
    n_wrong: int
    log_likelihood: float
    queries: int
    samples: int

    def expanded(self) -> tuple[np.ndarray, np.ndarray]:
        """Every Dirichlet of the mixture: weights (M,) and parameter vectors (M, 1 + L + 1)."""
        return _expand(self.families, self.weights, self.params, self.n_wrong)

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        comps = []
        for fam, w, p in zip(self.families, self.weights, self.params):
            names = ["a_correct", "a_wrong", "a_abstain"] if fam == "sym" else ["a_correct", "a_top", "a_wrong", "a_abstain"]
            total = p[0] + p[-1] + (self.n_wrong * p[1] if fam == "sym" else p[1] + (self.n_wrong - 1) * p[2])
            comps.append({"family": fam, "weight": float(w), **{n: float(v) for n, v in zip(names, p)},
                          "mean_p_correct": float(p[0] / total)})
        return {"components": comps, "n_wrong": self.n_wrong, "log_likelihood": self.log_likelihood,
                "queries": self.queries, "samples": self.samples}


def _expand(families, weights, params, L: int) -> tuple[np.ndarray, np.ndarray]:
    ws, rows = [], []
    for fam, w, p in zip(families, weights, params):
        if fam == "sym":
            ws.append(w)
            rows.append(np.concatenate([[p[0]], np.full(L, p[1]), [p[2]]]))
        else:
            for i in range(L):
                wrong = np.full(L, p[2])
                wrong[i] = p[1]
                ws.append(w / L)
                rows.append(np.concatenate([[p[0]], wrong, [p[3]]]))
    return np.array(ws), np.array(rows)


def _component_loglik(C: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Dirichlet-multinomial log marginal (without the multinomial coefficient): shape (Q, M)."""
    m = C.sum(axis=1)
    a0 = full.sum(axis=1)
    use = full > 0  # an abstain alpha of 0 means abstentions cannot happen (and none were seen)
    safe = np.where(use, full, 1.0)
    terms = np.where(use[None], gammaln(C[:, None, :] + safe[None]) - gammaln(safe)[None], 0.0)
    return gammaln(a0)[None] - gammaln(m[:, None] + a0[None]) + terms.sum(axis=2)


class _Model:
    """Parameter layout of one prior shape, for the optimiser (log-alphas, then weight logits)."""

    def __init__(self, families: tuple[str, ...], L: int, with_abstain: bool) -> None:
        self.families, self.L, self.with_abstain = families, L, with_abstain
        self.sizes = [(3 if f == "sym" else 4) - (0 if with_abstain else 1) for f in families]
        self.offsets = np.cumsum([0] + self.sizes)
        self.n_alpha = int(self.offsets[-1])
        # index[m, col]: which log-alpha parameter gives column col of expanded component m (-1: zero)
        rows, owner = [], []
        for f, fam in enumerate(families):
            o = int(self.offsets[f])
            ab = o + self.sizes[f] - 1 if with_abstain else -1
            if fam == "sym":
                rows.append([o] + [o + 1] * L + [ab])
                owner.append(f)
            else:
                for i in range(L):
                    wrong = [o + 2] * L
                    wrong[i] = o + 1
                    rows.append([o] + wrong + [ab])
                    owner.append(f)
        self.index = np.array(rows)
        self.owner = np.array(owner)
        self.share = np.array([1.0 if families[f] == "sym" else 1.0 / L for f in owner])

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        logits = np.concatenate([[0.0], theta[self.n_alpha:]])
        w = np.exp(logits - logsumexp(logits))
        params = []
        for f in range(len(self.families)):
            p = np.exp(theta[self.offsets[f]: self.offsets[f + 1]])
            params.append(p if self.with_abstain else np.append(p, 0.0))
        return w, params

    def full(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        alphas = np.where(self.index >= 0, np.exp(theta[np.maximum(self.index, 0)]), 0.0)
        logits = np.concatenate([[0.0], theta[self.n_alpha:]])
        fam_w = np.exp(logits - logsumexp(logits))
        return fam_w[self.owner] * self.share, alphas

    def negloglik(self, theta: np.ndarray, C: np.ndarray, n: np.ndarray) -> tuple[float, np.ndarray]:
        """Minus the penalised log-likelihood and its gradient; ``C`` holds distinct count rows and
        ``n`` how many queries have each."""
        w, A = self.full(theta)
        ll = _component_loglik(C, A) + np.log(w)[None]
        total = logsumexp(ll, axis=1)
        r = np.exp(ll - total[:, None]) * n[:, None]  # (Q, M) responsibilities, times multiplicity
        m = C.sum(axis=1)
        a0 = A.sum(axis=1)
        use = A > 0
        safe = np.where(use, A, 1.0)
        # d ll_qm / d alpha_{m,col}, times alpha (the chain rule through the log-parameters)
        d = (digamma(a0)[None, :, None] - digamma(m[:, None, None] + a0[None, :, None])
             + digamma(C[:, None, :] + safe[None]) - digamma(safe)[None])
        g_alpha = np.where(use, np.einsum("qm,qmc->mc", r, d) * A, 0.0)
        grad = np.zeros_like(theta)
        np.add.at(grad, self.index[use], g_alpha[use])
        R = np.zeros((C.shape[0], len(self.families)))
        np.add.at(R.T, self.owner, r.T)
        fam_w = np.exp(np.concatenate([[0.0], theta[self.n_alpha:]]) - logsumexp(np.concatenate([[0.0], theta[self.n_alpha:]])))
        grad[self.n_alpha:] = (R.sum(axis=0) - fam_w * n.sum())[1:]
        # a weak normal prior on each log-alpha: with few answers per query a component's
        # concentration is barely identified and would otherwise run off to a point mass
        z = theta[: self.n_alpha] / LOG_ALPHA_SD
        grad[: self.n_alpha] -= z / LOG_ALPHA_SD
        return -float(total @ n - 0.5 * np.sum(z * z)), -grad


def _fit_shape(C: np.ndarray, families: tuple[str, ...], seed: int) -> tuple[float, np.ndarray, list[np.ndarray]]:
    L = C.shape[1] - 2
    with_abstain = bool(C[:, -1].sum() > 0)
    model = _Model(families, L, with_abstain)
    m = C.sum(axis=1)
    p_c = float(np.clip(C[:, 0].sum() / m.sum(), 0.05, 0.95))
    p_0 = max(float(C[:, -1].sum() / m.sum()), 0.01)
    # queries with the same counts add the same term: with m answers over a few columns there are far
    # fewer distinct rows than queries, so each is evaluated once and weighted by its multiplicity
    rows, mult = np.unique(C, axis=0, return_counts=True)
    mult = mult.astype(float)
    rng = np.random.default_rng(seed)
    best = None
    # the likelihood has several local optima (components can swap roles or collapse): start from a
    # few concentrations and peak strengths and keep the best
    starts = [(conc, top) for conc in (1.0, 4.0, 12.0) for top in (0.5, 0.8)]
    syms = [f for f, fam in enumerate(families) if fam == "sym"]
    for conc, top in starts:
        x = []
        for f, fam in enumerate(families):
            if fam == "sym":
                rank = syms.index(f)
                q = p_c if len(syms) == 1 else float(np.clip(p_c * (1.5 if rank == 0 else 0.4), 0.03, 0.97))
                row = [conc * q, conc * (1 - q) / L]
            else:
                row = [conc * (1 - top) * 0.5, conc * top, conc * (1 - top) * 0.5 / max(L - 1, 1)]
            if with_abstain:
                row.append(conc * p_0)
            x.extend(np.log(np.clip(row, ALPHA_MIN, ALPHA_MAX)))
        x = np.array(x + list(rng.normal(0, 0.1, len(families) - 1)))
        bounds = [(np.log(ALPHA_MIN), np.log(ALPHA_MAX))] * model.n_alpha + [(-20.0, 20.0)] * (len(families) - 1)
        res = minimize(model.negloglik, x, args=(rows, mult), jac=True, method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best[0]:
            best = (res.fun, res.x)
    w, params = model.unpack(best[1])
    return -float(best[0]), w, params


def fit_prior(counts: Any, *, components: int | str = "auto", seed: int = 0) -> DifficultyPrior:
    """Fit the pooled difficulty prior to answer counts (rows ``[correct, wrong..., abstain]``).

    ``components``: 1 (one Dirichlet, wrong answers alike), 2 (plus a dominant-wrong-answer
    component), ``"2s"`` (two alike), 3 (two alike plus dominant-wrong), or ``"auto"`` (default):
    one Dirichlet when the median query has fewer than :data:`MIXTURE_MIN_SAMPLES` answers, else the
    better of 1 and 2 by BIC. Mixtures fit the m answers better but, with few answers per query,
    extrapolate worse to large K (BIC cannot see that: it scores small-K evidence); on the SmolLM2
    arithmetic task one Dirichlet overstates what voting adds and the mixture fitted on 4-10 answers
    understates it (benchmarks/voting_law_bias.py), which is why :func:`fit_law` blends the two there.
    Needs at least 2 answers for some query: with one answer per query the spread of difficulty
    across queries cannot be told apart from the spread within a query.
    """
    C = check_counts(counts, min_samples=2)
    key = str(components)
    if components == "auto":
        few = np.median(C.sum(axis=1)) < MIXTURE_MIN_SAMPLES
        shapes = [FAMILIES["1"]] if few else [FAMILIES["1"], FAMILIES["2"]]
    elif key in FAMILIES and not isinstance(components, bool):
        shapes = [FAMILIES[key]]
    elif components == "blend":
        raise InvalidInputError("'blend' combines two priors: use fit_law(..., components='blend'); "
                                "fit_prior takes 1, 2, 2s, 3 or 'auto'", field="components")
    elif components == GRID:
        raise InvalidInputError("'grid' is not a Dirichlet prior: use fit_law(..., components='grid') or "
                                "grid_prior.fit_grid_prior; fit_prior takes 1, 2, 2s, 3 or 'auto'", field="components")
    else:
        raise InvalidInputError(f"components must be 1, 2, 2s, 3, 'auto', 'blend', 'grid', 'grid-fine', 'grid-gap', 'grid-pick', "
                                f"'grid-or-paper', 'grid-paper-mix' "
                                f"or 'stack', got {components!r}", field="components")
    best = None
    for fams in shapes:
        if len(fams) > 1 and C.shape[0] < 10 * len(fams) and len(shapes) > 1:
            continue  # too few queries to tell components apart
        ll, w, params = _fit_shape(C, fams, seed)
        k = sum(len(p) - (0 if C[:, -1].sum() > 0 else 1) for p in params) + len(fams) - 1
        bic = -2 * ll + k * np.log(C.shape[0])
        if best is None or bic < best[0]:
            best = (bic, fams, ll, w, params)
    _, fams, ll, w, params = best
    return DifficultyPrior(families=fams, weights=w, params=params, n_wrong=C.shape[1] - 2, log_likelihood=ll,
                           queries=int(C.shape[0]), samples=int(C.sum()))


def posterior(prior: DifficultyPrior, counts: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the posterior component weights (Q, J) and Dirichlet parameters (Q, J, columns)."""
    C = check_counts(counts)
    if C.shape[1] != prior.n_wrong + 2:
        raise InvalidInputError(f"counts have {C.shape[1] - 2} wrong columns but the prior was fitted with "
                                f"{prior.n_wrong}", field="counts")
    weights, alphas = prior.expanded()
    if np.all(alphas[:, -1] == 0) and C[:, -1].sum() > 0:
        # the prior saw no unparsable answer, so it gives them probability 0: these counts would have
        # likelihood 0 under every component (NaN weights); refit on counts that include them
        raise InvalidInputError("these counts have unparsable answers but the prior was fitted on counts "
                                "without any; fit the prior on these counts", field="counts")
    log_r = _component_loglik(C, alphas) + np.log(weights)[None]
    resp = np.exp(log_r - logsumexp(log_r, axis=1, keepdims=True))
    return resp, alphas[None] + C[:, None, :]


def predicted_curves(prior: DifficultyPrior, counts: Any, kmax: int, tie: str = "random") -> np.ndarray:
    """Each query's expected accuracy at K = 1..kmax under its posterior: shape (Q, kmax)."""
    check_tie_rule(tie)
    kmax = check_kmax(kmax)
    resp, post = posterior(prior, counts)
    # components a query almost surely does not come from add nothing visible: skip them
    keep = resp >= RESP_FLOOR
    resp = np.where(keep, resp, 0.0)
    resp /= resp.sum(axis=1, keepdims=True)
    qi, ji = np.nonzero(keep)
    # queries with the same counts share a posterior: with m answers over a few columns there are
    # far fewer distinct count rows than queries, so each distinct posterior is computed once
    unique, inverse = np.unique(post[qi, ji], axis=0, return_inverse=True)
    curves = dirichlet_plurality_curves(unique, kmax, tie)[inverse.ravel()]
    out = np.zeros((post.shape[0], kmax))
    np.add.at(out, qi, resp[qi, ji][:, None] * curves)
    return out


def posterior_draws(prior: DifficultyPrior, counts: Any, draws: int, seed: int = 0) -> np.ndarray:
    """``draws`` answer distributions per query from its posterior: shape (Q, draws, columns)."""
    resp, post = posterior(prior, counts)
    rng = np.random.default_rng(seed)
    Q, J, cols = post.shape
    comp = np.array([rng.choice(J, size=draws, p=r / r.sum()) for r in resp])  # (Q, draws)
    a = post[np.arange(Q)[:, None], comp]  # (Q, draws, cols)
    # Dirichlet draws through gammas; a zero alpha (impossible answer) stays exactly zero
    g = np.where(a > 0, rng.gamma(np.where(a > 0, a, 1.0)), 0.0)
    return g / g.sum(axis=2, keepdims=True)


@dataclass
class LawFit:
    """A fitted voting law: the pooled prior, the predicted curve and the optimal K with its interval."""

    prior: DifficultyPrior
    kmax: int
    tie: str
    per_query: np.ndarray
    curve: np.ndarray
    k_opt: int
    accuracy_opt: float
    k_interval: tuple[int, int]
    level: float
    extras: dict = field(default_factory=dict)
    #: posterior sd of each query's accuracy at every K (the grid prior gives it; None otherwise)
    per_query_sd: np.ndarray | None = None
    #: the task curve's pointwise ``level`` band at K = 1..kmax (None when fitted with ``draws=0``)
    curve_low: np.ndarray | None = None
    curve_high: np.ndarray | None = None

    def to_dict(self, *, with_queries: bool = False) -> dict:
        """JSON-ready: curve (K = 1..kmax), optimum and interval, the prior."""
        out = {"kmax": self.kmax, "tie": self.tie, "curve": [float(x) for x in self.curve],
               "k_opt": self.k_opt, "accuracy_opt": self.accuracy_opt, "k_interval": list(self.k_interval),
               "level": self.level, "prior": self.prior.to_dict(), **self.extras}
        if self.curve_low is not None and self.curve_high is not None:
            out["curve_low"] = [float(x) for x in self.curve_low]
            out["curve_high"] = [float(x) for x in self.curve_high]
        if with_queries:
            out["per_query"] = self.per_query.tolist()
            if self.per_query_sd is not None:
                out["per_query_sd"] = self.per_query_sd.tolist()
        return out


def fit_law(counts: Any, *, kmax: int = 100, tie: str = "random", components: int | str = "auto",
            draws: int = 8, rounds: int = 200, level: float = 0.95, seed: int = 0) -> LawFit:
    """Fit the pooled prior to ``counts`` and predict the accuracy curve for K = 1..kmax.

    ``components`` is any shape :func:`fit_prior` takes, ``"grid"`` (the nonparametric grid prior of
    :mod:`.grid_prior`: what ``"auto"`` picks whenever there are at least :data:`BLEND_MIN_QUERIES`
    queries, whatever the number of answers per query; with fewer ``"auto"`` is :func:`fit_prior`'s
    choice), ``"grid-fine"`` (:mod:`.resolution`: its resolution in p_correct set by the answers per
    query), ``"grid-gap"``/``"grid-pick"`` (:mod:`.gap_prior`), ``"grid-or-paper"``/``"grid-paper-mix"``
    (:mod:`.paper_pick`: the grid prior or the paper's fitter chosen, or mixed, by how well each
    extrapolates from half of each query's answers to all of them), ``"stack"`` (:func:`.choose.fit_stacked_law`: the grid, one-peak grid, one-Dirichlet and
    two-Dirichlet fits averaged with stacking weights from their cross-validated predictive
    likelihoods inside the sample; measured less accurate than ``"grid"`` on the SmolLM2 tasks, see
    docs/plugins/voting.md), or ``"blend"``: fit one Dirichlet and the
    two-component mixture (``"2s"``: an easier and a harder group of queries) and predict the middle
    of their two curves, reporting their span as ``extras["blend"]["band_low"/"band_high"]``. With m
    answers per query only the curve up to K = m is pinned down by the answers; beyond it each prior
    extrapolates by its shape, and on the measured task the two err in opposite directions (one
    Dirichlet overstates what voting adds, the mixture fitted on few answers understates it;
    benchmarks/voting_law_bias.py). ``prior`` is then the one-Dirichlet part. With fewer than
    :data:`BLEND_MIN_QUERIES` queries "blend" keeps one Dirichlet.

    The optimum is the exact argmax over every K up to ``kmax`` (smallest K on ties); its interval
    and the curve's pointwise ``level`` band (``curve_low``/``curve_high``, widened where needed to
    hold the curve) come from :func:`.band.grid_band` for the grid priors (queries resampled, the
    prior's coefficients drawn from their Laplace posterior, one grid point per query drawn from its
    posterior under that prior, in each of ``rounds`` rounds) and from :func:`draw_bootstrap` over
    ``draws`` posterior draws per query for the Dirichlet priors (from both for "blend"); ``draws=0``
    skips both: the point is its own interval, no band.
    """
    check_tie_rule(tie)
    kmax = check_kmax(kmax)
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be between 0 and 1, got {level}", field="level")
    extras: dict = {}
    if components == GRID:
        return _fit_grid_law(counts, kmax=kmax, tie=tie, draws=draws, rounds=rounds, level=level, seed=seed)
    if components == FINE:  # the grid prior's resolution set by the answers per query (module resolution)
        return fit_fine_law(counts, kmax=kmax, tie=tie, draws=draws, rounds=rounds, level=level, seed=seed)
    if components in (GAP, PICK):  # the grid prior free at the tie, always or when it extrapolates better
        return fit_gap_law(counts, components=components, kmax=kmax, tie=tie, draws=draws, rounds=rounds, level=level, seed=seed)
    if components in (PAPER_PICK, PAPER_MIX):  # the grid prior or the paper's fitter, chosen on half the answers
        return fit_paper_pick_law(counts, components=components, kmax=kmax, tie=tie, draws=draws, rounds=rounds,
                                  level=level, seed=seed)
    if components == STACK:
        return fit_stacked_law(counts, kmax=kmax, tie=tie, draws=draws, rounds=rounds, level=level, seed=seed)
    if components == "auto":
        C = check_counts(counts, min_samples=2)
        if C.shape[0] >= BLEND_MIN_QUERIES:
            # the grid prior at every m: of the priors and the in-sample choices among them measured on
            # the arithmetic, sequence and max/min tasks (benchmarks/voting_prior_choice.py) it had the
            # lowest mean error; the Dirichlets BIC chose at m >= 12 had the highest at m = 16
            return _fit_grid_law(C, kmax=kmax, tie=tie, draws=draws, rounds=rounds, level=level, seed=seed)
    if components == "blend":
        C = check_counts(counts, min_samples=2)
        shapes = BLEND if C.shape[0] >= BLEND_MIN_QUERIES else BLEND[:1]
        priors = [fit_prior(C, components=shape, seed=seed) for shape in shapes]
        extras["blend"] = {"priors": [p.to_dict() for p in priors]}
        if len(priors) == 1:
            extras["blend"]["note"] = (f"fewer than {BLEND_MIN_QUERIES} queries: one Dirichlet only "
                                       "(too few to fit an easy and a hard group)")
    else:
        priors = [fit_prior(counts, components=components, seed=seed)]
    parts = [predicted_curves(p, counts, kmax, tie) for p in priors]
    per_query = np.mean(parts, axis=0)
    curve = per_query.mean(axis=0)
    if "blend" in extras:
        means = np.array([q.mean(axis=0) for q in parts])
        extras["blend"].update(band_low=[float(x) for x in means.min(axis=0)],
                               band_high=[float(x) for x in means.max(axis=0)])
    k_best = int(np.flatnonzero(curve >= curve.max() - 1e-12)[0]) + 1
    interval, band = (k_best, k_best), (None, None)
    if draws > 0:
        dcs = []
        for i, prior in enumerate(priors):
            D = posterior_draws(prior, counts, draws, seed + i)
            Q, S, cols = D.shape
            dcs.append(plurality_curves(D.reshape(Q * S, cols), kmax, tie).reshape(Q, S, kmax))
        boot = draw_bootstrap(np.concatenate(dcs, axis=1), rounds=rounds, level=level, seed=seed)
        interval, band = holding_point(curve, k_best, *boot)
    return LawFit(prior=priors[0], kmax=kmax, tie=tie, per_query=per_query, curve=curve, k_opt=k_best,
                  accuracy_opt=float(curve[k_best - 1]), k_interval=interval, level=level, extras=extras,
                  curve_low=band[0], curve_high=band[1])


def _fit_grid_law(counts: Any, *, kmax: int, tie: str, draws: int, rounds: int, level: float,
                  seed: int, seconds: int | None = None, penalty: float | None = None, basis=None) -> LawFit:
    """:func:`fit_law` with the grid prior (:mod:`.grid_prior`): the curve is each query's posterior
    weights times the grid's exact curves; ``per_query_sd`` is the posterior sd of each query's
    accuracy at every K; the optimum's interval and the band are :func:`.band.grid_band`'s (the
    prior's coefficients drawn as well; the NPMLE, without coefficients, keeps its weights)."""
    prior = fit_grid_prior(counts, seconds=seconds, basis=basis, **({} if penalty is None else {"penalty": penalty}))
    per_query, per_query_sd = grid_predicted_curves(prior, counts, kmax, tie)
    curve = per_query.mean(axis=0)
    k_best = int(np.flatnonzero(curve >= curve.max() - 1e-12)[0]) + 1
    interval, band = (k_best, k_best), (None, None)
    if draws > 0:
        design = (basis or smooth_basis)(prior.support) if prior.coefficients is not None else None
        boot = grid_band(prior, check_counts(counts), prior.curves(kmax, tie), design, rounds=rounds, level=level,
                         seed=seed)
        interval, band = holding_point(curve, k_best, *boot)
    sd_opt = per_query_sd[:, k_best - 1]
    extras = {"grid": {"median_query_sd_at_k_opt": float(np.median(sd_opt)),
                       "max_query_sd_at_k_opt": float(sd_opt.max())}}
    return LawFit(prior=prior, kmax=kmax, tie=tie, per_query=per_query, curve=curve, k_opt=k_best,
                  accuracy_opt=float(curve[k_best - 1]), k_interval=interval, level=level, extras=extras,
                  per_query_sd=per_query_sd, curve_low=band[0], curve_high=band[1])


def empirical_curves(counts: Any, kmax: int, tie: str = "random") -> np.ndarray:
    """Per-query accuracy at K = 1..kmax when K answers are resampled from the observed answers
    (with replacement, as if the observed frequencies were the distribution): shape (Q, kmax)."""
    C = check_counts(counts)
    return plurality_curves(C / C.sum(axis=1, keepdims=True), kmax, tie)
