"""Mélange scale: solve time of the count formulation vs the paper's binary-per-slice formulation,
in the same run, on 6x6 buckets x 4 or 8 GPU types, R in {10, 100, 1000}, S in {1..32}.

Throughput tables are roofline estimates for a Llama-2-7B-like model (TPOT SLO 120 ms) on catalogue
GPUs, the bucket mix a seeded random histogram. The binary form gets a per-instance time limit and
is reported as "timeout" when it hits it; once it times out for a (family, GPUs, R), larger S are
not tried (they only get bigger) and are reported as "skipped". Times are wall time of build + solve
(PuLP writes the model and starts CBC, about 20-50 ms of the count form's time).

    .venv/bin/python benchmarks/melange_scale.py [--binary-limit 20] [--slices 1,2,4,8,16,32]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skyplex.interfaces import SLO
from skyplex_melange.catalogue import load_catalogue
from skyplex_melange.profiles import roofline_max_rate
from skyplex_melange.solver import Bucket, MelangeInstance, Offer, SolverError, SolverSettings, solve, solve_reference

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--binary-limit", type=float, default=20.0)
    ap.add_argument("--slices", default="1,2,4,8,16,32")
    ap.add_argument("--rates", default="10,100,1000")
    ap.add_argument("--families", default="roofline,perturbed")
    args = ap.parse_args()
    slices = [int(s) for s in args.slices.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    console = Console(width=200)
    rows = []
    t = Table(title=f"count vs binary-per-slice, 6x6 buckets (binary limit {args.binary_limit:g}s, CBC, 1 thread)")
    for c in ("family", "GPU types", "R", "S", "count s", "count $/h", "binary s", "binary $/h", "speed-up", "same cost"):
        t.add_column(c)
    for family, n_gpus, rate in [(f, n, r) for f in args.families.split(",") for n in (4, 8) for r in rates]:
        if True:
            binary_gave_up = False
            for S in slices:
                inst = make_instance(n_gpus, rate, S, family=family)
                start = time.perf_counter()
                fast = solve(inst, SolverSettings(time_limit_s=60, threads=1))
                fast_s = time.perf_counter() - start
                row = {"family": family, "gpu_types": n_gpus, "rate": rate, "S": S, "count_s": fast_s, "count_cost": fast.cost_per_hour,
                       "count_status": fast.status, "binary_s": None, "binary_cost": None, "binary_status": None}
                if binary_gave_up:
                    row["binary_status"] = "skipped"
                else:
                    start = time.perf_counter()
                    try:
                        ref = solve_reference(inst, SolverSettings(time_limit_s=args.binary_limit, threads=1))
                        row["binary_cost"], row["binary_status"] = ref.cost_per_hour, ref.status
                    except SolverError:
                        row["binary_status"] = "timeout"
                    row["binary_s"] = time.perf_counter() - start
                    if row["binary_status"] != "optimal":
                        binary_gave_up = True
                        if row["binary_status"] == "feasible":
                            row["binary_status"] = "timeout"
                finished = row["binary_status"] == "optimal"
                row["speedup"] = row["binary_s"] / fast_s if finished else None
                row["same_cost"] = abs(row["binary_cost"] - fast.cost_per_hour) < 1e-6 if finished else None
                rows.append(row)
                t.add_row(family, str(n_gpus), f"{rate:g}", str(S), f"{fast_s:.3f}", f"{fast.cost_per_hour:.2f}",
                          f"{row['binary_s']:.2f}" if row["binary_s"] is not None else "-",
                          f"{row['binary_cost']:.2f}" if finished else row["binary_status"],
                          f"{row['speedup']:.0f}x" if finished else "-",
                          {True: "yes", False: "NO", None: "-"}[row["same_cost"]])
                console.print(f"  {family} {n_gpus} GPUs R={rate:g} S={S}: count {fast_s:.3f}s, binary {row['binary_status']}",
                              style="dim")
    console.print(t)
    done = [r for r in rows if r["speedup"] is not None]
    summary = {
        "instances": len(rows),
        "count_max_s": max(r["count_s"] for r in rows),
        "count_all_under_5s": all(r["count_s"] < 5 for r in rows),
        "binary_finished": len(done),
        "binary_timed_out_or_skipped": len(rows) - len(done),
        "median_speedup_where_binary_finished": float(np.median([r["speedup"] for r in done])) if done else None,
        "min_speedup_where_binary_finished": min((r["speedup"] for r in done), default=None),
        "all_same_cost": all(r["same_cost"] for r in done),
    }
    console.print(summary)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"benchmark": "melange_scale", "time": time.time(), "binary_limit_s": args.binary_limit,
                               "rows": rows, "summary": summary}, indent=1))
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
