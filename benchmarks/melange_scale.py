"""Mélange scale: solve time of the count formulation vs the paper's binary-per-slice formulation,
in the same run, on 6x6 buckets x 4 or 8 GPU types, R in {10, 100, 1000}, S in {1..32}.

Throughput tables are roofline estimates for a Llama-2-7B-like model (TPOT SLO 120 ms) on catalogue
GPUs, the bucket mix a seeded random histogram. The binary form gets a per-instance time limit and
is reported as "timeout" when it hits it; once it times out for a (family, GPUs, R) and solver,
larger S are not tried (they only get bigger) and are reported as "skipped". Both formulations run
with the same solver, CBC and HiGHS each, one thread, so the ratio is about the formulation. Times
are wall time of build + solve (for CBC that includes PuLP writing the model and starting the CBC
process, 20-50 ms); for HiGHS, which runs in-process, the solver's own time is shown in brackets.

    .venv/bin/python benchmarks/melange_scale.py [--binary-limit 5] [--slices 1,2,4,8,16,32]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skyplex.interfaces import SLO
from skyplex_melange.catalogue import load_catalogue
from skyplex_melange.profiles import roofline_max_rate
from skyplex_melange.solver import (
    Speedups,
    Bucket,
    MelangeInstance,
    Offer,
    SolverError,
    SolverSettings,
    solve,
    solve_reference,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "melange_scale.json"
INPUTS = [64, 128, 256, 512, 1024, 2048]
OUTPUTS = [32, 64, 128, 256, 512, 1024]
GPUS = {4: ["L4", "A10G", "A100-80GB", "H100"],
        8: ["T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "H200"]}


def make_instance(n_gpus: int, rate: float, S: int, seed: int = 0, family: str = "roofline") -> MelangeInstance:
    """``roofline``: plain roofline tables (one GPU type tends to win everywhere: easy for both forms).
    ``perturbed``: each (bucket, GPU) rate times a seeded log-normal factor (sigma 0.6), so different
    GPU types win different buckets, as in measured profiles; this is where packing gets hard."""
    cat = load_catalogue()
    model = cat.model("llama-2-7b")
    slo = SLO(tpot_s=0.12)
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.ones(len(INPUTS) * len(OUTPUTS)))
    buckets = [Bucket(f"in{i}/out{o}", float(rate * shares[n]), i, o)
               for n, (i, o) in enumerate((i, o) for i in INPUTS for o in OUTPUTS)]
    gpus = [cat.gpu(g) for g in GPUS[n_gpus]]
    offers = [Offer(g.name, g.name, g.price_per_hour) for g in gpus]
    table = [[roofline_max_rate(g, model, b.input_tokens, b.output_tokens, slo).max_rate for g in gpus] for b in buckets]
    if family == "perturbed":
        noise = np.random.default_rng(seed + 1).lognormal(0.0, 0.6, (len(buckets), len(gpus)))
        table = [[None if t is None else float(t * noise[b][j]) for j, t in enumerate(row)] for b, row in enumerate(table)]
    return MelangeInstance(buckets, offers, table, slice_factor=S)


def _timed(fn, inst, solver: str, limit: float) -> dict:
    """Run one formulation with one solver: wall time of build + solve, the solver's own time
    (HiGHS only), cost and status ('timeout' when it stopped without a proven optimum)."""
    start = time.perf_counter()
    try:
        sol = fn(inst, SolverSettings(solver=solver, time_limit_s=limit, threads=1))
    except SolverError:
        return {"wall_s": time.perf_counter() - start, "solver_s": None, "cost": None, "status": "timeout"}
    return {"wall_s": time.perf_counter() - start, "solver_s": sol.solver_time_s, "cost": sol.cost_per_hour,
            "status": "optimal" if sol.status == "optimal" else "timeout"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary-limit", type=float, default=5.0)
    ap.add_argument("--slices", default="1,2,4,8,16,32")
    ap.add_argument("--rates", default="10,100,1000")
    ap.add_argument("--families", default="roofline,perturbed")
    ap.add_argument("--solvers", default="cbc,highs")
    args = ap.parse_args()
    slices = [int(s) for s in args.slices.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    solvers = args.solvers.split(",")
    console = Console(width=220)
    rows = []
    t = Table(title=f"count vs binary-per-slice, 6x6 buckets, same solver for both (binary limit "
                    f"{args.binary_limit:g}s, 1 thread; wall = build + solve, HiGHS also its own time)")
    for c in ("family", "GPUs", "R", "S", *[f"{sv} {c}" for sv in solvers for c in ("count s", "binary s", "wall x", "solver x")],
              "same cost"):
        t.add_column(c)
    for family, n_gpus, rate in [(f, n, r) for f in args.families.split(",") for n in (4, 8) for r in rates]:
        gave_up = {sv: False for sv in solvers}
        for S in slices:
            inst = make_instance(n_gpus, rate, S, family=family)
            row: dict = {"family": family, "gpu_types": n_gpus, "rate": rate, "S": S}
            cells, costs = [], set()
            for sv in solvers:
                fast = _timed(solve, inst, sv, 60.0)
                ref = {"status": "skipped", "wall_s": None, "solver_s": None, "cost": None}
                if not gave_up[sv]:
                    ref = _timed(solve_reference, inst, sv, args.binary_limit)
                    gave_up[sv] = ref["status"] != "optimal"  # larger S only get bigger
                done = ref["status"] == "optimal"
                wall_x = ref["wall_s"] / fast["wall_s"] if done else None
                solver_x = (ref["solver_s"] / fast["solver_s"] if done and ref["solver_s"] and fast["solver_s"] else None)
                row[sv] = {"count": fast, "binary": ref, "wall_speedup": wall_x, "solver_speedup": solver_x}
                costs.add(round(fast["cost"], 6))
                if done:
                    costs.add(round(ref["cost"], 6))
                cells += [f"{fast['wall_s']:.3f}" + (f" ({fast['solver_s']:.3f})" if fast["solver_s"] is not None else ""),
                          ref["status"] if not done else f"{ref['wall_s']:.2f}" + (f" ({ref['solver_s']:.2f})" if ref["solver_s"] is not None else ""),
                          f"{wall_x:.0f}x" if wall_x else "-", f"{solver_x:.0f}x" if solver_x else "-"]
            row["same_cost"] = len(costs) == 1
            rows.append(row)
            t.add_row(family, str(n_gpus), f"{rate:g}", str(S), *cells, "yes" if row["same_cost"] else "NO")
            console.print(f"  {family} {n_gpus} GPUs R={rate:g} S={S}: " + ", ".join(
                f"{sv} count {row[sv]['count']['wall_s']:.3f}s binary {row[sv]['binary']['status']}" for sv in solvers), style="dim")
    console.print(t)
    summary: dict = {"instances": len(rows), "all_same_cost": all(r["same_cost"] for r in rows)}
    for sv in solvers:
        done = [r[sv] for r in rows if r[sv]["binary"]["status"] == "optimal"]
        hard = [d for d in done if d["binary"]["wall_s"] >= 0.5]
        summary[sv] = {
            "count_max_s": max(r[sv]["count"]["wall_s"] for r in rows),
            "count_all_under_5s": all(r[sv]["count"]["wall_s"] < 5 for r in rows),
            "binary_finished": len(done),
            "binary_timed_out_or_skipped": len(rows) - len(done),
            "median_wall_speedup_where_binary_finished": float(np.median([d["wall_speedup"] for d in done])) if done else None,
            "median_solver_speedup_where_binary_finished": (float(np.median([d["solver_speedup"] for d in done if d["solver_speedup"]]))
                                                            if any(d["solver_speedup"] for d in done) else None),
            "binary_finished_in_0.5s_or_more": len(hard),
            "median_wall_speedup_there": float(np.median([d["wall_speedup"] for d in hard])) if hard else None,
            "instances_with_50x_or_more_wall": sum(1 for d in done if d["wall_speedup"] >= 50),
        }
    console.print(summary)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"benchmark": "melange_scale", "time": time.time(), "binary_limit_s": args.binary_limit,
                               "speedups": dataclasses.asdict(Speedups()), "rows": rows, "summary": summary}, indent=1))
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
