"""Style of an answer (length, markdown headers, list items, bold spans) and style-controlled ratings.

People prefer longer, better formatted answers regardless of substance. Style control adds, to the
Bradley-Terry logit, a linear term in the normalised style differences of the two answers
((f_a - f_b) / (f_a + f_b), standardised over the battles), so the model coefficients estimate the
preference that remains once style is held equal. The style coefficients say how much each feature
sways a vote on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit
from skyplex.errors import InvalidInputError

from .battles import A_WINS, BOTH_BAD, STYLE_FEATURES, TIE, BattleSet
from .ratings import BASE_RATING, SCALE, TieRule, normal_quantile

_TOKEN = re.compile(r"\w+|[^\w\s]")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__", re.DOTALL)


def style_features(text: str, count_tokens: Callable[[str], int] | None = None) -> dict[str, float]:
    """Length (tokens), markdown headers, list items and bold spans of one answer."""
    length = count_tokens(text) if count_tokens is not None and text else len(_TOKEN.findall(text))
    return {
        "length": float(length),
        "headers": float(len(_HEADER.findall(text))),
        "lists": float(len(_LIST_ITEM.findall(text))),
        "bold": float(len(_BOLD.findall(text))),
    }


def style_differences(style: np.ndarray) -> np.ndarray:
    """Per battle and feature, (a - b) / (a + b) (0 when both are 0), standardised over the battles."""
    a, b = style[:, 0, :], style[:, 1, :]
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(total > 0, (a - b) / total, 0.0)
    std = diff.std(axis=0)
    return (diff - diff.mean(axis=0)) / np.where(std > 0, std, 1.0)


@dataclass
class StyleFit:
    """Style-controlled ratings, their sandwich intervals, and the style coefficients."""

    models: list[str]
    ratings: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    coefficients: dict[str, float]  # natural (log-odds) scale per standard deviation of the difference
    coefficient_se: dict[str, float]


def fit_style_controlled(battles: BattleSet, *, ties: TieRule = "half", both_bad: TieRule = "half",
                         level: float = 0.95, ridge: float = 0.0) -> StyleFit:
    """Contextual Bradley-Terry with style differences as extra features, with sandwich intervals.

    ``ridge`` adds an L2 penalty on the model coefficients (in battles' worth of information); the
    leaderboard sets it when the plain fit had to be regularised, so both stay finite.
    """
    if not battles.has_style:
        raise InvalidInputError(
            "style control needs style features (length, headers, lists, bold) of both answers for every battle; "
            "these votes have none or only some (votes cast on the arena page carry them)", field="style_control")
    keep = np.ones(len(battles), dtype=bool)
    if ties == "drop":
        keep &= battles.outcome != TIE
    if both_bad == "drop":
        keep &= battles.outcome != BOTH_BAD
    if not keep.any():
        raise InvalidInputError("no decisive battles left to fit once ties are dropped", field="ties")
    a, b, o = battles.model_a[keep], battles.model_b[keep], battles.outcome[keep]
    y = np.where(o == A_WINS, 1.0, np.where(o >= TIE, 0.5, 0.0))
    z = style_differences(battles.style[keep])
    n, m, k = y.size, len(battles.models), z.shape[1]
    rows = np.repeat(np.arange(n), 2)
    cols = np.stack([a, b], axis=1).ravel()
    vals = np.tile([1.0, -1.0], n)
    x = sparse.hstack([sparse.csr_matrix((vals, (rows, cols)), shape=(n, m)), sparse.csr_matrix(z)]).tocsr()

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = x @ theta
        loss = float(np.dot(y, np.logaddexp(0.0, -d)) + np.dot(1 - y, np.logaddexp(0.0, d)))
        grad = x.T @ (expit(d) - y)
        if ridge:
            loss += 0.5 * ridge * float(theta[:m] @ theta[:m])
            grad[:m] += ridge * theta[:m]
        return loss / n, grad / n

    theta = minimize(nll, np.zeros(m + k), jac=True, method="L-BFGS-B",
                     options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-15}).x
    p = expit(x @ theta)
    info = (x.T @ x.multiply((p * (1 - p))[:, None])).toarray()
    info[:m, :m] += ridge * np.eye(m)
    meat = (x.T @ x.multiply(((y - p) ** 2)[:, None])).toarray()
    h_inv = np.linalg.pinv(info)
    cov = h_inv @ meat @ h_inv
    centre = np.eye(m + k)
    centre[:m, :m] -= 1.0 / m  # centre the model block only
    theta = centre @ theta
    cov = centre @ cov @ centre.T
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    zq = normal_quantile(level)
    ratings = SCALE * theta[:m] + BASE_RATING
    half = zq * SCALE * se[:m]
    return StyleFit(
        models=list(battles.models), ratings=ratings, lower=ratings - half, upper=ratings + half,
        coefficients=dict(zip(STYLE_FEATURES, theta[m:].tolist())),
        coefficient_se=dict(zip(STYLE_FEATURES, se[m:].tolist())),
    )
