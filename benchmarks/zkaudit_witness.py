"""ZkAudit witness generation speed: compiled kernel (C++, and CUDA where a device exists) vs the
pure-Python big-integer reference, for softmax regression and the MLP head, scale 2^17.

    .venv/bin/python benchmarks/zkaudit_witness.py [--steps 4] [--out benchmarks/results/zkaudit_witness.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from skyplex import ops
from skyplex_zkaudit.witness import compute_trace, lr_to_q, one_hot, quantize

SHAPES = [dict(d=16, c=4, b=8, h=0), dict(d=64, c=10, b=32, h=0), dict(d=64, c=10, b=32, h=32), dict(d=256, c=10, b=64, h=0)]


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", default="benchmarks/results/zkaudit_witness.json")
    args = ap.parse_args()
    fb, rows = 17, []
    backends = [b for b in ("cuda", "cpu") if b in ops.available_backends()]
    for s in SHAPES:
        rng = np.random.default_rng(0)
        x = quantize(rng.normal(size=(args.steps, s["b"], s["d"])), fb)
        y = one_hot(rng.integers(0, s["c"], (args.steps, s["b"])), s["c"], fb)
        if s["h"]:
            w1, w2 = quantize(rng.normal(size=(s["d"], s["h"])) * 0.1, fb), quantize(rng.normal(size=(s["h"], s["c"])) * 0.1, fb)
        else:
            w1, w2 = quantize(rng.normal(size=(s["d"], s["c"])) * 0.1, fb), None
        lr_q = lr_to_q(0.5, s["b"], fb)
        run = lambda be: compute_trace(x, y, w1, w2, lr_q=lr_q, frac_bits=fb, backend=be)  # noqa: E731
        ref = run("python")
        row = {**s, "steps": args.steps, "python_s": timed(lambda: run("python"), 1)}
        for be in backends:
            got = run(be)
            row[f"{be}_identical"] = all(np.array_equal(got[k], ref[k]) for k in ref)
            row[f"{be}_s"] = timed(lambda: run(be), 5)
            row[f"{be}_speedup"] = row["python_s"] / row[f"{be}_s"]
        rows.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    head = ["shape (d,c,b,h)", "steps", "python s"] + [f"{b} s" for b in backends] + [f"{b} speedup" for b in backends] + ["identical"]
    print(" | ".join(head))
    for r in rows:
        cells = [f"{r['d']},{r['c']},{r['b']},{r['h']}", str(r["steps"]), f"{r['python_s']:.3f}"]
        cells += [f"{r[f'{b}_s'] * 1e3:.2f} ms" for b in backends] + [f"{r[f'{b}_speedup']:.0f}x" for b in backends]
        cells.append(str(all(r[f"{b}_identical"] for b in backends)))
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
