"""LLM-SQL end to end on the local SmolLM2 model: no reuse vs reuse (original order) vs reuse (GGR).

One LLM projection over a 200-row Beer sample (seeded, from the first 1,000 rows), short answers
(2 tokens), run three ways in the same process after a warm-up: prefix reuse off with the rows in
original order; reuse on, original order (the instruction is the only shared prefix); reuse on,
GGR order and fields (rows sharing a beer share its cells too). Reported: wall time of the whole
query, the speed-ups, and the share of prompt tokens (chat template included, as llm() sends them)
that the local backend itself reports serving from a reused prefix within a batch. That is the
backend's measurement, not the paper's metric (benchmarks/llmsql_prefix_hit.py measures that one).

    .venv/bin/python benchmarks/llmsql_end_to_end.py [--rows 200] [--max-tokens 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from skyplex.interfaces.model import GenerationParams
from skyplex.models.local import LocalBackend
from skyplex_llmsql.duckdb_engine import connect
from skyplex_llmsql.execution import ExecutionOptions

ROOT = Path(__file__).resolve().parents[1]
BEER = ROOT / ".." / "shared" / "data" / "llmsql" / "beer.csv"
OUT = ROOT / "benchmarks" / "results" / "llmsql_end_to_end.json"
QUERY = ("SELECT beer_name, review_profileName, llm('You are a beer expert. Read the review below and answer with one "
         "word: would this reviewer recommend the beer to a friend who likes hoppy ales?', beer_name, beer_style, "
         "review_overall, review_taste, review_palate, review_appearance, review_profileName) AS answer FROM beer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3,
                    help="each round runs the three configurations once, in rotated order; medians are reported "
                         "(a shared machine's load drifts, and sequential runs would charge the drift to one of them)")
    args = ap.parse_args()
    with BEER.open(newline="") as fh:
        data = list(csv.DictReader(fh))[:1000]
    sample = random.Random(0).sample(data, args.rows)
    df = pd.DataFrame(sample)
    df.columns = [c.replace("/", "_") for c in df.columns]
    backend = LocalBackend(data_dir=ROOT / ".data" / "test", threads=args.threads)
    params = GenerationParams(max_tokens=args.max_tokens)
    runs = [("no reuse, original order", ExecutionOptions(algorithm="original", prefix_reuse=False)),
            ("reuse, original order", ExecutionOptions(algorithm="original")),
            ("reuse, GGR", ExecutionOptions(algorithm="ggr"))]
    walls: dict[str, list[float]] = {label: [] for label, _ in runs}
    last: dict[str, dict] = {}
    answers = {}
    with connect(tables={"beer": df}, model=backend, params=params) as db:
        db.query(QUERY.replace("FROM beer", "FROM beer LIMIT 8"))  # warm-up: weights loaded, kernels hot
        for round_ in range(args.rounds):
            for label, options in runs[round_ % len(runs):] + runs[: round_ % len(runs)]:
                start = time.perf_counter()
                res = db.query(QUERY, options=options)
                walls[label].append(time.perf_counter() - start)
                call = res.calls[0]
                answers[label] = sorted(res.rows)
                last[label] = {"model_s": call.model_time_s, "solver_s": call.solver_time_s,
                               "prompts": call.distinct_prompts, "batches": call.batches,
                               "prompt_tokens": call.prompt_tokens, "cached_tokens": call.cached_prompt_tokens,
                               "token_hit": call.token_hit_rate, "char_hit_pred": call.plan_metrics.get("char_hit_rate")}
    results = [{"run": label, "wall_s": statistics.median(walls[label]), "wall_samples_s": walls[label], **last[label]}
               for label, _ in runs]
    base = results[0]["wall_s"]
    for r in results:
        r["speedup_vs_no_reuse"] = base / r["wall_s"]
    same = len({json.dumps(a) for a in answers.values()}) == 1
    agree = sum(x == y for x, y in zip(answers[runs[0][0]], answers[runs[2][0]])) / len(sample)
    t = Table(title=f"LLM projection over {args.rows} Beer rows, SmolLM2-135M on CPU ({args.threads} threads), "
                    f"max_tokens={args.max_tokens}")
    for c in ("run", "median wall s", "model s (last)", "plan s", "batches",
              "backend-reported cached / prompt tokens", "speed-up"):
        t.add_column(c)
    for r in results:
        t.add_row(r["run"], f"{r['wall_s']:.1f}", f"{r['model_s']:.1f}", f"{r['solver_s']:.3f}", str(r["batches"]),
                  f"{r['cached_tokens']}/{r['prompt_tokens']} ({r['token_hit']:.0%})", f"{r['speedup_vs_no_reuse']:.2f}x")
    console = Console(width=160)
    console.print(t)
    console.print(f"reuse GGR vs reuse original: {results[1]['wall_s'] / results[2]['wall_s']:.2f}x; "
                  f"answers identical across runs: {same} (GGR vs no-reuse agreement {agree:.0%}; GGR changes the "
                  "field order inside prompts, so a small model may answer some rows differently)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": args.rows, "max_tokens": args.max_tokens, "threads": args.threads,
                               "rounds": args.rounds,
                               "results": results, "answers_identical": same, "agreement_ggr_vs_no_reuse": agree},
                              indent=2))


if __name__ == "__main__":
    main()
