"""The regularising prior of the Bradley-Terry fit: virtual ties that keep every rating finite.

When the maximum-likelihood ratings do not exist (a model never lost, never won, or never met the
others), some prior is needed. Tying *every* model to a fixed 1000-rated anchor lets one vote
between two new models drag a rarely-seen established model by tens of points, because the prior
is then weighed against the few votes that model has. So the prior here touches only the models
that need it:

- each group of models that met each other (a connected component of the comparison graph) is
  rated on its own and centred on its own mean: votes in one group cannot move another group;
- inside a group, the largest set of models that all took points from each other (the largest
  strongly connected component of the "took credit from" graph, whose ratings exist) is the
  group's *core* and gets no prior; every other model of the group gets ``strength`` virtual ties
  against the mean rating of the core, which keeps it finite and leaves the core's ratings to its
  own votes.

A :class:`Prior` holds, per model, the weight of its virtual ties and the anchor it is tied to:
``offset(beta) = beta - anchor @ beta``, where row ``x`` of ``anchor`` averages ``x``'s core (or is
zero, for the fixed 1000-rated anchor an explicit ``prior_ties`` asks for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import expit


@dataclass(frozen=True)
class Prior:
    """Virtual ties: ``weights[x]`` of them for model ``x`` against ``anchor[x] @ beta`` (None: against 0)."""

    weights: np.ndarray
    anchor: np.ndarray | None = None

    def offset(self, beta: np.ndarray) -> np.ndarray:
        return beta - self.anchor @ beta if self.anchor is not None else beta

    def value_and_grad(self, beta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log-likelihood of the virtual ties (each half a win, half a loss) and its gradient."""
        d = self.offset(beta)
        value = float(np.sum(self.weights * (0.5 * np.logaddexp(0.0, -d) + 0.5 * np.logaddexp(0.0, d))))
        gd = self.weights * (expit(d) - 0.5)
        return value, (gd - self.anchor.T @ gd if self.anchor is not None else gd)

    def hessian(self, beta: np.ndarray) -> np.ndarray:
        s = expit(self.offset(beta))
        h = self.weights * s * (1.0 - s)
        if self.anchor is None:
            return np.diag(h)
        a = np.eye(beta.size) - self.anchor
        return a.T @ (h[:, None] * a)

    @property
    def full_rank(self) -> bool:
        """Whether the prior alone pins every rating (no free shift left in the likelihood)."""
        return self.anchor is None and bool(np.all(self.weights > 0))

    @property
    def regularised(self) -> np.ndarray:
        """Indices of the models that carry virtual ties."""
        return np.flatnonzero(self.weights > 0)


def as_prior(prior: float | Prior | None, n_models: int) -> Prior | None:
    """A :class:`Prior` from a number of virtual ties per model against the fixed anchor (None for 0)."""
    if prior is None or isinstance(prior, Prior):
        return prior
    return Prior(np.full(n_models, float(prior))) if prior > 0 else None


def components(counts: Any) -> np.ndarray:
    """Connected-component label of each model in the comparison graph (who met whom)."""
    n = counts.n_models
    met = coo_matrix((np.ones(counts.i.size), (counts.i, counts.j)), shape=(n, n))
    return connected_components(met, directed=False)[1]


def strong_components(counts: Any) -> np.ndarray:
    """Strongly-connected-component label of each model in the "took credit from" graph."""
    credit_j = counts.losses + counts.ties
    credit_i = counts.wins + counts.ties
    rows = np.concatenate([counts.i[credit_j > 0], counts.j[credit_i > 0]])
    cols = np.concatenate([counts.j[credit_j > 0], counts.i[credit_i > 0]])
    n = counts.n_models
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=True, connection="strong")[1]


def core_prior(counts: Any, strength: float) -> Prior | None:
    """``strength`` virtual ties for each model outside its group's core, against the core's mean;
    None when every group's ratings exist without help."""
    n = counts.n_models
    weights = np.zeros(n)
    anchor = np.zeros((n, n))
    group = components(counts)
    strong = strong_components(counts)
    played = np.bincount(counts.i, counts.total, minlength=n) + np.bincount(counts.j, counts.total, minlength=n)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        labels = strong[members]
        if np.unique(labels).size == 1:
            continue  # this group's maximum-likelihood ratings exist
        # the core: the largest strong component (most votes on a tie), so established models carry no prior
        sizes = {lab: (np.sum(labels == lab), played[members[labels == lab]].sum()) for lab in np.unique(labels)}
        core_label = max(sizes, key=lambda lab: sizes[lab])
        core = members[labels == core_label]
        outside = members[labels != core_label]
        weights[outside] = strength
        anchor[np.ix_(outside, core)] = 1.0 / core.size
    return Prior(weights, anchor) if weights.any() else None


def centre_per_component(beta: np.ndarray, counts: Any) -> np.ndarray:
    """Each group's ratings centred on the group's own mean (groups that never met are not comparable)."""
    out = beta.astype(float).copy()
    group = components(counts)
    for g in np.unique(group):
        members = group == g
        out[members] -= out[members].mean()
    return out
