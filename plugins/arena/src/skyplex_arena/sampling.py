"""Which pair of models should battle next: active sampling, and a simulation that measures its worth.

The active rule samples pair ``a`` with probability proportional to how much one more vote would
shrink the width of its confidence interval: ``sqrt(S_aa / n_a) - sqrt(S_aa / (n_a + 1))``, where
``n_a`` is the pair's vote count and ``S_aa`` the variance of one vote's outcome on that pair
(``p(1 - p)`` with ``p`` the current Bradley-Terry win probability). Close pairs with few votes get
the votes; lopsided or well-measured pairs get few. Pairs nobody has compared yet come first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from skyplex.errors import InvalidInputError

from .ratings import SCALE, PairCounts, newton_bt, normal_quantile, sandwich_from_counts

log = logging.getLogger(__name__)

SamplingRule = Literal["active", "uniform"]
#: floor on a vote's outcome variance, so a pair that looks lopsided is never starved completely
MIN_VOTE_VARIANCE = 0.01


def pair_probabilities(n_votes: np.ndarray, beta: np.ndarray, pairs_i: np.ndarray, pairs_j: np.ndarray,
                       rule: SamplingRule = "active") -> np.ndarray:
    """Probability of choosing each pair (``pairs_i[k]``, ``pairs_j[k]``) next, given its vote counts."""
    if rule == "uniform":
        return np.full(n_votes.size, 1.0 / n_votes.size)
    if rule != "active":
        raise InvalidInputError(f"unknown sampling rule {rule!r}; use active or uniform", field="sampling")
    unseen = n_votes == 0
    if unseen.any():  # an uncompared pair has an unbounded interval: compare it first
        return unseen / unseen.sum()
    p = 1.0 / (1.0 + np.exp(-(beta[pairs_i] - beta[pairs_j])))
    var = np.maximum(p * (1.0 - p), MIN_VOTE_VARIANCE)
    gain = np.sqrt(var / n_votes) - np.sqrt(var / (n_votes + 1.0))
    return gain / gain.sum()


def choose_pair(models: list[str], counts: dict[tuple[str, str], int], ratings: dict[str, float] | None = None,
                *, rule: SamplingRule = "active", rng: np.random.Generator | None = None) -> tuple[str, str]:
    """Pick two of ``models`` to battle, in random left/right order.

    ``counts`` maps a sorted pair of names to its votes so far; ``ratings`` (Elo scale) supplies
    the win probabilities; models without a rating count as average.
    """
    if len(models) < 2:
        raise InvalidInputError(f"a battle needs at least two models, have {len(models)}: {models}", field="models")
    rng = rng or np.random.default_rng()
    names = sorted(models)
    ii, jj = np.triu_indices(len(names), k=1)
    n = np.array([counts.get((names[i], names[j]), 0) for i, j in zip(ii, jj)], dtype=float)
    beta = np.array([((ratings or {}).get(m, 1000.0) - 1000.0) / SCALE for m in names])
    k = int(rng.choice(n.size, p=pair_probabilities(n, beta, ii, jj, rule)))
    pair = (names[ii[k]], names[jj[k]])
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


@dataclass
class SimulationResult:
    rule: str
    votes: int
    reached: bool
    max_width: float
    seconds: float


def simulate(true_ratings: np.ndarray, *, rule: SamplingRule, target_width: float, batch: int = 500,
             max_votes: int = 2_000_000, seed: int = 0, level: float = 0.95, prior_ties: float = 1.0) -> SimulationResult:
    """Votes needed until every model's interval (sandwich, ``level``) is narrower than ``target_width``.

    Simulated voters follow Bradley-Terry with ``true_ratings`` (Elo scale), no ties. Pairs are chosen
    ``batch`` votes at a time with probabilities from the current fit. ``prior_ties`` keeps early fits
    finite while some model has not yet lost (the same for both rules; negligible after a few hundred votes).
    """
    rng = np.random.default_rng(seed)
    m = true_ratings.size
    ii, jj = np.triu_indices(m, k=1)
    true_p = 1.0 / (1.0 + 10.0 ** ((true_ratings[jj] - true_ratings[ii]) / 400.0))
    wins = np.zeros(ii.size)
    losses = np.zeros(ii.size)
    beta = np.zeros(m)
    z = normal_quantile(level)
    start = time.perf_counter()
    votes, width = 0, float("inf")
    while votes < max_votes:
        n = wins + losses
        probs = pair_probabilities(n, beta, ii, jj, rule)
        chosen = rng.multinomial(batch, probs)
        won = rng.binomial(chosen, true_p)
        wins += won
        losses += chosen - won
        votes += batch
        counts = PairCounts(m, ii, jj, wins, losses, np.zeros(ii.size))
        beta, _ = newton_bt(counts, prior_ties=prior_ties, start=beta)
        se = np.sqrt(np.clip(np.diag(sandwich_from_counts(beta, counts, prior_ties)), 0, None))
        width = float(2 * z * SCALE * se.max())
        if width < target_width:
            return SimulationResult(rule, votes, True, width, time.perf_counter() - start)
    return SimulationResult(rule, votes, False, width, time.perf_counter() - start)
