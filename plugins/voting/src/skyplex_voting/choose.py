"""Which difficulty prior to use, chosen on the answers themselves (no held-out data).

Every prior here extrapolates a query's accuracy beyond the K = m its answers pin down by its own
shape, and the shape that extrapolates best differs between tasks (measured on SmolLM2's arithmetic,
sequence and max/min tasks: the grid prior, the one-peak grid and the Dirichlets each win some). So
``fit_law(components="auto")`` scores every candidate by what a fitted prior is for, predicting a
query's further answers from the ones seen, in a cross-validation inside the sample:

* the queries are split into :data:`FOLDS` random folds (:func:`fold_labels`); each candidate is fitted on the other
  folds' full counts (so a prior never scores queries it was fitted on);
* each held-out query's m answers are split at random into ``ceil(m / 2)`` seen and the rest
  unseen (a multivariate hypergeometric draw, so a wrong answer keeps its column), :data:`SPLITS`
  times;
* the score is the mean over unseen answers of ``log p(unseen | seen, prior)``: the posterior
  predictive of the rest of a query's answers, jointly (the sequence probability, so the omitted
  multinomial coefficients are the same for every candidate).

The highest score wins (the first in :data:`CANDIDATES` on an exact tie), so the choice is a
deterministic function of the counts and the seed. Only likelihoods are needed, never curves: the
candidates' fits cost a few hundredths of a second each and only the chosen prior's curves are
computed.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
from scipy.special import logsumexp
from skyplex.errors import InvalidInputError

#: the priors ``components="auto"`` chooses among: name -> what it is (``fit_law`` components, or
#: ``grid:S:R``, the grid prior with S second-answer levels and ridge penalty R)
CANDIDATES: dict[str, str] = {
    "grid": "the grid prior (second-answer levels, ridge 30)",
    "grid:1:10": "the one-peak grid prior (ridge 10)",
    "1": "one Dirichlet, wrong answers alike",
    "2s": "two Dirichlets (an easier and a harder group of queries)",
}
#: interleaved folds of queries (each candidate is fitted FOLDS times)
FOLDS = 2
#: random seen/unseen splits of each held-out query's answers
SPLITS = 3


def fold_labels(queries: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Each query's fold, at random with sizes as equal as possible: tasks are often generated in
    a cycle of kinds (max then min, or steps +1, -1, ...), so folds by position would put one kind
    in one fold and another in the other, and every prior would be scored on queries unlike its own."""
    return rng.permutation(queries) % folds


