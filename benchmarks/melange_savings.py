"""Mélange savings vs the best single GPU type, with roofline profiles.

Models: Llama-2-7B-like and Llama-2-70B-like (tensor parallel groups where one GPU is too small).
GPUs: L4, A10G, A100-80GB, H100 (catalogue prices). Length distributions (seeded synthetic traces):
chat-like (short prompts and answers), long-document (PubMed-like: long prompts, short summaries) and
mixed (half and half). Rates 1-32 req/s, TPOT SLOs 40 ms and 120 ms. The paper reports up to 77%
(short), 33% (long) and 51% (mixed) savings on measured profiles; these are roofline estimates.

    .venv/bin/python benchmarks/melange_savings.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skyplex.interfaces import SLO, AllocationProblem
from skyplex_melange.allocator import MelangeAllocator
from skyplex_melange.workload import TraceRequest, workload_from_trace

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "melange_savings.json"
GPUS = ["L4", "A10G", "A100-80GB", "H100"]
RATES = [1, 2, 4, 8, 16, 32]
SLOS_MS = [40, 120]
MODELS = {"llama-2-7b": "7B-like", "llama-2-70b": "70B-like"}
PAPER = {"chat": "up to 77%", "long-doc": "up to 33%", "mixed": "up to 51%"}


def trace(kind: str, n: int = 4000, seed: int = 0) -> list[TraceRequest]:
    """Synthetic lengths: log-normal around typical medians, clipped to a 4k context."""
    rng = np.random.default_rng(seed)

    def draw(med_in: float, med_out: float, m: int) -> list[TraceRequest]:
        i = np.clip(rng.lognormal(np.log(med_in), 0.8, m), 8, 3800).astype(int)
        o = np.clip(rng.lognormal(np.log(med_out), 0.7, m), 4, 1000).astype(int)
        return [TraceRequest(int(a), int(b)) for a, b in zip(i, o)]

    if kind == "chat":
        return draw(100, 200, n)
    if kind == "long-doc":
        return draw(2000, 200, n)
    return draw(100, 200, n // 2) + draw(2000, 200, n - n // 2)


def main() -> None:
    console = Console(width=200)
    allocator = MelangeAllocator()
    rows = []
    edges_in, edges_out = (0, 64, 128, 256, 512, 1024, 2048, 4096), (0, 64, 128, 256, 512, 1024)
    for model in MODELS:
        for kind in ("chat", "long-doc", "mixed"):
            base = workload_from_trace(trace(kind), total_rate=1.0, input_edges=edges_in, output_edges=edges_out)
            for slo_ms in SLOS_MS:
                for rate in RATES:
                    wl = base.model_copy(update={"requests": [r.model_copy(update={"rate": r.rate * rate})
                                                              for r in base.requests]})
                    problem = AllocationProblem(workload=wl, slo=SLO(tpot_s=slo_ms / 1000), options={
                        "model_name": model, "gpu_names": GPUS, "slice_factor": 8, "plot": False, "time_limit_s": 30})
                    start = time.perf_counter()
                    alloc = allocator.allocate(problem)
                    elapsed = time.perf_counter() - start
                    best = alloc.details.get("best_single_type") if alloc.feasible else None
                    rows.append({"model": model, "distribution": kind, "tpot_slo_ms": slo_ms, "rate": rate,
                                 "feasible": alloc.feasible, "gpus": alloc.gpus, "cost": alloc.cost_per_hour,
                                 "best_single_type": best["gpu_type"] if best else None,
                                 "best_single_cost": best["cost_per_hour"] if best else None,
                                 "savings": alloc.details.get("savings_vs_best_single_type"),
                                 "seconds": elapsed, "explanation": alloc.explanation})
    t = Table(title="Mélange savings vs best single GPU type (roofline estimates; L4/A10G/A100-80GB/H100)")
    for c in ("model", "distribution", "TPOT SLO", *[f"{r} req/s" for r in RATES], "max", "paper"):
        t.add_column(c)
    for model in MODELS:
        for kind in ("chat", "long-doc", "mixed"):
            for slo_ms in SLOS_MS:
                sel = [r for r in rows if r["model"] == model and r["distribution"] == kind and r["tpot_slo_ms"] == slo_ms]
                cells = [("infeasible" if not r["feasible"] else f"{100 * r['savings']:.0f}%" if r["savings"] is not None
                          else "-") for r in sel]
                vals = [r["savings"] for r in sel if r["savings"] is not None]
                t.add_row(MODELS[model], kind, f"{slo_ms} ms", *cells, f"{100 * max(vals):.0f}%" if vals else "-",
                          PAPER[kind])
    console.print(t)
    mix = Table(title="chosen mixes at 16 req/s, TPOT 120 ms")
    for c in ("model", "distribution", "Mélange", "$/h", "best single", "$/h"):
        mix.add_column(c)
    for r in rows:
        if r["rate"] == 16 and r["tpot_slo_ms"] == 120 and r["feasible"]:
            mix.add_row(MODELS[r["model"]], r["distribution"], ", ".join(f"{n} {g}" for g, n in r["gpus"].items()),
                        f"{r['cost']:.2f}", str(r["best_single_type"]), f"{r['best_single_cost']:.2f}")
    console.print(mix)
    summary = {"allocations": len(rows), "max_seconds": max(r["seconds"] for r in rows)}
    for kind in ("chat", "long-doc", "mixed"):
        vals = [r["savings"] for r in rows if r["distribution"] == kind and r["savings"] is not None]
        summary[f"{kind}_max_savings"] = max(vals) if vals else None
        summary[f"{kind}_median_savings"] = float(np.median(vals)) if vals else None
    console.print(summary)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"benchmark": "melange_savings", "time": time.time(), "estimate": True,
                               "gpus": GPUS, "rows": rows, "summary": summary, "paper": PAPER}, indent=1))
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
