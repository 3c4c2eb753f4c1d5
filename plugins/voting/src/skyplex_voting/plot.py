"""Predicted vs empirical accuracy against K, overall and split into easy and hard queries (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError

from .api import counts_from_samples, load_samples
from .fit import bootstrap_band, empirical_curves, fit_law


def plot_curves(samples: Any, out: str | Path, *, m: int | None, kmax: int = 100, tie: str = "random",
                components: int | str = "auto", seed: int = 0) -> dict:
    """Fit on the first ``m`` answers per query, draw the held-out rest's empirical curve (bootstrap
    band) and the prediction, with the prediction's 95% band shaded over all queries; a query is
    *easy* when the correct answer leads the held-out answers."""
    if m is None:
        raise InvalidInputError("give --m: the answers per query to fit on (the rest are the held-out check)", field="m")
    records = load_samples(samples)
    fitted = counts_from_samples(records, use=m)
    rest = counts_from_samples(records, skip=m)
    law = fit_law(fitted["counts"], kmax=kmax, tie=tie, components=components, draws=8, seed=seed)
    emp = empirical_curves(rest["counts"], kmax, tie)
    held = rest["counts"]
    easy = held[:, 0] > held[:, 1:-1].max(axis=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = np.arange(1, kmax + 1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = [("all", np.ones(len(held), bool), "black"), ("easy", easy, "tab:green"), ("hard", ~easy, "tab:red")]
    summary = {}
    for name, mask, colour in groups:
        if not mask.any():
            continue
        lo, hi, _ = bootstrap_band(emp[mask], seed=seed)
        e = emp[mask].mean(axis=0)
        p = law.per_query[mask].mean(axis=0)
        ax.fill_between(K, lo, hi, color=colour, alpha=0.15, linewidth=0)
        if name == "all" and law.curve_low is not None:
            # the prediction's own uncertainty, in its own colour so it reads apart from the held-out band
            ax.fill_between(K, law.curve_low, law.curve_high, color="tab:blue", alpha=0.2, linewidth=0,
                            label=f"all: predicted {law.level:.0%} band")
        ax.plot(K, e, color=colour, linewidth=1.2, label=f"{name} ({int(mask.sum())}): held-out")
        ax.plot(K, p, color=colour, linewidth=1.8, linestyle="--", label=f"{name}: predicted from {m}/query")
        summary[name] = {"queries": int(mask.sum()), "mae": float(np.abs(p - e).mean())}
        if name == "all" and law.curve_low is not None:
            summary[name]["band_coverage"] = float(np.mean((law.curve_low <= e) & (e <= law.curve_high)))
    ax.axvline(law.k_opt, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("K (calls per query)")
    ax.set_ylabel("accuracy of the majority vote")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"voting law: predicted optimum K={law.k_opt}")
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"out": str(path), "k_opt": law.k_opt, "groups": summary}
