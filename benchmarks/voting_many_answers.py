"""Where the grid prior's error comes from with many answers per query (m = 8-16), and fixes tried.

For each task (SmolLM2's measured answer distributions, ``benchmarks/data``), m answers per query
and independent draw (the same draws as ``voting_law.py`` / ``voting_falling.py``: seed 1000 m +
draw, then 400 held-out answers per query), the grid prior of ``fit_law``'s ``auto`` is fitted on
the m answers and, on the same likelihood matrix and grid curves:

* ``pen:R``: its ridge penalty R instead of ``grid_prior.PENALTY`` (30);
* ``res:C:D``: C bumps in p_correct times a degree-D polynomial in the top share (7 and 2 now);
* ``npmle``: the unsmoothed Kiefer-Wolfowitz NPMLE over the same grid (EM);
* ``big`` (a diagnostic, not an estimator): the default prior fitted on 200 fresh answers per
  query, then used as the prior for the m answers: what is left is the smooth prior's shape;
* ``oracle`` (a diagnostic): the measured distributions themselves, each moved to its nearest grid
  point (largest expected log-likelihood), as the prior for the m answers: the Bayes posterior
  under the task's true prior (up to the grid), so what is left is the noise of the m answers;
* ``exact``: the exact curve of the measured distributions (the floor of the check).

Each is scored against the held-out empirical curve (MAE over K = 1..100 and the error at K = 100,
points). The default fit's K = 100 error against each query's exact curve is split by what its m
answers showed (correct answer ahead of the top wrong one, tied, behind, never seen).

    .venv/bin/python benchmarks/voting_many_answers.py [--tasks digits,sequences] [--ms 8,10,16] [--draws 3] [--variants pen:100,res:10:2,npmle,big]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voting_common import RESULTS, load_task, parse_task_arguments, task_arguments, write_results  # noqa: E402
from voting_law import KMAX, draw_counts, task_draws  # noqa: E402

from skyplex_voting import grid_prior as gp  # noqa: E402
from skyplex_voting.fit import empirical_curves  # noqa: E402
from skyplex_voting.law import lump_columns, plurality_curves  # noqa: E402

OUT = RESULTS / "voting_many_answers.json"
BIG = 200


def posterior_curves(prior: gp.GridPrior, counts: np.ndarray, weights: np.ndarray, curves: np.ndarray) -> np.ndarray:
    rows, inverse = np.unique(counts, axis=0, return_inverse=True)
    lp = gp.support_loglik(rows, prior.support) + np.log(np.maximum(weights, 1e-300))[None]
    post = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    return (post @ curves)[inverse.ravel()]


def variant_weights(name: str, prior: gp.GridPrior, ll: np.ndarray, mult: np.ndarray) -> np.ndarray:
    if name.startswith("pen:"):
        return gp._fit_smooth(ll, mult, gp.smooth_basis(prior.support), float(name[4:]))[0]
    if name.startswith("res:"):
        _, c, d = name.split(":")
        return gp._fit_smooth(ll, mult, gp.smooth_basis(prior.support, centres=int(c), degree=int(d)), gp.PENALTY)[0]
    if name == "npmle":
        return gp.npmle_em(ll, mult)[0]
    raise ValueError(name)


def run(task: str, ms: list[int], draws: int, variants: list[str]) -> list[dict]:
    P = load_task(task)
    exact_q = plurality_curves(lump_columns(P, 6)[0], KMAX)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, draws):
        emp = empirical_curves(held_c, KMAX).mean(axis=0)
        t0 = time.perf_counter()
        prior = gp.fit_grid_prior(fit_c)
        grid_curves = prior.curves(KMAX)
        urows, mult = np.unique(fit_c, axis=0, return_counts=True)
        ll = gp.support_loglik(urows, prior.support)
        default = posterior_curves(prior, fit_c, prior.weights, grid_curves)
        curves = {"auto": default.mean(axis=0), "exact": exact_q.mean(axis=0)}
        for name in variants:
            if name == "oracle":
                lumped = lump_columns(P, 6)[0]
                ordered = np.concatenate([lumped[:, :1], -np.sort(-lumped[:, 1:-1], axis=1), lumped[:, -1:]], axis=1)
                nearest = np.argmax(ordered @ np.log(np.maximum(prior.support, 1e-300)).T, axis=1)
                w = np.bincount(nearest, minlength=len(prior.support)) / len(nearest)
                curves[name] = posterior_curves(prior, fit_c, w, grid_curves).mean(axis=0)
            elif name == "big":
                big_c = draw_counts(P, BIG, np.random.default_rng(10_000 + 1000 * m + rep))
                big = gp.fit_grid_prior(big_c, p_abstain=float(prior.support[0, -1]))
                curves[name] = posterior_curves(prior, fit_c, big.weights, grid_curves).mean(axis=0)
            else:
                w = variant_weights(name, prior, ll, mult.astype(float))
                curves[name] = posterior_curves(prior, fit_c, w, grid_curves).mean(axis=0)
        c, top = fit_c[:, 0], fit_c[:, 1:-1].max(axis=1)
        err = default[:, -1] - exact_q[:, -1]
        split = {name: {"queries": int(mask.sum()), "contribution": 100 * float(err[mask].sum() / len(err))}
                 for name, mask in (("ahead", c > top), ("tied", (c == top) & (c > 0)),
                                    ("behind", (c > 0) & (c < top)), ("none", c == 0))}
        row = {"task": task, "m": m, "rep": rep,
               "mae": {k: 100 * float(np.abs(v - emp).mean()) for k, v in curves.items()},
               "err_k100": {k: 100 * float(v[-1] - emp[-1]) for k, v in curves.items()},
               "auto_vs_exact_k100": 100 * float(curves["auto"][-1] - curves["exact"][-1]),
               "split_k100": split, "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"{task:>9} m={m:<2d} rep={rep} " + " ".join(f"{k} {v:.2f} ({row['err_k100'][k]:+.1f})"
                                                     for k, v in row["mae"].items())
              + " | split " + " ".join(f"{k}({v['queries']}) {v['contribution']:+.2f}" for k, v in split.items())
              + f" | {row['seconds']:.1f}s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    task_arguments(ap, tasks="digits,sequences,extremes,letters,halves,parity", ms="8,10,16", out=OUT)
    ap.add_argument("--variants", default="pen:10,pen:100,pen:300,res:10:2,npmle,big,oracle")
    args = ap.parse_args()
    tasks, ms = parse_task_arguments(ap, args)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        ok = v in ("npmle", "big", "oracle")
        try:
            ok = ok or (v.startswith("pen:") and float(v[4:]) > 0) or (
                v.startswith("res:") and len(v.split(":")) == 3 and min(map(int, v.split(":")[1:])) >= 1)
        except ValueError:
            ok = False
        if not ok:
            ap.error(f"unknown variant {v!r}: use pen:R (R > 0), res:C:D, npmle, big or oracle")
    t0 = time.perf_counter()
    rows = [r for task in tasks for r in run(task, ms, args.draws, variants)]
    keys = list(rows[0]["mae"])
    print(f"\nMAE over K = 1..{KMAX} in points vs the held-out curve (error at K = 100), mean over {args.draws} draws")
    print(f"{'task':>9} {'m':>3} " + " ".join(f"{k:>15}" for k in keys))
    summary = []
    for task in tasks:
        for m in ms:
            sel = [r for r in rows if r["task"] == task and r["m"] == m]
            s = {"task": task, "m": m, "mae": {k: float(np.mean([r["mae"][k] for r in sel])) for k in keys},
                 "err_k100": {k: float(np.mean([r["err_k100"][k] for r in sel])) for k in keys},
                 "split_k100": {k: float(np.mean([r["split_k100"][k]["contribution"] for r in sel]))
                                for k in sel[0]["split_k100"]}}
            summary.append(s)
            print(f"{task:>9} {m:>3} " + " ".join(f"{s['mae'][k]:7.2f} ({s['err_k100'][k]:+5.1f})" for k in keys)
                  + " | split " + " ".join(f"{k} {v:+.2f}" for k, v in s["split_k100"].items()))
    for m in ms:
        sel = [s for s in summary if s["m"] == m]
        print(f"{'mean':>9} {m:>3} " + " ".join(f"{np.mean([s['mae'][k] for s in sel]):7.2f}        " for k in keys))
    means = {k: float(np.mean([s["mae"][k] for s in summary])) for k in keys}
    print(f"{'mean':>9} {'all':>3} " + " ".join(f"{means[k]:7.2f}        " for k in keys))
    write_results(args.out, {"draws": args.draws, "tasks": tasks, "ms": ms, "variants": variants,
                             "seconds": time.perf_counter() - t0, "means": means, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
