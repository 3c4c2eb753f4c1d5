"""LLM-SQL prefix hit rates on the Beer table: original order, statistics order + sort, GGR, OPHR.

Every rate is "the share of a prompt's leading part it shares with the prompt sent just before it",
over all 28,479 rows, measured on two different texts (each column says which):

- rows only: the serialised ``field: value`` lines with no instruction, as the independent
  re-implementation measured at character level (its figures are printed beside that column);
- prompts as sent: the instruction, a blank line, the row's lines, wrapped in SmolLM2's chat
  template, through SmolLM2's tokenizer. This is the paper's setting (instruction + row, token
  level); the shared instruction alone makes even the original order hit often, which is why the
  paper's original order reaches 49.9%. The paper measured inside vLLM with its own instruction
  and model, so its figures are printed beside this column for orientation, not as a like-for-like
  comparison.

Also the quadratic proxy (the paper's objective, as a share of its maximum) and the solver time.
OPHR is exact and exponential, so it runs on seeded samples of 8 rows, next to GGR on the same samples.

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
from skyplex_llmsql.table import CELL_SEPARATOR, encode_columns

ROOT = Path(__file__).resolve().parents[1]
BEER = ROOT / ".." / "shared" / "data" / "llmsql" / "beer.csv"
OUT = ROOT / "benchmarks" / "results" / "llmsql_prefix_hit.json"
#: published figures on Beer (see docs/plugins/llmsql.md): the paper's token level inside vLLM with its
#: instruction (beside our "prompts as sent" column); the re-implementation's character level on rows only
PAPER_TOKEN = {"original": 0.499, "ggr": 0.801}
REIMPL_CHAR = {"original": 0.224, "stats": 0.663, "ggr": 0.683}
#: the instruction of the "prompts as sent" measurement (the end-to-end benchmark's question)
INSTRUCTION = ("You are a beer expert. Read the review below and answer with one word: would this reviewer "
               "recommend the beer to a friend who likes hoppy ales?")


def chat_wrapper(backend: object) -> tuple[str, str]:
    """The text SmolLM2's chat template puts before and after one user message (as llm() sends it)."""
    tokenizer = backend._tokenizer_loaded()  # type: ignore[attr-defined]
    marker = "\x00PROMPT\x00"
    text = tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False,
                                         add_generation_prompt=True)
    before, _, after = text.partition(marker)
    return before, after


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

        backend = LocalBackend(data_dir=ROOT / ".data" / "test")
        tokenize = tokenizer_function(backend)
        before, after = chat_wrapper(backend)
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
        sent = ([f"{before}{INSTRUCTION}\n\n{t}{after}" for t in texts] if tokenize else None)
        row = {"algorithm": label, "proxy": hit / total, "solver_s": solve_s,
               "char_rows_only": character_hit_rate(texts),
               "token_rows_only": token_hit_rate(texts, tokenize) if tokenize else None,
               "token_prompts_as_sent": token_hit_rate(sent, tokenize) if sent else None,
               "char_prompts_as_sent": character_hit_rate(sent) if sent else None,
               # published figures sit only beside the algorithm they measured (the paper's len^2 greedy)
               "reimpl_char_rows_only": REIMPL_CHAR.get(algorithm) if powers == [2.0] or algorithm != "ggr" else None,
               "paper_token_vllm": PAPER_TOKEN.get(algorithm) if powers == [2.0] or algorithm != "ggr" else None}
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
    tab = Table(title=f"Beer ({len(data)} rows, {len(fields)} fields): prefix shared with the previous prompt")
    for c in ("algorithm", "proxy", "rows only: char", "re-impl (rows only: char)", "rows only: token",
              "as sent: token (SmolLM2, chat)", "paper (vLLM, its prompts: token)", "solver s"):
        tab.add_column(c)
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    for r in rows:
        tab.add_row(r["algorithm"], pct(r["proxy"]), pct(r["char_rows_only"]), pct(r["reimpl_char_rows_only"]),
                    pct(r["token_rows_only"]), pct(r["token_prompts_as_sent"]), pct(r["paper_token_vllm"]),
                    f"{r['solver_s']:.2f}")
    console.print(tab)
    console.print(f"as sent = chat template + {INSTRUCTION[:60]!r}... + blank line + the row's field: value lines "
                  "(separator " + repr(CELL_SEPARATOR) + "); the paper's column used its own instruction and model")
    console.print(f"OPHR on {len(samples)} samples of {args.sample_rows} rows: GGR reaches "
                  f"{np.mean(ratio):.1%} of the optimum proxy on average (min {min(ratio):.1%}); "
                  f"OPHR {np.mean([s['ophr_s'] for s in samples]):.2f}s per sample")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": len(data), "fields": fields, "instruction": INSTRUCTION, "results": rows,
                               "ophr_samples": {"n": len(samples), "rows": args.sample_rows,
                                                "ggr_over_optimum_mean": float(np.mean(ratio)),
                                                "ggr_over_optimum_min": float(min(ratio)), "samples": samples}},
                              indent=2))


if __name__ == "__main__":
    main()
