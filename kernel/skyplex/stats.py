"""Bootstrap intervals over items (problems, questions, queries), shared by every plugin that reports one.

Plugins score a set of items and report a mean with a percentile bootstrap interval: resample the
items with replacement, take the mean of each resample, read the interval off the quantiles of those
means. One implementation keeps the draws identical across plugins (the same seed gives the same
resamples everywhere) and keeps the edge cases (no items, one item, a curve per item) handled once.

numpy is imported inside the functions so that ``import skyplex`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InvalidInputError

__all__ = ["bootstrap_means", "bootstrap_ci", "paired_bootstrap_diff"]


def bootstrap_means(values: Sequence[float] | Any, *, rounds: int = 1000, seed: int = 0) -> Any:
    """Means of ``rounds`` resamples of the items in ``values``, drawn with replacement.

    ``values`` holds one number per item (shape ``(n,)``; the result has shape ``(rounds,)``) or one
    row per item (shape ``(n, m)``, say an accuracy curve per query; the result has shape
    ``(rounds, m)``, each row the mean curve of one resample). Each round draws ``n`` item indices from
    ``numpy.random.default_rng(seed)`` in turn, so a seed names the same resamples in every plugin.
    """
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.ndim not in (1, 2):
        raise InvalidInputError(f"bootstrap values must be one number or one row per item, got shape {data.shape}")
    if data.shape[0] == 0:
        raise InvalidInputError("nothing to bootstrap: the selection has no items")
    if rounds < 1:
        raise InvalidInputError(f"bootstrap rounds must be at least 1, got {rounds}")
    if not np.all(np.isfinite(data)):
        raise InvalidInputError("bootstrap values must be finite numbers (found NaN or infinity)")
    rng = np.random.default_rng(seed)
    n = data.shape[0]
    means = np.empty((rounds,) + data.shape[1:])
    for b in range(rounds):  # one round at a time: a curve per item would not fit as one (rounds, n, m) array
        means[b] = data[rng.integers(0, n, n)].mean(axis=0)
    return means


def bootstrap_ci(
    values: Sequence[float] | Any, *, rounds: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the items' mean and its percentile bootstrap interval at ``level``.

    The interval always contains the mean (with one item, or all items equal, it is that point).
    """
    import numpy as np

    if not 0 < level < 1:
        raise InvalidInputError(f"confidence level must be between 0 and 1 (exclusive), got {level}")
    data = np.asarray(values, dtype=float)
    if data.ndim != 1:
        raise InvalidInputError(f"bootstrap_ci takes one number per item, got shape {data.shape}")
    means = bootstrap_means(data, rounds=rounds, seed=seed)
    mean = float(data.mean())
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return mean, min(float(low), mean), max(float(high), mean)


def paired_bootstrap_diff(
    treatment: Sequence[float] | Any,
    control: Sequence[float] | Any,
    *,
    rounds: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``treatment - control`` over paired items (the same questions, problems).

    Resampling the items' differences is far tighter than comparing two separate intervals: each
    item's own difficulty cancels out of its difference.
    """
    import numpy as np

    t, c = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if t.shape != c.shape or t.ndim != 1:
        raise InvalidInputError(f"paired samples must be two equal-length lists, got shapes {t.shape} and {c.shape}")
    return bootstrap_ci(t - c, rounds=rounds, level=level, seed=seed)
