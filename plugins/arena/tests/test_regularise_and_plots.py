"""One vote cannot drag established models; plots show every model and mark pairs that never met.

Real data: the committed 2,000-vote slice of the Arena release (tests/data). In it
gemini-2.0-flash-thinking-exp-01-21 has 3 votes and rates 1278.8; one battle between two new local
models used to pull it to 1188.9 through a prior put on every model.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from skyplex.errors import InvalidInputError
from skyplex_arena.battles import load_battles, read_records
from skyplex_arena.leaderboard import build_leaderboard, matrices
from skyplex_arena.ratings import fit_bradley_terry

RARE = "gemini-2.0-flash-thinking-exp-01-21"


@pytest.fixture(scope="module")
def records(sample_path):
    return read_records(sample_path)


@pytest.fixture(scope="module")
def base(records):
    fit = fit_bradley_terry(load_battles(records))
    assert fit.prior is None, "the slice's maximum-likelihood ratings exist"
    return fit.rating_of()


def test_a_battle_between_new_models_moves_no_established_model(records, base):
    fit = fit_bradley_terry(load_battles([*records, {"model_a": "new-x", "model_b": "new-y", "winner": "model_a"}]))
    after = fit.rating_of()
    assert max(abs(after[m] - base[m]) for m in base) < 1e-6  # the old prior moved RARE by 89.9 points
    assert after[RARE] == pytest.approx(1278.8, abs=0.1)
    assert fit.regularised_models and set(fit.regularised_models) <= {"new-x", "new-y"}
    assert any("new-x" in w and "regularised" in w for w in fit.warnings)
    assert after["new-x"] > after["new-y"]


def test_one_win_of_a_new_model_moves_established_models_by_at_most_that_vote(records, base):
    """A new model beats gemini-2.5-pro (148 votes) once: the old prior moved RARE by 93 points."""
    loser = "gemini-2.5-pro"
    fit = fit_bradley_terry(load_battles([*records, {"model_a": "new-x", "model_b": loser, "winner": "model_a"}]))
    after = fit.rating_of()
    assert fit.regularised_models == ["new-x"]
    # ratings are centred on the mean, which now includes new-x: compare differences from the old models' mean
    shift = np.mean([after[m] for m in base]) - np.mean(list(base.values()))
    moved = {m: abs(after[m] - shift - base[m]) for m in base}
    # what one lost vote is worth against the loser's 148 votes, passed on to the models it met
    assert 0.0 < moved[loser] < 5.0, moved[loser]
    others = max(v for m, v in moved.items() if m != loser)
    assert others < 5.0, sorted(moved.items(), key=lambda kv: -kv[1])[:3]


def test_regularised_leaderboard_intervals_stay_finite(records):
    board = build_leaderboard(load_battles([*records, {"model_a": "new-x", "model_b": "new-y", "winner": "tie"},
                                            {"model_a": "new-x", "model_b": "new-y", "winner": "model_a"}]),
                              ci="bootstrap", rounds=20)
    assert all(np.isfinite([r.rating, r.ci_low, r.ci_high]).all() for r in board.rows)


# --- plots -------------------------------------------------------------------------------------------
def _pixel(fig, ax, x, y):
    """Median RGB of the figure around data coordinates (x, y) of ``ax`` (a cell, past its label)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())
    px, py = ax.transData.transform((x, y))
    row, col = int(round(img.shape[0] - py)), int(round(px))
    return np.median(img[row - 6:row + 7, col - 6:col + 7, :3].reshape(-1, 3), axis=0).astype(int)


def test_never_met_and_an_even_record_look_different():
    from skyplex_arena.plot import heatmap_figure

    battles = load_battles([{"model_a": "a", "model_b": "b", "winner": "model_a"},
                            {"model_a": "a", "model_b": "b", "winner": "model_b"},  # a vs b: 50%
                            {"model_a": "b", "model_b": "c", "winner": "tie"},
                            {"model_a": "b", "model_b": "c", "winner": "model_a"}])  # a and c never met
    m = matrices(battles)
    fig = heatmap_figure(m["models"], m["win_rate"])
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    a, b, c = names.index("a"), names.index("b"), names.index("c")
    even, never = _pixel(fig, ax, b, a), _pixel(fig, ax, c, a)
    assert np.abs(even - never).sum() > 60, (even, never)
    assert "never met" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_plots_show_every_model_or_say_how_many(records):
    from skyplex_arena.plot import heatmap_figure, ratings_figure

    battles = load_battles(records)
    board = build_leaderboard(battles, ci="none")
    fig = ratings_figure(board)
    assert len(fig.axes[0].get_yticklabels()) == len(battles.models) == 52
    assert f"all {len(battles.models)} models" in fig.axes[0].get_title()
    m = matrices(battles)
    heat = heatmap_figure(m["models"], m["win_rate"], order=[r.model for r in board.rows])
    assert len(heat.axes[0].get_xticklabels()) == 52 and "all 52 models" in heat.axes[0].get_title()
    cut = heatmap_figure(m["models"], m["win_rate"], order=[r.model for r in board.rows], top=20)
    assert "top 20 of 52 models" in cut.axes[0].get_title()


# --- voters ------------------------------------------------------------------------------------------
def test_voters_without_voter_ids_says_what_it_needs(arena_kernel, sample_path):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    res = CliRunner().invoke(cli, ["arena", "voters", str(sample_path)],
                             obj=CliState(kernel_factory=lambda settings: arena_kernel))
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert "\n" not in line and '"voter"' in line and "alice" in line and "arena page" in line, line


def test_voters_message_names_the_record_field():
    from skyplex_arena.anomaly import flag_voters

    with pytest.raises(InvalidInputError, match='"voter" field'):
        flag_voters(load_battles([{"model_a": "a", "model_b": "b", "winner": "tie"}]))
