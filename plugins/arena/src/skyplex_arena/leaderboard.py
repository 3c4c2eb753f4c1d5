"""Leaderboards: ratings with intervals, ranks and vote counts, as data, JSON and CSV.

:func:`build_leaderboard` is the one entry point the evaluator, the CLI and the gateway share.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
from pydantic import Field
from skyplex.errors import InvalidInputError
from skyplex.interfaces.common import SkyplexModel

from .battles import A_WINS, B_WINS, BattleSet
from .bootstrap import bootstrap_intervals, bootstrap_ratings
from .ratings import (
    MIN_SANDWICH_VOTES,
    DegeneratePolicy,
    TieRule,
    fit_bradley_terry,
    online_elo,
    ranks_from_intervals,
    sandwich_intervals,
    win_matrices,
)

log = logging.getLogger(__name__)

CIMethod = Literal["sandwich", "bootstrap", "none"]
#: progress(done, total, message)
Progress = Callable[[int, int, str], None]


class LeaderboardRow(SkyplexModel):
    model: str
    rating: float = Field(description="Bradley-Terry rating on the Elo scale (mean 1000).")
    ci_low: float | None = None
    ci_high: float | None = None
    rank: int = Field(description="1 + models whose lower bound is above this model's upper bound.")
    votes: int
    wins: int
    losses: int
    ties: int = Field(description="Ties and both-bad votes.")
    win_rate: float = Field(description="Wins plus half the ties, over votes.")
    elo: float | None = Field(default=None, description="Online Elo (K=4), for comparison.")


class Leaderboard(SkyplexModel):
    rows: list[LeaderboardRow]
    method: str = "bradley-terry"
    ci: str = "sandwich"
    level: float = 0.95
    category: str | None = None
    battles: int = 0
    models: int = 0
    style_control: bool = False
    style_coefficients: dict[str, float] = Field(default_factory=dict)
    excluded_voters: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    options: dict[str, Any] = Field(default_factory=dict)

    def row(self, model: str) -> LeaderboardRow:
        """The row of ``model`` (an error listing the rated models if it has none)."""
        for r in self.rows:
            if r.model == model:
                return r
        raise InvalidInputError(f"model {model!r} is not on this leaderboard; rated: "
                                f"{', '.join(r.model for r in self.rows)}", field="model")

    def to_csv(self) -> str:
        """The rows as CSV (header first), ratings rounded to 0.01."""
        buf = io.StringIO()
        cols = ["rank", "model", "rating", "ci_low", "ci_high", "votes", "wins", "losses", "ties", "win_rate", "elo"]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in self.rows:
            w.writerow([_csv_value(getattr(r, c)) for c in cols])
        return buf.getvalue()


def _csv_value(v: Any) -> Any:
    return "" if v is None else round(v, 4) if isinstance(v, float) else v


def build_leaderboard(
    battles: BattleSet,
    *,
    ci: CIMethod = "sandwich",
    level: float = 0.95,
    category: str | None = None,
    rounds: int = 100,
    seed: int = 0,
    workers: int | None = None,
    ties: TieRule = "half",
    both_bad: TieRule = "half",
    style_control: bool = False,
    exclude_voters: Iterable[str] = (),
    on_degenerate: DegeneratePolicy = "regularise",
    prior_ties: float | None = None,
    elo: bool = True,
    progress: Progress | None = None,
) -> Leaderboard:
    """Fit, attach intervals and ranks, and count votes, for one category of ``battles``.

    ``ci``: ``sandwich`` (robust standard errors, fast), ``bootstrap`` (``rounds`` refits on
    resampled battles, seeded by ``seed``), or ``none``. ``style_control`` reports style-controlled
    ratings (sandwich intervals) and the style coefficients. ``exclude_voters`` drops their votes
    (e.g. the voters :func:`~skyplex_arena.anomaly.flag_voters` flagged).
    """
    if ci not in ("sandwich", "bootstrap", "none"):
        raise InvalidInputError(f"unknown CI method {ci!r}; use sandwich, bootstrap or none", field="ci")
    for name, rule in (("ties", ties), ("both_bad", both_bad)):
        if rule not in ("half", "drop"):
            raise InvalidInputError(f"{name} must be 'half' or 'drop', got {rule!r}", field=name)
    start = time.perf_counter()
    report = progress or (lambda d, t, m: None)
    excluded = sorted(set(exclude_voters))
    data = battles.excluding_voters(excluded).in_category(category)
    total_steps = 2 + (rounds if ci == "bootstrap" else 1)
    report(0, total_steps, f"fitting Bradley-Terry on {len(data)} battles")
    fit = fit_bradley_terry(data, ties=ties, both_bad=both_bad, on_degenerate=on_degenerate, prior_ties=prior_ties)
    report(1, total_steps, "fitted")
    ratings = fit.ratings
    lower = upper = None
    coefficients: dict[str, float] = {}
    warnings = list(fit.warnings)
    if style_control:
        from .style import fit_style_controlled

        sfit = fit_style_controlled(data, ties=ties, both_bad=both_bad, level=level,
                                    ridge=1.0 if fit.prior_ties else 0.0)
        ratings, coefficients = sfit.ratings, sfit.coefficients
        if ci != "none":
            lower, upper = sfit.lower, sfit.upper
            if ci == "bootstrap":
                warnings.append("style-controlled intervals are sandwich intervals (bootstrap is for plain ratings)")
        report(total_steps - 1, total_steps, "style-controlled fit done")
    elif ci == "sandwich":
        lower, upper = sandwich_intervals(fit, level)
        few = [m for m, (v, *_rest) in zip(data.models, _vote_stats(data)) if v < MIN_SANDWICH_VOTES]
        if few:
            warnings.append(f"fewer than {MIN_SANDWICH_VOTES} votes (interval uses the larger of the sandwich and "
                            f"model-based errors): {', '.join(few)}")
        report(total_steps - 1, total_steps, "sandwich intervals done")
    elif ci == "bootstrap":
        samples = bootstrap_ratings(fit, rounds=rounds, seed=seed, workers=workers,
                                    progress=lambda d, t: report(1 + d, total_steps, f"bootstrap round {d}/{t}"),
                                    warnings=warnings)
        lower, upper = bootstrap_intervals(fit, samples, level)
    if lower is not None and upper is not None:
        ranks = ranks_from_intervals(lower, upper)
    else:  # without intervals, rank by the point estimate
        ranks = 1 + (ratings[None, :] > ratings[:, None]).sum(axis=1)
    stats = _vote_stats(data)
    elo_ratings = online_elo(data, both_bad=both_bad) if elo else {}
    rows = []
    for k in np.argsort(-ratings, kind="stable"):
        name = data.models[k]
        v, w, lo, t = stats[k]
        rows.append(LeaderboardRow(
            model=name, rating=float(ratings[k]),
            ci_low=None if lower is None else float(lower[k]), ci_high=None if upper is None else float(upper[k]),
            rank=int(ranks[k]), votes=v, wins=w, losses=lo, ties=t, win_rate=(w + 0.5 * t) / v if v else 0.0,
            elo=elo_ratings.get(name),
        ))
    report(total_steps, total_steps, "leaderboard ready")
    return Leaderboard(
        rows=rows, ci=ci, level=level, category=category, battles=len(data), models=len(data.models),
        style_control=style_control, style_coefficients=coefficients, excluded_voters=excluded, warnings=warnings,
        seconds=time.perf_counter() - start,
        options={"ties": ties, "both_bad": both_bad, "rounds": rounds if ci == "bootstrap" else None,
                 "seed": seed if ci == "bootstrap" else None, "prior_ties": fit.prior_ties,
                 "on_degenerate": on_degenerate},
    )


def _vote_stats(data: BattleSet) -> list[tuple[int, int, int, int]]:
    """(votes, wins, losses, ties incl. both-bad) per model."""
    n = len(data.models)
    a, b, o = data.model_a, data.model_b, data.outcome
    votes = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    wins = np.bincount(a[o == A_WINS], minlength=n) + np.bincount(b[o == B_WINS], minlength=n)
    losses = np.bincount(a[o == B_WINS], minlength=n) + np.bincount(b[o == A_WINS], minlength=n)
    return [(int(votes[k]), int(wins[k]), int(losses[k]), int(votes[k] - wins[k] - losses[k])) for k in range(n)]


def matrices(battles: BattleSet, *, category: str | None = None, both_bad: TieRule = "half") -> dict[str, Any]:
    """Battle-count and observed win-rate matrices (row vs column) as JSON-ready lists."""
    data = battles.in_category(category)
    count, rate = win_matrices(data, both_bad=both_bad)
    return {"models": data.models, "battles": count.astype(int).tolist(),
            "win_rate": [[None if np.isnan(x) else float(x) for x in row] for row in rate]}


def per_category(battles: BattleSet, categories: Iterable[str] | None = None, **options: Any) -> dict[str, Leaderboard]:
    """One leaderboard per category (default: every category present, plus ``overall``)."""
    names = list(categories) if categories is not None else ["overall", *battles.category_names()]
    return {c: build_leaderboard(battles, category=None if c == "overall" else c, **options) for c in names}
