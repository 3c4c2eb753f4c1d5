"""Mélange correctness: the paper's example, and the count formulation vs the binary-per-slice
reference on small random instances (equal optimal cost wherever the reference finishes).

    .venv/bin/python benchmarks/melange_correctness.py [--instances 24] [--binary-limit 20]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from skyplex_melange.solver import MelangeInfeasible, SolverError, SolverSettings, instance_from_tables, solve, solve_reference

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parent / "shared" / "data" / "melange" / "example.json"
OUT = ROOT / "benchmarks" / "results" / "melange_correctness.json"


def example_instance(S: int):
    d = json.loads(EXAMPLE.read_text())
    W, R = d["workload_distribution"], d["total_request_rate"]
    n, m = len(W), len(W[0])
    rates = [W[i][k] * R for i in range(n) for k in range(m)]
    prices = {g: v["cost"] for g, v in d["gpu_info"].items()}
    tables = {g: [v["tputs"][i][k] for i in range(n) for k in range(m)] for g, v in d["gpu_info"].items()}
    return instance_from_tables(rates, prices, tables, slice_factor=S)


def random_instance(seed: int):
    rng = random.Random(seed)
    nb, ng, S = rng.randint(2, 6), rng.randint(2, 4), rng.choice([1, 2, 3, 4, 6, 8])
    rates = [round(rng.uniform(0.2, 20), 3) for _ in range(nb)]
    prices = {f"G{g}": round(rng.uniform(0.5, 10), 3) for g in range(ng)}
    tables = {}
    for j, g in enumerate(prices):
        speed = rng.uniform(0.5, 3) * (1 + j)
        tables[g] = [round(speed * rng.uniform(0.5, 8), 3) if rng.random() > 0.1 else None for _ in range(nb)]
    for b in range(nb):
        if all(tables[g][b] is None for g in prices):
            tables["G0"][b] = 2.0
    return instance_from_tables(rates, prices, tables, slice_factor=S), (nb, ng, S)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--instances", type=int, default=24)
    ap.add_argument("--binary-limit", type=float, default=20.0, help="time limit (s) for the binary reference")
    args = ap.parse_args()
    console = Console(width=200)
    results: dict = {"example": [], "random": []}

    t = Table(title="paper example (example.json): count formulation")
    for c in ("S", "GPUs", "cost $/h", "expected", "ok"):
        t.add_column(c)
    for S in (1, 2, 4, 8, 32):
        sol = solve(example_instance(S))
        expected = 6.70 if S == 1 else 5.69
        ok = abs(sol.cost_per_hour - expected) < 1e-6
        t.add_row(str(S), ", ".join(f"{n} {g}" for g, n in sol.gpus.items()), f"{sol.cost_per_hour:.2f}",
                  f"{expected:.2f}", "yes" if ok else "NO")
        results["example"].append({"S": S, "gpus": sol.gpus, "cost": sol.cost_per_hour, "expected": expected, "ok": ok})
    console.print(t)

    t = Table(title=f"count vs binary-per-slice on {args.instances} random instances (binary limit {args.binary_limit:g}s)")
    for c in ("seed", "buckets", "GPUs", "S", "count $/h", "binary $/h", "equal", "count s", "binary s"):
        t.add_column(c)
    settings_ref = SolverSettings(time_limit_s=args.binary_limit)
    for seed in range(args.instances):
        inst, (nb, ng, S) = random_instance(seed)
        fast = solve(inst)
        try:
            ref = solve_reference(inst, settings_ref)
            ref_cost, ref_time, ref_status = ref.cost_per_hour, ref.solve_time_s, ref.status
        except (SolverError, MelangeInfeasible) as exc:
            ref_cost, ref_time, ref_status = None, None, f"failed: {exc}"
        equal = None if ref_cost is None or ref_status != "optimal" else abs(ref_cost - fast.cost_per_hour) < 1e-6
        t.add_row(str(seed), str(nb), str(ng), str(S), f"{fast.cost_per_hour:.3f}",
                  f"{ref_cost:.3f}" if ref_cost is not None else "timed out",
                  {True: "yes", False: "NO", None: "n/a"}[equal], f"{fast.solve_time_s:.3f}",
                  f"{ref_time:.3f}" if ref_time is not None else "-")
        results["random"].append({"seed": seed, "buckets": nb, "gpus": ng, "S": S, "count_cost": fast.cost_per_hour,
                                  "binary_cost": ref_cost, "binary_status": ref_status, "equal": equal,
                                  "count_s": fast.solve_time_s, "binary_s": ref_time})
    console.print(t)
    compared = [r for r in results["random"] if r["equal"] is not None]
    summary = {"example_ok": all(r["ok"] for r in results["example"]), "compared": len(compared),
               "all_equal": all(r["equal"] for r in compared)}
    results["summary"] = summary
    console.print(summary)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"benchmark": "melange_correctness", "time": time.time(), **results}, indent=1))
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
