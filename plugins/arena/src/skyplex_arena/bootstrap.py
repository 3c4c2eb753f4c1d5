"""Bootstrap confidence intervals: resample the battles with replacement, refit, take percentiles.

Resampling N battles with replacement is the same as drawing the counts of every (pair, outcome)
cell from a multinomial with the observed frequencies, so a round costs one multinomial draw and a
Newton refit over the grouped rows warm-started from the full fit (a few iterations), never a pass
over the battles.
Round ``r`` draws from its own child of ``SeedSequence(seed)``: the answer depends on the seed only,
not on how many workers ran the rounds or in which order they finished.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from skyplex.errors import InvalidInputError

from .ratings import BASE_RATING, DEFAULT_PRIOR_TIES, SCALE, BTFit, mle_exists, newton_bt
from .regularise import core_prior

log = logging.getLogger(__name__)


def bootstrap_ratings(fit: BTFit, *, rounds: int = 100, seed: int = 0, workers: int | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      warnings: list[str] | None = None) -> np.ndarray:
    """Ratings of every model in each of ``rounds`` resamples, shape (rounds, models).

    A resample can lose the only loss of a rarely-seen model, and then its maximum-likelihood rating
    is infinite; such rounds are refitted with the regularising prior (as the full fit would be) and
    counted in ``warnings``, instead of reporting an interval reaching thousands of points.
    """
    if rounds < 2:
        raise InvalidInputError(f"bootstrap needs at least 2 rounds, got {rounds}", field="rounds")
    counts = fit.counts
    cells = np.stack([counts.wins, counts.losses, counts.ties], axis=1)
    total = int(round(cells.sum()))
    probs = (cells / cells.sum()).ravel()
    seeds = np.random.SeedSequence(seed).spawn(rounds)

    regularised = np.zeros(rounds, dtype=bool)

    def one(r: int) -> np.ndarray:
        rng = np.random.default_rng(seeds[r])
        resample = counts.with_counts(rng.multinomial(total, probs).reshape(cells.shape))
        prior = fit.prior
        if prior is None or prior.anchor is not None:  # not an explicit prior: regularise as the fit would
            prior = None if mle_exists(resample) else core_prior(resample, DEFAULT_PRIOR_TIES)
            regularised[r] = prior is not None and fit.prior is None
        beta, _ = newton_bt(resample, prior_ties=prior, start=fit.beta)
        return SCALE * beta + BASE_RATING

    workers = workers or min(4, os.cpu_count() or 1)
    out = np.empty((rounds, counts.n_models))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (r, ratings) in enumerate(zip(range(rounds), pool.map(one, range(rounds))), start=1):
            out[r] = ratings
            if progress is not None:
                progress(done, rounds)
    if regularised.any():
        note = (f"{int(regularised.sum())} of {rounds} bootstrap resamples left some model unbeaten or winless and "
                f"were refitted with {DEFAULT_PRIOR_TIES:g} virtual tie(s) for each such model")
        log.info(note)
        if warnings is not None:
            warnings.append(note)
    return out


def bootstrap_intervals(fit: BTFit, samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals from bootstrap samples.

    A percentile interval can, for a skewed resampling distribution, miss the full-data estimate
    by a hair; it is widened to include it, so the reported interval always brackets the rating.
    """
    if not 0.5 <= level < 1.0:
        raise InvalidInputError(f"confidence level must be in [0.5, 1), got {level}", field="level")
    alpha = (1.0 - level) / 2.0
    lower = np.quantile(samples, alpha, axis=0)
    upper = np.quantile(samples, 1.0 - alpha, axis=0)
    ratings = fit.ratings
    return np.minimum(lower, ratings), np.maximum(upper, ratings)

