"""LLM-SQL prefix hit rates on the Beer table: original order, statistics order + sort, GGR, OPHR.

For each algorithm: the quadratic proxy (share of its maximum), the character-level hit rate and
the token-level hit rate with SmolLM2's own tokenizer (each prompt's leading part shared with the
prompt before it), and the solver time, over all 28,479 rows (serialised ``field: value`` lines,
no instruction, as the independent re-implementation measured). OPHR is exact and exponential, so
it runs on seeded samples of 8 rows, next to GGR on the same samples.

    .venv/bin/python benchmarks/llmsql_prefix_hit.py [--no-tokens] [--samples 20]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skyplex_llmsql.ggr import ggr
from skyplex_llmsql.metrics import character_hit_rate, proxy_hits, token_hit_rate, tokenizer_function
from skyplex_llmsql.ophr import ophr
from skyplex_llmsql.plan import plan_table
from skyplex_llmsql.table import encode_columns

ROOT = Path(__file__).resolve().parents[1]
BEER = ROOT / ".." / "shared" / "data" / "llmsql" / "beer.csv"
OUT = ROOT / "benchmarks" / "results" / "llmsql_prefix_hit.json"
#: published figures on Beer (see docs/plugins/llmsql.md)
PAPER_TOKEN = {"original": 0.499, "ggr": 0.801}
REIMPL_CHAR = {"original": 0.224, "stats": 0.663, "ggr": 0.683}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-tokens", action="store_true", help="skip the token-level rate (needs the local model)")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--sample-rows", type=int, default=8)
    args = ap.parse_args()
    with BEER.open(newline="") as fh:
        reader = csv.reader(fh)
        fields = next(reader)
        data = list(reader)
    cols = [[r[j] for r in data] for j in range(len(fields))]
    tokenize = None
    if not args.no_tokens:
        from skyplex.models.local import LocalBackend

        tokenize = tokenizer_function(LocalBackend(data_dir=ROOT / ".data" / "test"))
    table = encode_columns(fields, cols)
    index = {f: j for j, f in enumerate(fields)}
    runs = [("original", "original", None), ("stats order + sort", "stats", None),
            ("GGR, paper's len^2 rule", "ggr", [2.0]), ("GGR, best of len^2/4/6 rules", "ggr", None)]
    rows = []
    for label, algorithm, powers in runs:
        start = time.perf_counter()
        plan = plan_table(cols, fields, algorithm=algorithm, ggr_powers=powers, measure=False)
        solve_s = time.perf_counter() - start
        orders = np.array([[index[f] for f in fo] for fo in plan.field_orders])
        texts = table.texts(plan.row_order, orders)
        hit, total = proxy_hits(table, plan.row_order, orders)
        row = {"algorithm": label, "proxy": hit / total, "char": character_hit_rate(texts), "solver_s": solve_s,
               "token": token_hit_rate(texts, tokenize) if tokenize else None,
               "reimpl_char": REIMPL_CHAR.get(algorithm if powers is None or algorithm != "ggr" else "ggr"),
               "paper_token": PAPER_TOKEN.get(algorithm)}
        rows.append(row)
    samples = []
    rng = random.Random(0)
    for _ in range(args.samples):
        pick = rng.sample(range(len(data)), args.sample_rows)
        t = encode_columns(fields, [[cols[j][r] for r in pick] for j in range(len(fields))])
        start = time.perf_counter()
        exact = ophr(t, max_cells=args.sample_rows * len(fields))
        ophr_s = time.perf_counter() - start
        g = ggr(t)
        samples.append({"ophr": exact.score, "ggr": proxy_hits(t, g.row_order, g.field_orders)[0], "ophr_s": ophr_s})
    ratio = [s["ggr"] / s["ophr"] for s in samples if s["ophr"]]
    console = Console(width=160)
    tab = Table(title=f"Beer ({len(data)} rows, {len(fields)} fields): prefix hit rate with the previous prompt")
    for c in ("algorithm", "proxy", "char", "token (SmolLM2)", "solver s", "re-impl char", "paper token (vLLM)"):
        tab.add_column(c)
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    for r in rows:
        tab.add_row(r["algorithm"], pct(r["proxy"]), pct(r["char"]), pct(r["token"]), f"{r['solver_s']:.2f}",
                    pct(r["reimpl_char"]), pct(r["paper_token"]))
    console.print(tab)
    console.print(f"OPHR on {len(samples)} samples of {args.sample_rows} rows: GGR reaches "
                  f"{np.mean(ratio):.1%} of the optimum proxy on average (min {min(ratio):.1%}); "
                  f"OPHR {np.mean([s['ophr_s'] for s in samples]):.2f}s per sample")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": len(data), "fields": fields, "results": rows,
                               "ophr_samples": {"n": len(samples), "rows": args.sample_rows,
                                                "ggr_over_optimum_mean": float(np.mean(ratio)),
                                                "ggr_over_optimum_min": float(min(ratio)), "samples": samples}},
                              indent=2))


if __name__ == "__main__":
    main()
