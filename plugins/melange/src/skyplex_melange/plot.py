"""Plot data and PNGs: cost vs request rate (Mélange and each single-type baseline), and the
cheapest GPU type per bucket as a heatmap. The data is plain JSON (it rides in the gateway's
``Allocation.details['plot']``); :func:`render_png` draws it with matplotlib's Agg backend."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .solver import Bucket, MelangeInfeasible, MelangeInstance, SolverError, SolverSettings, single_type_baselines, solve

log = logging.getLogger(__name__)


def scaled(inst: MelangeInstance, factor: float) -> MelangeInstance:
    """The same instance with every bucket's rate multiplied by ``factor``."""
    return replace(inst, buckets=[Bucket(b.name, b.rate * factor, b.input_tokens, b.output_tokens) for b in inst.buckets])


def default_rates(total_rate: float, points: int) -> list[float]:
    """``points`` rates from a quarter to four times ``total_rate``, evenly spaced on a log scale."""
    if points < 2:
        return [total_rate]
    lo, hi = total_rate / 4, total_rate * 4
    return [round(lo * (hi / lo) ** (i / (points - 1)), 6) for i in range(points)]


def cost_curve(inst: MelangeInstance, rates: Sequence[float], settings: SolverSettings | None = None) -> dict[str, Any]:
    """Hourly cost at each total rate for Mélange and each single-type baseline (None: infeasible)."""
    total = sum(b.rate for b in inst.buckets)
    if total <= 0:
        raise InvalidInputError("the workload's total rate is 0; there is no cost curve to draw", field="workload.requests")
    melange: list[float | None] = []
    baselines: dict[str, list[float | None]] = {}
    for r in rates:
        at = scaled(inst, r / total)
        try:
            melange.append(solve(at, settings).cost_per_hour)
        except (MelangeInfeasible, SolverError) as exc:
            log.info("no Mélange point at %s req/s: %s", r, exc)
            melange.append(None)
        for name, base in single_type_baselines(at, settings).items():
            baselines.setdefault(name, []).append(base.cost_per_hour)
    return {"rates": list(rates), "melange": melange, "baselines": baselines}


def best_type_heatmap(inst: MelangeInstance, *, length_units: str = "tokens") -> dict[str, Any]:
    """For each bucket, the offer with the lowest cost per req/s (price / max rate), on a grid of
    input length x output length. Cells without a bucket, or that nothing can serve, are None.

    ``length_units`` says what the lengths count: ``tokens``, or ``bucket index`` for the paper's
    histogram format, whose buckets are only numbered; the plot labels its axes by it."""
    ins = sorted({b.input_tokens for b in inst.buckets if b.input_tokens is not None})
    outs = sorted({b.output_tokens for b in inst.buckets if b.output_tokens is not None})
    grid: list[list[str | None]] = [[None] * len(outs) for _ in ins]
    cost_per_rate: list[list[float | None]] = [[None] * len(outs) for _ in ins]
    for b, bucket in enumerate(inst.buckets):
        if bucket.input_tokens is None or bucket.output_tokens is None:
            continue
        options = [(inst.offers[o].price_per_hour / t, inst.offers[o].name)
                   for o, t in enumerate(inst.max_rate[b]) if t is not None]
        if options:
            c, name = min(options)
            i, k = ins.index(bucket.input_tokens), outs.index(bucket.output_tokens)
            # several buckets (SLO tiers) may share a cell: keep the first, it is only a picture
            if grid[i][k] is None:
                grid[i][k], cost_per_rate[i][k] = name, c
    return {"input_tokens": ins, "output_tokens": outs, "length_units": length_units, "best_gpu": grid,
            "cost_per_req_s": cost_per_rate}


def axis_labels(heat: dict[str, Any]) -> tuple[str, str]:
    """(x, y) axis labels of the heatmap: token lengths, or bucket numbers for the paper's histograms."""
    if heat.get("length_units") == "bucket index":
        return "output length bucket (index)", "input length bucket (index)"
    return "output tokens", "input tokens"


def render_png(plot: dict[str, Any], path: str | Path, *, title: str = "Mélange") -> Path:
    """Draw the cost curve and the heatmap side by side into a PNG file."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    curve, heat = plot.get("cost_curve"), plot.get("heatmap")
    panels = [p for p in (curve, heat) if p]
    if not panels:
        raise InvalidInputError("no plot data to draw", field="plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    ax_iter = iter(axes[0])
    if curve:
        ax = next(ax_iter)
        for name, ys in sorted(curve["baselines"].items()):
            pts = [(r, y) for r, y in zip(curve["rates"], ys) if y is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", linestyle="--", label=f"only {name}")
        pts = [(r, y) for r, y in zip(curve["rates"], curve["melange"]) if y is not None]
        if pts:
            ax.plot(*zip(*pts), marker="s", linewidth=2.5, color="black", label="Mélange")
        ax.set_xlabel("total request rate (req/s)")
        ax.set_ylabel("cost (USD/h)")
        ax.set_title("cost vs request rate")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if heat:
        ax = next(ax_iter)
        names = sorted({n for row in heat["best_gpu"] for n in row if n})
        code = {n: i for i, n in enumerate(names)}
        data = [[code[n] if n else float("nan") for n in row] for row in heat["best_gpu"]]
        cmap = ListedColormap(plt.get_cmap("tab10").colors[: max(len(names), 1)])
        ax.imshow(data, cmap=cmap, vmin=-0.5, vmax=max(len(names), 1) - 0.5, origin="lower", aspect="auto")
        for i, row in enumerate(heat["best_gpu"]):
            for k, n in enumerate(row):
                if n:
                    ax.text(k, i, n, ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(heat["output_tokens"])), [str(v) for v in heat["output_tokens"]])
        ax.set_yticks(range(len(heat["input_tokens"])), [str(v) for v in heat["input_tokens"]])
        x_label, y_label = axis_labels(heat)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_title("cheapest GPU type per bucket (USD per req/s)")
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out
