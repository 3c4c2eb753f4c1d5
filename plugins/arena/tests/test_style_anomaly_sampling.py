"""Style control, anomalous-voter detection and active pair sampling."""

from __future__ import annotations

import numpy as np
import pytest
from skyplex.errors import InvalidInputError
from skyplex_arena.anomaly import flag_voters, vote_p_values
from skyplex_arena.battles import load_battles
from skyplex_arena.leaderboard import build_leaderboard
from skyplex_arena.sampling import choose_pair, pair_probabilities, simulate
from skyplex_arena.style import style_features


def test_style_features_of_markdown():
    text = "# Title\n\nSome **bold** and __more__.\n\n- one\n- two\n1. three\n## Sub\n"
    f = style_features(text)
    assert (f["headers"], f["lists"], f["bold"]) == (2.0, 3.0, 2.0)
    assert f["length"] > 10
    assert style_features("")["length"] == 0.0


def _style_battles(n: int, seed: int = 0) -> list[dict]:
    """Equal models, but voters prefer the longer answer: style control should see through it."""
    rng = np.random.default_rng(seed)
    names = ["m1", "m2", "m3", "m4"]
    verbose = {"m1": 400.0, "m2": 100.0, "m3": 100.0, "m4": 100.0}  # m1 writes long answers
    out = []
    for k in range(n):
        a, b = rng.choice(names, size=2, replace=False)
        la, lb = rng.gamma(4, verbose[a] / 4), rng.gamma(4, verbose[b] / 4)
        logit = 1.5 * (la - lb) / (la + lb)
        winner = "model_a" if rng.random() < 1 / (1 + np.exp(-logit)) else "model_b"
        out.append({"id": str(k), "model_a": a, "model_b": b, "winner": winner,
                    "style_a": {"length": la, "headers": 0, "lists": 0, "bold": 0},
                    "style_b": {"length": lb, "headers": 0, "lists": 0, "bold": 0}})
    return out


def test_style_control_removes_a_length_bias():
    battles = load_battles(_style_battles(4000))
    plain = build_leaderboard(battles)
    styled = build_leaderboard(battles, style_control=True)
    assert plain.rows[0].model == "m1" and plain.rows[0].rating > 1040
    assert styled.style_coefficients["length"] > 0.2
    m1 = styled.row("m1")
    assert m1.ci_low <= 1000 + 15 and abs(m1.rating - 1000) < abs(plain.row("m1").rating - 1000) / 3


def test_style_control_without_style_features_is_refused(sample_battles):
    with pytest.raises(InvalidInputError, match="style features"):
        build_leaderboard(sample_battles, style_control=True)


def _voter_battles(seed: int = 0) -> list[dict]:
    """Honest voters follow Bradley-Terry; two adversaries always vote for the weaker model."""
    rng = np.random.default_rng(seed)
    ratings = {"a": 1300.0, "b": 1150.0, "c": 1000.0, "d": 850.0, "e": 700.0}
    names = list(ratings)
    out = []
    for k in range(3000):
        voter = "bad-1" if k % 50 == 0 else "bad-2" if k % 50 == 1 else f"honest-{k % 40}"
        x, y = rng.choice(names, size=2, replace=False)
        p = 1 / (1 + 10 ** ((ratings[y] - ratings[x]) / 400))
        if voter.startswith("bad"):
            winner = "model_a" if ratings[x] < ratings[y] else "model_b"
        else:
            winner = "model_a" if rng.random() < p else "model_b"
        out.append({"id": str(k), "model_a": x, "model_b": y, "winner": winner, "voter": voter})
    return out


def test_adversarial_voters_are_flagged_and_can_be_excluded():
    battles = load_battles(_voter_battles())
    checks = {c.voter: c for c in flag_voters(battles, alpha=0.01)}
    assert checks["bad-1"].flagged and checks["bad-2"].flagged
    honest_flagged = [v for v, c in checks.items() if v.startswith("honest") and c.flagged]
    assert len(honest_flagged) <= 1, honest_flagged
    p = vote_p_values(battles)
    assert np.nanmin(p) > 0 and np.nanmax(p) <= 1
    board = build_leaderboard(battles, exclude_voters=[v for v, c in checks.items() if c.flagged])
    assert set(board.excluded_voters) >= {"bad-1", "bad-2"}
    assert board.battles < len(battles)


def test_anomaly_detection_needs_voter_ids(sample_battles):
    with pytest.raises(InvalidInputError, match="says who cast it"):
        flag_voters(sample_battles)


def test_active_sampling_prefers_close_and_rarely_seen_pairs():
    i, j = np.array([0, 0, 1]), np.array([1, 2, 2])
    beta = np.array([0.0, 0.1, 3.0])  # 0 and 1 are close, 2 is far above both
    p = pair_probabilities(np.array([10.0, 10.0, 10.0]), beta, i, j)
    assert p[0] > p[1] and p.sum() == pytest.approx(1.0)
    p = pair_probabilities(np.array([100.0, 5.0, 100.0]), np.zeros(3), i, j)
    assert p[1] > 10 * p[0]
    p = pair_probabilities(np.array([4.0, 0.0, 7.0]), beta, i, j)
    assert p.tolist() == [0.0, 1.0, 0.0]  # an uncompared pair goes first
    assert pair_probabilities(np.array([1.0, 2.0, 3.0]), beta, i, j, "uniform") == pytest.approx([1 / 3] * 3)


def test_choose_pair_gives_two_distinct_models():
    rng = np.random.default_rng(0)
    seen = {tuple(sorted(choose_pair(["x", "y", "z"], {("x", "y"): 5, ("x", "z"): 5}, rng=rng))) for _ in range(5)}
    assert seen == {("y", "z")}
    with pytest.raises(InvalidInputError, match="at least two"):
        choose_pair(["x"], {})


def test_simulation_reaches_the_target_width():
    true = np.array([1200.0, 1100.0, 1000.0, 900.0, 800.0])
    res = simulate(true, rule="active", target_width=120.0, batch=100, seed=0)
    assert res.reached and res.max_width < 120.0 and res.votes >= 100
