"""Tasks whose voting curve peaks and falls: the grid prior with its weights free at the tie.

For each task (SmolLM2's measured answer distributions, ``benchmarks/data``), m answers per query
and independent draw (the same draws as ``voting_law.py`` / ``voting_prior_choice.py``: seed
1000 m + draw, then 400 held-out answers per query), on the same m answers:

* ``auto``: ``fit_law``'s default (the grid prior, ``components="grid"``);
* ``gap``: ``components="grid-gap"`` (``skyplex_voting.gap_prior``: a step and a bump at the tie
  between the correct answer and the top wrong one added to the g-model);
* ``pick``: ``components="grid-pick"``, the one of the two that extrapolates the task curve better
  from half of each query's answers to all m (chosen inside the sample; its choice is reported);
* ``authors``: the paper's fitter (``skyplex_voting.baseline``), unless ``--no-authors``;
* each of ``--extra`` (any ``fit_law`` components, e.g. ``grid-fine``), on the same answers.

``--no-gap`` leaves out ``gap`` and ``pick`` (faster).

Each is scored against the held-out empirical curve: MAE over K = 1..100 in points, and the error
at K = 100 (predicted minus held-out, points). ``--tasks`` may include ``parity`` (next_even /
next_odd, ``voting_heldout.py --task parity``), the task held out of that development, and
``counts`` (the number of digits of a number, ``voting_heldout.py --task counts``), held out of the
study of many answers per query (``voting_many_answers.py``).

    .venv/bin/python benchmarks/voting_falling.py [--tasks digits,sequences,extremes,letters,halves,parity] [--ms 4,8,10,16] [--draws 3]
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
from voting_common import RESULTS, SMALL, load_task, parse_task_arguments, task_arguments, write_results  # noqa: E402
from voting_law import KMAX, task_draws  # noqa: E402

from skyplex_voting.baseline import authors_curves  # noqa: E402
from skyplex_voting.fit import empirical_curves, fit_law  # noqa: E402
from skyplex_voting.gap_prior import GAP, pick_by_extrapolation  # noqa: E402

OUT = RESULTS / "voting_falling.json"
#: the 240-query tasks (``voting_common.SMALL``); other benchmarks import it from here
TASKS = SMALL


def run(task: str, ms: list[int], draws: int, authors: bool, gap: bool = True, extra: tuple = ()) -> list[dict]:
    P = load_task(task)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, draws):
        emp = empirical_curves(held_c, KMAX).mean(axis=0)
        t0 = time.perf_counter()
        curves = {"auto": fit_law(fit_c, kmax=KMAX, draws=0, seed=rep).curve}
        choice, scores = None, None
        if gap:
            curves["gap"] = fit_law(fit_c, kmax=KMAX, components=GAP, draws=0, seed=rep).curve
            choice, scores = pick_by_extrapolation(fit_c, seed=rep)  # what components="grid-pick" does
            curves["pick"] = curves["gap" if choice == GAP else "auto"]
        for name in extra:
            curves[name] = fit_law(fit_c, kmax=KMAX, components=name, draws=0, seed=rep).curve
        if authors:
            curves["authors"] = authors_curves(fit_c, KMAX, seed=rep).mean(axis=0)
        row = {"task": task, "m": m, "rep": rep, "pick": choice, "pick_scores": scores,
               "mae": {k: 100 * float(np.abs(c - emp).mean()) for k, c in curves.items()},
               "err_k100": {k: 100 * float(c[-1] - emp[-1]) for k, c in curves.items()},
               "heldout": {"k1": float(emp[0]), "peak_k": int(np.argmax(emp)) + 1, "peak": float(emp.max()),
                           "k100": float(emp[-1])},
               "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"{task:>9} m={m:<2d} rep={rep} pick={str(choice):<8} " + " ".join(
            f"{k} {v:.2f} ({row['err_k100'][k]:+.1f})" for k, v in row["mae"].items()) + f" | {row['seconds']:.1f}s",
            flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    task_arguments(ap, tasks="digits,sequences,extremes,letters,halves", out=OUT)
    ap.add_argument("--no-authors", action="store_true", help="leave out the paper's fitter (faster)")
    ap.add_argument("--no-gap", action="store_true", help="leave out grid-gap and grid-pick (faster)")
    ap.add_argument("--extra", default="", help="comma-separated fit_law components also fitted (e.g. grid-fine)")
    args = ap.parse_args()
    tasks, ms = parse_task_arguments(ap, args)
    t0 = time.perf_counter()
    extra = tuple(x for x in args.extra.split(",") if x)
    rows = [r for task in tasks for r in run(task, ms, args.draws, not args.no_authors, not args.no_gap, extra)]
    keys = list(rows[0]["mae"])
    print(f"\nMAE over K = 1..{KMAX} in points vs the held-out curve (error at K = 100), mean over {args.draws} draws")
    print(f"{'task':>9} {'m':>3} " + " ".join(f"{k:>15}" for k in keys) + "  picked gap")
    summary = []
    for task in tasks:
        for m in ms:
            sel = [r for r in rows if r["task"] == task and r["m"] == m]
            s = {"task": task, "m": m, "mae": {k: float(np.mean([r["mae"][k] for r in sel])) for k in keys},
                 "err_k100": {k: float(np.mean([r["err_k100"][k] for r in sel])) for k in keys},
                 "picked_gap": sum(r["pick"] == GAP for r in sel), "draws": len(sel)}
            summary.append(s)
            print(f"{task:>9} {m:>3} " + " ".join(f"{s['mae'][k]:7.2f} ({s['err_k100'][k]:+5.1f})" for k in keys)
                  + f"  {s['picked_gap']}/{len(sel)}")
    means = {k: float(np.mean([s["mae"][k] for s in summary])) for k in keys}
    print(f"{'mean':>9} {'':>3} " + " ".join(f"{means[k]:7.2f}        " for k in keys))
    write_results(args.out, {"draws": args.draws, "tasks": tasks, "ms": ms, "seconds": time.perf_counter() - t0,
                             "means": means, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
