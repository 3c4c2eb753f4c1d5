"""Active vs uniform pair sampling in simulation: votes needed until every model's 95% interval
(sandwich) is narrower than a target width.

True ratings are the Bradley-Terry ratings of the 135,634 real Arena votes (53 models); simulated
voters decide each battle by Bradley-Terry with those ratings (no ties). Pairs are drawn in batches
of 500 votes from the current fit. Each (rule, target) runs over several seeds; the table reports
the mean and spread of the votes needed.

    .venv/bin/python benchmarks/arena_sampling.py [--targets 60,40,30] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skyplex_arena.battles import load_battles
from skyplex_arena.leaderboard import build_leaderboard
from skyplex_arena.sampling import simulate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "arena_sampling.json"
VOTES = ROOT / ".." / "shared" / "data" / "arena" / "arena_human_preference_140k_battles.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--votes", type=Path, default=VOTES)
    ap.add_argument("--targets", default="60,40,30")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    console = Console(width=140)
    board = build_leaderboard(load_battles(args.votes), ci="none", elo=False)
    true = np.array([r.rating for r in board.rows])
    table = Table(title=f"votes until every 95% CI < target ({true.size} models, true ratings from the real "
                        f"leaderboard, {args.seeds} seeds, batches of {args.batch})")
    for col in ("target width", "uniform votes", "active votes", "active / uniform", "sim seconds"):
        table.add_column(col)
    results = []
    for target in (float(t) for t in args.targets.split(",")):
        per_rule = {}
        start = time.perf_counter()
        for rule in ("uniform", "active"):
            runs = [simulate(true, rule=rule, target_width=target, batch=args.batch, seed=s) for s in range(args.seeds)]
            per_rule[rule] = [r.votes for r in runs]
            if not all(r.reached for r in runs):
                console.print(f"[yellow]note:[/] {rule} did not reach {target} in some runs")
        secs = time.perf_counter() - start
        u, a = np.array(per_rule["uniform"]), np.array(per_rule["active"])
        table.add_row(f"{target:g}", f"{u.mean():,.0f} ± {u.std():,.0f}", f"{a.mean():,.0f} ± {a.std():,.0f}",
                      f"{a.mean() / u.mean():.3f}", f"{secs:.1f}")
        results.append({"target_width": target, "uniform_votes": u.tolist(), "active_votes": a.tolist(),
                        "ratio": float(a.mean() / u.mean())})
    console.print(table)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"models": int(true.size), "batch": args.batch, "seeds": args.seeds,
                               "results": results}, indent=2))
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