def split_answers(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each row's answers split at random into ``ceil(m / 2)`` seen and the rest unseen, without
    replacement (a wrong answer stays in its column): two arrays of the counts' shape."""
    C = np.asarray(counts, dtype=np.int64)
    seen = np.zeros_like(C)
    for q, row in enumerate(C):
        m = int(row.sum())
        if m:
            seen[q] = rng.multivariate_hypergeometric(row, (m + 1) // 2)
    return seen, C - seen


def grid_spec(spec: str) -> dict:
    """``fit_grid_prior`` keywords of a grid candidate's name (``grid`` or ``grid:S:R``)."""
    from .grid_prior import PENALTY

    parts = spec.split(":")
    return {"seconds": int(parts[1]) if len(parts) > 1 else None,
            "penalty": float(parts[2]) if len(parts) > 2 else PENALTY}


class _GridScorer:
    """A grid candidate's log marginal likelihood of count rows, with the grid's per-row likelihoods
    computed once for every row the cross-validation meets (the grid does not change between folds,
    only its weights do)."""

    def __init__(self, spec: str, rows: np.ndarray, abstain: float) -> None:
        from .grid_prior import smooth_basis, support_grid, support_loglik

        keywords = grid_spec(spec)
        self.penalty = keywords["penalty"]
        self.support = support_grid(rows.shape[1] - 2, abstain, seconds=keywords["seconds"] or _grid_second())
        self.basis = smooth_basis(self.support)
        self.loglik = support_loglik(rows, self.support)

    def fold(self, train_rows: np.ndarray, train_mult: np.ndarray):
        """The log marginal of every row under the weights fitted on the training rows (indices into
        ``rows``, with multiplicities)."""
        from .grid_prior import npmle_em, _fit_smooth

        if self.penalty == 0:
            weights = npmle_em(self.loglik[train_rows], train_mult)[0]
        else:
            weights = _fit_smooth(self.loglik[train_rows], train_mult, self.basis, self.penalty)[0]
        with np.errstate(divide="ignore"):
            log_w = np.log(weights)
        return logsumexp(self.loglik + log_w[None], axis=1)


def _grid_second() -> int:
    from .grid_prior import GRID_SECOND

    return GRID_SECOND


def _dirichlet_scorer(train: np.ndarray, spec: str, abstain: float, seed: int):
    from .fit import _component_loglik, fit_prior

    prior = fit_prior(train, components=int(spec) if spec.isdigit() else spec, seed=seed)
    weights, alphas = prior.expanded()

    def log_marginal(C: np.ndarray) -> np.ndarray:
        A = alphas
        if np.all(A[:, -1] == 0) and abstain > 0:
            # the training folds had no unparsable answer, this one has: give them the pooled rate's
            # weight instead of probability 0 (which would score every query -inf, a fold artefact)
            A = A.copy()
            A[:, -1] = A.sum(axis=1) * abstain / max(1.0 - abstain, 1e-12)
        return logsumexp(_component_loglik(C.astype(float), A) + np.log(weights)[None], axis=1)

    return log_marginal


def _cross_validation_input(counts: Any, candidates: tuple[str, ...] | None,
                            folds: int) -> tuple[np.ndarray, tuple[str, ...], float]:
    """The checked counts, the candidates' names and the task's abstention rate, for a cross-validated
    choice; an error naming the input when there are too few queries for ``folds`` folds of 2."""
    from .fit import check_counts

    C = check_counts(counts, min_samples=2)
    names = _candidate_names(candidates)
    if folds < 2 or C.shape[0] < 2 * folds:
        raise InvalidInputError(f"choosing a prior by cross-validation needs at least {2 * folds} queries "
                                f"({folds} folds of 2), got {C.shape[0]}", field="counts")
    return C, names, float(C[:, -1].sum() / C.sum())


def predictive_gains(counts: Any, *, candidates: tuple[str, ...] | None = None, folds: int = FOLDS,
                     splits: int = SPLITS, seed: int = 0) -> tuple[dict[str, np.ndarray], float]:
    """Per candidate, ``log p(unseen | seen, prior)`` of every query in every split (see the module's
    docstring; the prior fitted on the other folds): arrays of shape (splits * queries,), always
    finite, and the number of unseen answers they cover. ``counts`` need at least ``2 * folds``
    queries and 2 answers for some query (one answer cannot be split into seen and unseen)."""
    C, names, abstain = _cross_validation_input(counts, candidates, folds)
    rng = np.random.default_rng(seed)
    seens = [split_answers(C, rng)[0] for _ in range(splits)]
    unseen_total = float(splits * C.sum() - sum(seen.sum() for seen in seens))
    # every row the scores need (the full counts and each split's seen part), each distinct one once
    rows, inverse = np.unique(np.concatenate([C, *seens]).astype(float), axis=0, return_inverse=True)
    inverse = inverse.ravel().reshape(splits + 1, C.shape[0])
    fold_of = fold_labels(C.shape[0], folds, rng)
    gains = {name: np.zeros((splits, C.shape[0])) for name in names}
    grids = {name: _GridScorer(name, rows, abstain) for name in names if name.startswith("grid")}
    for f in range(folds):
        train, test = fold_of != f, fold_of == f
        train_rows, train_mult = np.unique(inverse[0, train], return_counts=True)
        for name in names:
            if name in grids:
                every = grids[name].fold(train_rows, train_mult.astype(float))
            else:
                every = _dirichlet_scorer(C[train], name, abstain, seed)(rows)
            for k in range(splits):
                # log p(unseen | seen) = log p(all m answers) - log p(seen), both sequence probabilities
                gain = every[inverse[0, test]] - every[inverse[k + 1, test]]
                gains[name][k, test] = np.where(np.isfinite(gain), gain, -1e6)
    return {name: g.ravel() for name, g in gains.items()}, unseen_total


def prior_scores(counts: Any, *, candidates: tuple[str, ...] | None = None, folds: int = FOLDS,
                 splits: int = SPLITS, seed: int = 0) -> dict[str, float]:
    """Each candidate prior's mean log predictive probability per unseen answer
    (:func:`predictive_gains`): higher is better, always finite."""
    gains, unseen = predictive_gains(counts, candidates=candidates, folds=folds, splits=splits, seed=seed)
    return {name: float(g.sum()) / max(unseen, 1.0) for name, g in gains.items()}


def stacking_weights(counts: Any, *, candidates: tuple[str, ...] | None = None, seed: int = 0,
                     iterations: int = 500, tol: float = 1e-10) -> dict[str, float]:
    """Stacking of predictive distributions: the weights ``w`` (non-negative, summing to 1) that
    maximise ``sum_q log sum_k w_k p_k(unseen_q | seen_q)`` over the cross-validated predictive
    probabilities of :func:`predictive_gains`. Unlike weights from the marginal likelihood, which
    with hundreds of queries put all weight on one prior, stacking keeps every prior that predicts
    some queries better than the others do. Solved by EM (the mixture-weight update never lowers the
    objective), from equal weights."""
    return _stack(predictive_gains(counts, candidates=candidates, seed=seed)[0], iterations, tol)


def _stack(gains: dict[str, np.ndarray], iterations: int = 500, tol: float = 1e-10) -> dict[str, float]:
    names = list(gains)
    G = np.stack([gains[n] for n in names], axis=1)
    E = np.exp(G - G.max(axis=1, keepdims=True))
    w = np.full(len(names), 1.0 / len(names))
    last = -np.inf
    for _ in range(iterations):
        mix = E @ w
        objective = float(np.log(mix).sum())
        if objective - last <= tol * abs(objective):
            break
        last = objective
        w = w * (E / mix[:, None]).mean(axis=0)
        w /= w.sum()
    return {n: float(v) for n, v in zip(names, w)}


def subsample_curves(counts: Any, kmax: int, tie: str = "random") -> np.ndarray:
    """Per row, the plurality accuracy of K answers drawn WITHOUT replacement from its own answers,
    K = 1..kmax (NaN where K exceeds the row's answers): shape (rows, kmax).

    K of a query's m answers drawn without replacement are K independent answers of that query, so
    each entry is an unbiased estimate of the query's true accuracy at K (the plug-in curve, which
    resamples with replacement, is not). Exact: every way of taking ``k_i`` of each column's ``c_i``
    answers, weighted by ``prod C(c_i, k_i) / C(m, K)``.
    """
    from itertools import product

    from .fit import check_counts
    from .law import check_kmax, check_tie_rule, tie_weight

    C = check_counts(counts).astype(np.int64)
    kmax, tie = check_kmax(kmax), check_tie_rule(tie)
    rows, inverse = np.unique(C, axis=0, return_inverse=True)
    out = np.full((len(rows), kmax), np.nan)
    for r, row in enumerate(rows):
        m = int(row.sum())
        top = min(m, kmax)
        score = np.zeros(top + 1)
        for take in product(*(range(min(int(c), top) + 1) for c in row)):
            K = sum(take)
            if K == 0 or K > top or take[0] == 0:
                continue  # the correct answer must be drawn to win
            best_wrong = max(take[1:-1])
            if best_wrong > take[0]:
                continue
            ways = 1.0
            for c, k in zip(row, take):
                ways *= comb(int(c), k)
            score[K] += ways * tie_weight(tie, sum(1 for w in take[1:-1] if w == take[0]))
        out[r, :top] = score[1:] / np.array([comb(m, K) for K in range(1, top + 1)], dtype=float)
    return out[inverse.ravel()]


def _prior_mean_curve(train: np.ndarray, name: str, abstain: float, kmax: int, tie: str, seed: int) -> np.ndarray:
    """The task curve a candidate fitted on ``train`` predicts for a query it knows nothing else of."""
    from .fit import fit_prior
    from .grid_prior import fit_grid_prior
    from .law import dirichlet_plurality_curves

    if name.startswith("grid"):
        prior = fit_grid_prior(train, p_abstain=abstain, **grid_spec(name))
        keep = prior.weights > 1e-12  # points with no weight add nothing: skip their curves
        support = prior.support[keep]
        one = type(prior)(support=support, weights=prior.weights[keep], penalty=prior.penalty,
                          log_likelihood=prior.log_likelihood, queries=prior.queries, samples=prior.samples)
        return prior.weights[keep] @ one.curves(kmax, tie)
    prior = fit_prior(train, components=int(name) if name.isdigit() else name, seed=seed)
    weights, alphas = prior.expanded()
    return weights @ dirichlet_plurality_curves(alphas, kmax, tie)


def extrapolation_errors(counts: Any, *, candidates: tuple[str, ...] | None = None, folds: int = FOLDS,
                         splits: int = 1, tie: str = "random", seed: int = 0) -> dict[str, float]:
    """How well each candidate extrapolates the task's curve from half the answers to all of them:
    the mean squared error over K = 1..m (points^2) of the curve a candidate predicts when fitted on
    ``ceil(m / 2)`` answers of the other folds' queries, against the unbiased curve of the held-out
    fold's full m answers (:func:`subsample_curves`). Lower is better; always finite."""
    C, names, abstain = _cross_validation_input(counts, candidates, folds)
    kmax = int(C.sum(axis=1).max())
    rng = np.random.default_rng(seed)
    seens = [split_answers(C, rng)[0] for _ in range(splits)]
    fold_of = fold_labels(C.shape[0], folds, rng)
    full = subsample_curves(C, kmax, tie)
    errors = dict.fromkeys(names, 0.0)
    for f in range(folds):
        test = fold_of == f
        target = full[test]
        has = ~np.isnan(target)
        target_mean = np.where(has, target, 0.0).sum(axis=0) / np.maximum(has.sum(axis=0), 1)
        covered = has.any(axis=0)
        for seen in seens:
            train = seen[~test]
            train = train[train.sum(axis=1) > 0]
            for name in names:
                curve = _prior_mean_curve(train, name, abstain, kmax, tie, seed)
                errors[name] += float(np.mean((100 * (curve - target_mean))[covered] ** 2))
    return {name: errors[name] / (folds * splits) for name in names}


def _candidate_names(candidates: tuple[str, ...] | None) -> tuple[str, ...]:
    names = tuple(CANDIDATES) if candidates is None else tuple(str(c) for c in candidates)
    unknown = [c for c in names if c not in CANDIDATES]
    if unknown or not names:
        raise InvalidInputError(f"candidates must be some of {', '.join(CANDIDATES)}, got {unknown or 'none'}",
                                field="candidates")
    return names


def choose_prior(counts: Any, *, candidates: tuple[str, ...] | None = None, method: str = "extrapolation",
                 seed: int = 0) -> tuple[str, dict[str, float]]:
    """The best candidate and every candidate's score: ``method="extrapolation"`` takes the lowest
    :func:`extrapolation_errors`, ``"likelihood"`` the highest :func:`prior_scores` (the first
    listed on a tie either way)."""
    if method == "extrapolation":
        scores = extrapolation_errors(counts, candidates=candidates, seed=seed)
        best = min(scores.values())
    elif method == "likelihood":
        scores = prior_scores(counts, candidates=candidates, seed=seed)
        best = max(scores.values())
    else:
        raise InvalidInputError(f"method must be 'extrapolation' or 'likelihood', got {method!r}", field="method")
    return next(name for name, s in scores.items() if s == best), scores


#: ``fit_law(components=STACK)``: the candidates' curves averaged with :func:`stacking_weights`
STACK = "stack"
#: candidates with a stacking weight below this are left out of the stacked curve (and renormalised)
STACK_FLOOR = 1e-3


def fit_stacked_law(counts: Any, *, kmax: int, tie: str, draws: int, rounds: int, level: float, seed: int):
    """``fit_law(components="stack")``: each query's curve is the :func:`stacking_weights` average of
    the candidates' posterior-mean curves; ``prior`` is the heaviest candidate's prior,
    ``extras["stack"]`` holds the weights and every candidate's predictive score. The optimum's
    interval and the curve's band are a bootstrap over queries of the stacked per-query curves (no
    posterior draws; ``draws=0`` skips both)."""
    from .fit import BLEND_MIN_QUERIES, LawFit, bootstrap_band, check_counts, fit_prior, holding_point, predicted_curves
    from .grid_prior import fit_grid_prior, grid_predicted_curves

    C = check_counts(counts, min_samples=2)
    if C.shape[0] < BLEND_MIN_QUERIES:
        raise InvalidInputError(f"stacking priors needs at least {BLEND_MIN_QUERIES} queries (their predictive "
                                f"scores come from cross-validation over queries), got {C.shape[0]}; use "
                                "components='auto'", field="counts")
    gains, unseen = predictive_gains(C, seed=seed)
    weights = _stack(gains)
    scores = {name: float(g.sum()) / max(unseen, 1.0) for name, g in gains.items()}
    kept = {n: w for n, w in weights.items() if w >= STACK_FLOOR}
    total = sum(kept.values())
    per_query = np.zeros((C.shape[0], kmax))
    priors = {}
    for name, w in kept.items():
        if name.startswith("grid"):
            priors[name] = fit_grid_prior(C, **grid_spec(name))
            curves = grid_predicted_curves(priors[name], C, kmax, tie)[0]
        else:
            priors[name] = fit_prior(C, components=int(name) if name.isdigit() else name, seed=seed)
            curves = predicted_curves(priors[name], C, kmax, tie)
        per_query += (w / total) * curves
    curve = per_query.mean(axis=0)
    k_best = int(np.flatnonzero(curve >= curve.max() - 1e-12)[0]) + 1
    interval, band = (k_best, k_best), (None, None)
    if draws > 0:
        low, high, boot_interval = bootstrap_band(per_query, rounds=rounds, level=level, seed=seed)
        interval, band = holding_point(curve, k_best, boot_interval, low, high)
    heaviest = max(kept, key=kept.get)
    return LawFit(prior=priors[heaviest], kmax=kmax, tie=tie, per_query=per_query, curve=curve, k_opt=k_best,
                  accuracy_opt=float(curve[k_best - 1]), k_interval=interval, level=level,
                  extras={"stack": {"weights": weights, "used": sorted(kept), "scores": scores}},
                  curve_low=band[0], curve_high=band[1])
