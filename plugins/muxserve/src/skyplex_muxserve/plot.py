"""PNG plots: a placement drawn per node, per-LLM throughput against rate, a figure against load.

matplotlib is imported only when a plot is drawn (``pip install 'skyplex-muxserve[plot]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .simulator import SimResult
from .workload import MuxWorkload, PlacementPlan


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise InvalidInputError("plots need matplotlib: pip install 'skyplex-muxserve[plot]'", field="plot") from None
    return plt


def assign_nodes(plan: PlacementPlan, nnodes: int, gpus_per_node: int) -> list[tuple[int, int, int]]:
    """(node, first GPU, mesh index) for every mesh: largest first, first node with room (meshes never span nodes)."""
    free = [gpus_per_node] * nnodes
    out = []
    for mi in sorted(range(len(plan.meshes)), key=lambda i: -plan.meshes[i].ngpus):
        n = plan.meshes[mi].ngpus
        node = next((k for k in range(nnodes) if free[k] >= n), None)
        if node is None:
            raise InvalidInputError(f"mesh {mi} ({n} GPUs) does not fit the {nnodes} x {gpus_per_node} cluster", field="placement")
        out.append((node, gpus_per_node - free[node], mi))
        free[node] -= n
    return out


def placement_diagram(plan: PlacementPlan, nnodes: int, gpus_per_node: int, path: str | Path, title: str = "") -> Path:
    """One row per node, one cell per GPU; each mesh a coloured block labelled with its LLMs and SM shares."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 * gpus_per_node, 1.1 * nnodes + 0.8))
    colours = plt.get_cmap("tab20")
    for node, start, mi in assign_nodes(plan, nnodes, gpus_per_node):
        mesh = plan.meshes[mi]
        ax.add_patch(plt.Rectangle((start, nnodes - 1 - node), mesh.ngpus, 0.9, color=colours(mi % 20), alpha=0.8))
        label = "\n".join(f"{x.name} {x.model.split('-')[-1]} {x.decode_sm}%" for x in mesh.llms)
        ax.text(start + mesh.ngpus / 2, nnodes - 1 - node + 0.45, label, ha="center", va="center", fontsize=7)
    ax.set_xlim(0, gpus_per_node)
    ax.set_ylim(0, nnodes)
    ax.set_yticks([nnodes - 1 - k + 0.45 for k in range(nnodes)], [f"node {k}" for k in range(nnodes)])
    ax.set_xticks(range(gpus_per_node + 1))
    ax.set_xlabel("GPU")
    ax.set_title(title or f"{plan.mode} placement, {plan.total_gpus} GPUs")
    return _save(fig, plt, path)


def throughput_vs_rate(wl: MuxWorkload, results: dict[str, SimResult], path: str | Path) -> Path:
    """Per-LLM simulated throughput against its request rate, one series per placement."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    rates = {m.name: m.rate for m in wl.llms}
    for label, res in results.items():
        xs = [rates[n] for n in res.llms]
        ax.scatter(xs, [r.throughput for r in res.llms.values()], label=label, s=18)
    top = max(rates.values())
    ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--", label="throughput = rate")
    ax.set_xlabel("request rate (req/s)")
    ax.set_ylabel("throughput, drain included (req/s)")
    ax.legend()
    return _save(fig, plt, path)


def metric_vs_load(rows: list[dict[str, Any]], metric: str, path: str | Path, ylabel: str = "") -> Path:
    """``metric`` of each placement against load (rows: {load, placement, metric...})."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in sorted({r["placement"] for r in rows}):
        pts = sorted((r["load"], r[metric]) for r in rows if r["placement"] == name)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xlabel("load (trace condense factor)")
    ax.set_ylabel(ylabel or metric)
    ax.legend()
    return _save(fig, plt, path)


def _save(fig, plt, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
