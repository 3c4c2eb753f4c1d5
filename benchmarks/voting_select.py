"""The grid prior or the paper's fitter, chosen inside the sample; and the check's noise floor on larger tasks.

For each task (SmolLM2's measured answer distributions, ``benchmarks/data``; ``NAME-960`` is the
task's larger held-out version of 960 fresh queries, ``voting_heldout.py --collect-large``), m
answers per query and independent draw (the same draws as ``voting_law.py`` / ``voting_falling.py``:
seed 1000 m + draw, then 400 held-out answers per query), on the same m answers:

* ``auto``: ``fit_law``'s default (the grid prior);
* ``fine``: ``components="grid-fine"`` (the grid prior's resolution set by m);
* ``authors``: the paper's fitter (``skyplex_voting.baseline``);
* ``pick``: ``components="grid-or-paper"``: ``auto`` or ``authors``, whichever extrapolates the task
  curve better from half of each query's answers to all m (``skyplex_voting.paper_pick``);
* ``mix``: ``components="grid-paper-mix"``: their mixture with the grid weight chosen the same way;
* ``oracle`` (a diagnostic): the measured distributions, each moved to its nearest grid point, as
  the prior for the m answers (the Bayes posterior under the task's true prior, up to the grid);
* ``exact`` (the floor of the check): the exact curve of the measured distributions.

``pick`` and ``mix`` are built from the ``auto`` and ``authors`` curves of the same draw and the
half-split curves (``paper_pick.half_split_curves``, seed = draw), exactly as ``fit_law`` builds
them (``auto`` below ``paper_pick.MIN_ANSWERS`` answers per query; the runs of 23:00-00:00 on
2026-12-07 were made before that gate, so their m = 4 ``pick``/``mix`` columns are ungated). Each is scored against the held-out empirical curve: MAE over K = 1..100 in points and the
error at K = 100 (predicted minus held-out, points). Targets: 2 points at m <= 10, 1 at m = 16.

    .venv/bin/python benchmarks/voting_select.py [--tasks digits,counts-960] [--ms 4,8,10,16] [--draws 3] [--first-draw 0] [--skip fine]

``--first-draw F --draws D`` runs draws F..D-1 only (a later run adds draws to an earlier one's).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voting_common import RESULTS, load_task, parse_task_arguments, task_arguments, write_results  # noqa: E402
from voting_law import KMAX, exact_curve, task_draws  # noqa: E402
from voting_many_answers import posterior_curves  # noqa: E402

from skyplex_voting import grid_prior as gp  # noqa: E402
from skyplex_voting.baseline import authors_curves  # noqa: E402
from skyplex_voting.fit import empirical_curves, fit_law  # noqa: E402
from skyplex_voting.law import lump_columns  # noqa: E402
from skyplex_voting.paper_pick import MIN_ANSWERS, half_split_curves, half_split_errors, mix_weight  # noqa: E402

OUT = RESULTS / "voting_select.json"
NAMES = ("auto", "fine", "authors", "pick", "mix", "oracle", "exact")


def oracle_curve(P: np.ndarray, fit_c: np.ndarray, prior: gp.GridPrior, grid_curves: np.ndarray) -> np.ndarray:
    """The task curve under the true prior: each measured distribution moved to its nearest grid point."""
    lumped = lump_columns(P, 6)[0]
    ordered = np.concatenate([lumped[:, :1], -np.sort(-lumped[:, 1:-1], axis=1), lumped[:, -1:]], axis=1)
    nearest = np.argmax(ordered @ np.log(np.maximum(prior.support, 1e-300)).T, axis=1)
    w = np.bincount(nearest, minlength=len(prior.support)) / len(nearest)
    return posterior_curves(prior, fit_c, w, grid_curves).mean(axis=0)


def run(task: str, ms: list[int], draws: int, skip: tuple = (), first: int = 0) -> list[dict]:
    P = load_task(task)
    exact = exact_curve(P)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, draws):
        if rep < first:
            continue  # an earlier run's draw (each draw has its own seed, so the rest are unchanged)
        emp = empirical_curves(held_c, KMAX).mean(axis=0)
        t0 = time.perf_counter()
        auto = fit_law(fit_c, kmax=KMAX, draws=0, seed=rep)
        curves = {"auto": auto.curve}
        if "fine" not in skip:
            curves["fine"] = fit_law(fit_c, kmax=KMAX, components="grid-fine", draws=0, seed=rep).curve
        curves["authors"] = authors_curves(fit_c, KMAX, seed=rep).mean(axis=0)
        half = half_split_curves(fit_c, seed=rep)
        errors = half_split_errors(half)
        weight = mix_weight(half)[0]
        gated = m < MIN_ANSWERS  # fit_law then fits the grid prior (the half-split errors are still reported)
        curves["pick"] = curves["auto" if gated or errors["grid"] <= errors["paper"] else "authors"]
        curves["mix"] = curves["auto"] if gated else weight * curves["auto"] + (1 - weight) * curves["authors"]
        prior = auto.prior
        curves["oracle"] = oracle_curve(P, fit_c, prior, prior.curves(KMAX))
        curves["exact"] = exact
        row = {"task": task, "queries": int(len(P)), "m": m, "rep": rep,
               "half_split_error": {k: 100 * v for k, v in errors.items()}, "mix_weight": weight,
               "mae": {k: 100 * float(np.abs(c - emp).mean()) for k, c in curves.items()},
               "err_k100": {k: 100 * float(c[-1] - emp[-1]) for k, c in curves.items()},
               "heldout": {"k1": float(emp[0]), "peak_k": int(np.argmax(emp)) + 1, "peak": float(emp.max()),
                           "k100": float(emp[-1])},
               "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"{task:>12} m={m:<2d} rep={rep} half grid {100 * errors['grid']:.2f} paper {100 * errors['paper']:.2f} "
              f"w={weight:.1f} | " + " ".join(f"{k} {v:.2f} ({row['err_k100'][k]:+.1f})" for k, v in row["mae"].items())
              + f" | {row['seconds']:.1f}s", flush=True)
    return rows


def target(m: int) -> float:
    return 1.0 if m >= 16 else 2.0


def summarise(rows: list[dict], tasks: list[str], ms: list[int]) -> tuple[list[dict], dict]:
    names = [k for k in NAMES if k in rows[0]["mae"]]
    summary = []
    for task in tasks:
        for m in ms:
            sel = [r for r in rows if r["task"] == task and r["m"] == m]
            summary.append({"task": task, "m": m, "draws": len(sel),
                            "mae": {k: float(np.mean([r["mae"][k] for r in sel])) for k in names},
                            "err_k100": {k: float(np.mean([r["err_k100"][k] for r in sel])) for k in names},
                            "picked_paper": sum(r["half_split_error"]["paper"] < r["half_split_error"]["grid"] for r in sel),
                            "mix_weight": float(np.mean([r["mix_weight"] for r in sel]))})
    totals = {"mean": {k: float(np.mean([s["mae"][k] for s in summary])) for k in names},
              "cells_met": {k: sum(s["mae"][k] <= target(s["m"]) for s in summary) for k in names},
              "cells": len(summary)}
    return summary, totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    task_arguments(ap, tasks="digits,sequences,extremes,letters,halves,parity,counts", out=OUT)
    ap.add_argument("--first-draw", type=int, default=0, help="start at this draw (draws --first-draw .. --draws - 1)")
    ap.add_argument("--skip", default="", help="leave out these columns (only 'fine' can be left out: faster)")
    args = ap.parse_args()
    tasks, ms = parse_task_arguments(ap, args)
    if not 0 <= args.first_draw < args.draws or min(ms) < 2:
        ap.error("need 0 <= --first-draw < --draws and every m at least 2")
    skip = tuple(x for x in args.skip.split(",") if x)
    if set(skip) - {"fine"}:
        ap.error(f"--skip takes only 'fine', got {args.skip!r}")
    t0 = time.perf_counter()
    rows = [r for task in tasks for r in run(task, ms, args.draws, skip, args.first_draw)]
    summary, totals = summarise(rows, tasks, ms)
    names = list(totals["mean"])
    print(f"\nMAE over K = 1..{KMAX} in points vs the held-out curve (error at K = 100), mean over draws "
          f"{args.first_draw}..{args.draws - 1}")
    print(f"{'task':>12} {'m':>3} " + " ".join(f"{k:>15}" for k in names) + "  paper picked / mean w")
    for s in summary:
        print(f"{s['task']:>12} {s['m']:>3} " + " ".join(f"{s['mae'][k]:7.2f} ({s['err_k100'][k]:+5.1f})" for k in names)
              + f"  {s['picked_paper']}/{s['draws']} {s['mix_weight']:.2f}")
    for m in ms:
        sel = [s for s in summary if s["m"] == m]
        print(f"{'mean':>12} {m:>3} " + " ".join(f"{np.mean([s['mae'][k] for s in sel]):7.2f}        " for k in names))
    print(f"{'mean':>12} {'all':>3} " + " ".join(f"{totals['mean'][k]:7.2f}        " for k in names))
    print(f"{'cells met':>12} {'':>3} " + " ".join(f"{totals['cells_met'][k]:>7d}/{totals['cells']:<7d}" for k in names))
    write_results(args.out, {"draws": args.draws, "first_draw": args.first_draw, "tasks": tasks, "ms": ms,
                             "seconds": time.perf_counter() - t0, **totals, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
