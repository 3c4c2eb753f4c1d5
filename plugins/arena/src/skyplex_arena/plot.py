"""PNG plots: ratings with their intervals, and the observed win-rate heatmap.

matplotlib is imported inside the functions (with the non-interactive Agg backend), so importing
the plugin stays cheap and works without a display.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .leaderboard import Leaderboard


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def ratings_figure(board: Leaderboard, *, top: int | None = None) -> Any:
    """Horizontal error bars: each model's rating and interval, best at the top (all models unless ``top``)."""
    rows = board.rows[:top] if top else board.rows
    fig = _figure(8, max(2.5, 0.28 * len(rows) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ratings = np.array([r.rating for r in rows])
    if rows and rows[0].ci_low is not None:
        err = np.array([[r.rating - (r.ci_low or r.rating) for r in rows], [(r.ci_high or r.rating) - r.rating for r in rows]])
        ax.errorbar(ratings, y, xerr=err, fmt="o", color="tab:blue", ecolor="tab:gray", capsize=3, markersize=4)
    else:
        ax.plot(ratings, y, "o", color="tab:blue")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r.rank}. {r.model}" for r in rows], fontsize=8)
    ax.axvline(1000, color="lightgray", lw=0.8, zorder=0)
    shown = (f"top {len(rows)} of {len(board.rows)} models" if len(rows) < len(board.rows)
             else f"all {len(rows)} models")
    title = f"Bradley-Terry ratings, {int(board.level * 100)}% {board.ci} intervals ({board.battles} votes, {shown})"
    if board.category:
        title += f", category {board.category}"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("rating (Elo scale, mean 1000)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def ratings_png(board: Leaderboard, *, top: int | None = None) -> bytes:
    """:func:`ratings_figure` as PNG bytes."""
    return _png(ratings_figure(board, top=top))


#: the colour of cells whose models never met (hatched), far from every colour of the win-rate scale
NEVER_MET = "#9e9e9e"
NEVER_MET_HATCH = "#616161"


def heatmap_figure(models: list[str], win_rate: list[list[float | None]], *, order: list[str] | None = None,
                   top: int | None = None) -> Any:
    """Observed win rate of each row model against each column model; pairs that never met are grey
    and hatched (the scale's middle, 50%, is near white, so "never met" must not be blank)."""
    from matplotlib.patches import Patch, Rectangle

    ordered = [m for m in (order or models) if m in models] + [m for m in models if order and m not in order]
    names = ordered[:top] if top else ordered
    index = {m: k for k, m in enumerate(models)}
    mat = np.array([[np.nan if win_rate[index[a]][index[b]] is None else win_rate[index[a]][index[b]]
                     for b in names] for a in names], dtype=float)
    size = max(3.0, 0.38 * len(names) + 2.0)
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    # drawn under the image: shows through exactly where the matrix is masked (never met, or itself)
    ax.add_patch(Rectangle((-0.5, -0.5), len(names), len(names), facecolor=NEVER_MET, edgecolor=NEVER_MET_HATCH,
                           hatch="//", linewidth=0, zorder=0))
    im = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu", vmin=0.0, vmax=1.0, zorder=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    if len(names) <= 14:
        for r in range(len(names)):
            for c in range(len(names)):
                if not np.isnan(mat[r, c]):
                    ax.text(c, r, f"{mat[r, c]:.2f}", ha="center", va="center", fontsize=6, zorder=2)
    shown = (f"top {len(names)} of {len(models)} models by rating" if len(names) < len(models)
             else f"all {len(names)} models")
    ax.set_title(f"observed win rate (row beats column, ties count half), {shown}", fontsize=9)
    ax.legend(handles=[Patch(facecolor=NEVER_MET, edgecolor=NEVER_MET_HATCH, hatch="//", label="never met")],
              loc="upper left", bbox_to_anchor=(1.0, -0.02), fontsize=7, frameon=False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def heatmap_png(models: list[str], win_rate: list[list[float | None]], *, order: list[str] | None = None,
                top: int | None = None) -> bytes:
    """:func:`heatmap_figure` as PNG bytes."""
    return _png(heatmap_figure(models, win_rate, order=order, top=top))
