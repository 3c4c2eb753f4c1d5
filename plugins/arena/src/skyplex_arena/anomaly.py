"""Anomalous voters: people whose votes disagree with everyone else's far more than chance allows.

Each vote gets a p-value against the history of its pair of models (the votes *other* voters cast
on the same pair): the chance, under that history, of an outcome at most as common as the one cast,
counted conformally (``(1 + votes with such outcomes) / (history + 1)``), which is never too small
for an honest voter. A voter's p-values are combined with Fisher's method (``-2 sum log p`` is
chi-square with ``2m`` degrees of freedom for ``m`` independent votes) and tested at a few
checkpoints (their 5th, 10th, 20th ... vote) against the chi-square threshold at ``alpha`` divided
by the number of checkpoints, so testing repeatedly does not inflate false alarms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from pydantic import Field
from scipy.stats import chi2
from skyplex.errors import InvalidInputError
from skyplex.interfaces.common import SkyplexModel

from .battles import A_WINS, B_WINS, BattleSet

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINTS = (5, 10, 20, 50, 100, 200)


class VoterCheck(SkyplexModel):
    voter: str
    votes: int = Field(description="Votes cast by this voter.")
    scored: int = Field(description="Votes with enough pair history to score.")
    statistic: float | None = Field(default=None, description="Fisher statistic at the last checkpoint reached.")
    p_value: float | None = Field(default=None, description="Smallest checkpoint p-value, Bonferroni-adjusted.")
    checkpoint: int | None = Field(default=None, description="Vote count at which the voter was first flagged.")
    flagged: bool = False


def vote_p_values(battles: BattleSet, *, min_history: int = 5) -> np.ndarray:
    """Per-vote conformal p-value against other voters' votes on the same pair (NaN: too little history)."""
    if not battles.voters or all(v is None for v in battles.voters):
        raise InvalidInputError(
            f"none of these {len(battles)} votes says who cast it, and anomaly detection compares each voter's "
            "votes with everyone else's: give each vote a \"voter\" field (or \"voter_id\"/\"judge\"), e.g. "
            "{\"model_a\": ..., \"model_b\": ..., \"winner\": ..., \"voter\": \"alice\"}, or vote on the arena "
            f"page with a name; a voter is first tested at their {DEFAULT_CHECKPOINTS[0]}th vote on pairs with "
            f"at least {min_history} votes by others",
            field="voter")
    n_models = len(battles.models)
    a, b, o = battles.model_a.astype(np.int64), battles.model_b.astype(np.int64), battles.outcome.astype(np.int64)
    swapped = a > b
    # outcome seen from the lower-indexed model: win / loss / tie / both-bad
    canon = np.where(o == A_WINS, np.where(swapped, 1, 0), np.where(o == B_WINS, np.where(swapped, 0, 1), o))
    pair = np.minimum(a, b) * n_models + np.maximum(a, b)
    _, pair_id = np.unique(pair, return_inverse=True)
    voter_names = np.asarray([v if v is not None else "" for v in battles.voters], dtype=object)
    _, voter_id = np.unique(voter_names, return_inverse=True)
    n_pairs = int(pair_id.max()) + 1
    pair_hist = np.zeros((n_pairs, 4))
    np.add.at(pair_hist, (pair_id, canon), 1.0)
    vp_key = voter_id.astype(np.int64) * n_pairs + pair_id
    _, vp_id = np.unique(vp_key, return_inverse=True)
    own = np.zeros((int(vp_id.max()) + 1, 4))
    np.add.at(own, (vp_id, canon), 1.0)
    history = pair_hist[pair_id] - own[vp_id]  # leave the voter's own votes out
    total = history.sum(axis=1)
    observed = history[np.arange(o.size), canon]
    as_rare = (history * (history <= observed[:, None])).sum(axis=1)
    p = (1.0 + as_rare) / (total + 1.0)
    p[total < min_history] = np.nan
    return p


def flag_voters(battles: BattleSet, *, alpha: float = 0.01, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS,
                min_history: int = 5) -> list[VoterCheck]:
    """Test every voter (votes in the order given) and say who is flagged; flagged voters first."""
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha}", field="alpha")
    checkpoints = sorted({int(c) for c in checkpoints if int(c) >= 1})
    if not checkpoints:
        raise InvalidInputError("give at least one checkpoint (a positive vote count)", field="checkpoints")
    p = vote_p_values(battles, min_history=min_history)
    per_test = alpha / len(checkpoints)
    by_voter: dict[str, list[int]] = {}
    for i, v in enumerate(battles.voters):
        if v is not None:
            by_voter.setdefault(v, []).append(i)
    out = []
    for voter, idx in by_voter.items():
        pv = p[idx]
        pv = pv[~np.isnan(pv)]
        check = VoterCheck(voter=voter, votes=len(idx), scored=int(pv.size))
        if pv.size:
            cumulative = np.cumsum(-2.0 * np.log(pv))
            best = 1.0
            for m in checkpoints:
                if m > pv.size:
                    break
                stat = float(cumulative[m - 1])
                p_at = float(chi2.sf(stat, 2 * m))
                best = min(best, p_at)
                check.statistic = stat
                if p_at < per_test and not check.flagged:
                    check.flagged, check.checkpoint = True, m
            check.p_value = min(1.0, best * len(checkpoints))
        out.append(check)
    out.sort(key=lambda c: (not c.flagged, c.p_value if c.p_value is not None else 2.0, c.voter))
    flagged = [c.voter for c in out if c.flagged]
    if flagged:
        log.info("flagged %d anomalous voter(s): %s", len(flagged), ", ".join(flagged[:10]))
    return out


def flagged_voters(battles: BattleSet, **options: object) -> list[str]:
    """Just the names of flagged voters (empty when the votes carry no voter ids)."""
    if not battles.voters or all(v is None for v in battles.voters):
        return []
    return [c.voter for c in flag_voters(battles, **options) if c.flagged]  # type: ignore[arg-type]
