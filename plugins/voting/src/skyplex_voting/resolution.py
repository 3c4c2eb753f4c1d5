"""The grid prior's resolution in ``p_correct`` made a function of the answers per query.

The g-model of :mod:`.grid_prior` makes the log-weights a smooth function of ``p_correct``: Gaussian
bumps whose centres are evenly spaced over [0, 1] and whose width is their spacing
(:data:`.grid_prior.BASIS_CENTRES` = 7, spacing 1/6, chosen at 4-10 answers per query). With m
answers one query's share of correct answers has standard deviation ``sqrt(p (1 - p) / m)``, at most
``1 / (2 sqrt(m))`` (at p = 1/2): features of the prior narrower than that are not seen in any one
query's answers. :func:`centres_for` keeps the bumps' spacing no wider than that sd,
``centres = max(BASIS_CENTRES, ceil(2 sqrt(m)) + 1)``: 7 up to m = 9 (the default's spacing is
already below it there), 8 at m = 10-12, 9 at 13-16, 11 at 21-25, 15 at 43-49. So the prior is as
smooth as before with few answers and can follow finer structure where the answers resolve it.

``fit_law(counts, components="grid-fine")`` fits the grid prior with that basis for the counts'
median number of answers per query (everything else as ``"grid"``: the same grid, ridge, posterior
curves and band). Measured in docs/plugins/voting.md ("Many answers per query").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError

from .grid_prior import BASIS_CENTRES, smooth_basis

#: ``fit_law`` components: the grid prior with its resolution set by the answers per query
FINE = "grid-fine"


def centres_for(m: float) -> int:
    """Bumps in ``p_correct`` for m answers per query: the fewest (at least the default's) whose
    spacing ``1 / (centres - 1)`` is no wider than ``1 / (2 sqrt(m))``, the largest sd of one query's
    share of correct answers."""
    if isinstance(m, bool) or not isinstance(m, (int, float, np.integer, np.floating)) or not math.isfinite(m) or m < 1:
        raise InvalidInputError(f"answers per query must be a number >= 1, got {m!r}", field="m")
    return max(BASIS_CENTRES, math.ceil(2.0 * math.sqrt(float(m)) - 1e-9) + 1)


def answers_per_query(counts: Any) -> float:
    """The median number of answers per query of a counts table."""
    from .fit import check_counts  # fit imports this module

    return float(np.median(check_counts(counts).sum(axis=1)))


def fine_basis(counts: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The g-model's design for these counts: :func:`.grid_prior.smooth_basis` with
    :func:`centres_for` of their median answers per query."""
    return partial(smooth_basis, centres=centres_for(answers_per_query(counts)))


def fit_fine_law(counts: Any, **kwargs: Any) -> Any:
    """:func:`.fit.fit_law` with ``components="grid-fine"`` (``kwargs``: its kmax, tie, draws, rounds,
    level, seed); ``extras["grid"]`` also names the basis and its number of bumps."""
    from .fit import _fit_grid_law, check_counts

    C = check_counts(counts, min_samples=2)
    centres = centres_for(answers_per_query(C))
    law = _fit_grid_law(C, basis=partial(smooth_basis, centres=centres), **kwargs)
    law.extras["grid"].update(basis="fine", centres=centres)
    return law
