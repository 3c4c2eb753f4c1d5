"""Choosing the difficulty prior inside the sample: each candidate's error, the choice, and the floor.

For each task (SmolLM2's measured answer distributions, ``benchmarks/data``), m answers per query
and independent draw (the same draws as ``voting_law.py`` / ``voting_heldout.py``: seed 1000 m +
draw, then 400 held-out answers per query), every candidate prior of
``skyplex_voting.choose.CANDIDATES`` is fitted on the m answers and its predicted curve scored
against the held-out empirical curve (MAE over K = 1..100, points), beside:

* ``auto``: ``fit_law``'s default now (the grid prior at every m);
* ``old``: the rule it replaced (the grid prior below 12 answers per query, else one Dirichlet or
  the sym+peak mixture by BIC);
* the in-sample choices of ``skyplex_voting.choose``, none of which uses held-out data: ``stack``
  (``fit_law(components="stack")``: the candidates averaged with stacking weights from their
  cross-validated predictive likelihoods), ``pick-lik`` (the candidate with the best such
  likelihood) and ``pick-extra`` (the candidate that best extrapolates the task curve from half of
  each query's answers to all of them);
* ``authors``: the paper's fitter (``skyplex_voting.baseline``) on the same answers;
* ``oracle``: the best candidate in hindsight (what any choice among them could reach);
* ``floor``: the MAE of the TRUE distributions' exact curve against the same empirical curve. The
  empirical curve is the plug-in from 400 answers per query (each query's observed frequencies taken
  as its distribution), so it carries its own sampling error; no estimator can be expected to beat
  this figure on average.

``--tasks`` defaults to the three tasks the choice was made on; ``letters`` is the task held out of
it (measured and committed first, run once after ``auto`` was fixed), ``halves`` ("half(14) = 7" /
"double(3) = 6") the one held out of the few-answer study (``voting_few_answers.py``).

With ``--band`` it measures instead how often the held-out empirical curve lies inside the band
``fit_law`` (``auto``, 8 posterior draws per query, 200 rounds) puts around its predicted curve:
per task, m and draw, the share of K = 1..100 inside, and whether K = 100 is inside, for the band
it reports (``task``: queries resampled, the grid prior's coefficients drawn from their Laplace
posterior, each query's difficulty drawn from its posterior under that prior), for ``known`` (the
band before the prior's own uncertainty was added: the same without the coefficient draws, 8
posterior draws per query) and for ``queries`` (``known`` with the queries kept: these queries' own
uncertainty), each also against the exact curve of the TRUE distributions. ``parity`` (next_even /
next_odd) is the task held out of the falling-curve study (``voting_falling.py``).

    .venv/bin/python benchmarks/voting_prior_choice.py [--tasks digits,sequences,extremes] [--ms 4,8,10,16] [--draws 3]
    .venv/bin/python benchmarks/voting_prior_choice.py --band --tasks digits,sequences,extremes,letters,halves,parity --ms 4,8,16 --draws 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voting_law import KMAX, distributions, exact_curve, task_draws  # noqa: E402

from skyplex_voting.baseline import authors_curves  # noqa: E402
from skyplex_voting.choose import CANDIDATES, choose_prior, grid_spec  # noqa: E402
from skyplex_voting.fit import draw_bootstrap, empirical_curves, fit_law, fit_prior, predicted_curves  # noqa: E402
from skyplex_voting.grid_prior import fit_grid_prior, grid_draw_curves, grid_predicted_curves  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
OUT = ROOT / "benchmarks" / "results" / "voting_prior_choice.json"
BAND_OUT = ROOT / "benchmarks" / "results" / "voting_curve_band.json"
BAND_DRAWS, BAND_ROUNDS = 8, 200
#: the bands measured by ``--band`` (see the docstring)
NAMES = ("task", "known", "queries")
TASKS = {"digits": "voting_smollm2_digits.json", "sequences": "voting_smollm2_sequences.json",
         "extremes": "voting_smollm2_extremes.json", "letters": "voting_smollm2_letters.json",
         "halves": "voting_smollm2_halves.json", "parity": "voting_smollm2_parity.json"}


def candidate_curve(counts: np.ndarray, name: str, seed: int) -> np.ndarray:
    """The task curve a candidate prior predicts from ``counts``."""
    if name.startswith("grid"):
        g = fit_grid_prior(counts, **grid_spec(name))
        return grid_predicted_curves(g, counts, KMAX)[0].mean(axis=0)
    return fit_law(counts, kmax=KMAX, components=int(name) if name.isdigit() else name, draws=0, seed=seed).curve


def old_rule_curve(counts: np.ndarray, seed: int) -> np.ndarray:
    """The rule ``components="auto"`` followed before the cross-validated choice."""
    if np.median(counts.sum(axis=1)) < 12:
        return candidate_curve(counts, "grid", seed)
    return predicted_curves(fit_prior(counts, components="auto", seed=seed), counts, KMAX).mean(axis=0)


def run(task: str, ms: list[int], draws: int) -> list[dict]:
    P = distributions(json.loads((DATA / TASKS[task]).read_text()))
    exact = exact_curve(P)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, draws):
        emp = empirical_curves(held_c, KMAX).mean(axis=0)
        t0 = time.perf_counter()
        auto = fit_law(fit_c, kmax=KMAX, draws=0, seed=rep)
        t_auto = time.perf_counter() - t0
        t0 = time.perf_counter()
        stack = fit_law(fit_c, kmax=KMAX, draws=0, seed=rep, components="stack")
        t_stack = time.perf_counter() - t0
        chosen, scores = choose_prior(fit_c, seed=rep, method="likelihood")
        chosen_x, errors_x = choose_prior(fit_c, seed=rep, method="extrapolation")
        curves = {name: candidate_curve(fit_c, name, rep) for name in CANDIDATES}
        mae = {name: float(np.abs(c - emp).mean()) for name, c in curves.items()}
        old = curves["grid"] if np.median(fit_c.sum(axis=1)) < 12 else old_rule_curve(fit_c, rep)
        row = {"task": task, "m": m, "rep": rep, "chosen": chosen, "scores": scores, "mae": mae,
               "chosen_extrapolation": chosen_x, "extrapolation_errors": errors_x,
               "stack_weights": stack.extras["stack"]["weights"],
               "mae_stack": float(np.abs(stack.curve - emp).mean()),
               "mae_pick-lik": mae[chosen], "mae_pick-extra": mae[chosen_x],
               "mae_auto": float(np.abs(auto.curve - emp).mean()),
               "mae_old": float(np.abs(old - emp).mean()),
               "mae_authors": float(np.abs(authors_curves(fit_c, KMAX, seed=rep).mean(axis=0) - emp).mean()),
               "curves": {name: [round(float(x), 6) for x in c] for name, c in curves.items()},
               "empirical": [round(float(x), 6) for x in emp], "exact": [round(float(x), 6) for x in exact],
               "floor": float(np.abs(exact - emp).mean()), "seconds_auto": t_auto, "seconds_stack": t_stack}
        rows.append(row)
        print(f"{task:>9} m={m:<2d} rep={rep} | auto {100 * row['mae_auto']:.2f} old {100 * row['mae_old']:.2f} "
              f"stack {100 * row['mae_stack']:.2f} pick-lik {chosen} pick-extra {chosen_x} | authors {100 * row['mae_authors']:.2f} floor {100 * row['floor']:.2f} | "
              + " ".join(f"{n} {100 * v:.2f} ({scores[n]:.4f})" for n, v in mae.items())
              + f" | {t_auto:.2f}s, stack {t_stack:.2f}s", flush=True)
    return rows


def band_coverage(task: str, ms: list[int], draws: int) -> list[dict]:
    """Per m and draw: how much of the held-out (and of the exact) curve ``fit_law``'s band holds."""
    P = distributions(json.loads((DATA / TASKS[task]).read_text()))
    exact = exact_curve(P)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, draws):
        emp = empirical_curves(held_c, KMAX).mean(axis=0)
        t0 = time.perf_counter()
        law = fit_law(fit_c, kmax=KMAX, draws=BAND_DRAWS, rounds=BAND_ROUNDS, seed=rep)
        seconds = time.perf_counter() - t0
        bands = {"task": (law.curve_low, law.curve_high)}
        # the band fit_law gave before the prior's own uncertainty was added (prior taken as known)
        D = grid_draw_curves(law.prior, fit_c, KMAX, BAND_DRAWS, "random", rep)
        _, lo, hi = draw_bootstrap(D, rounds=BAND_ROUNDS, level=law.level, seed=rep)
        bands["known"] = (np.minimum(lo, law.curve), np.maximum(hi, law.curve))
        # the same draws and rounds with the queries kept (what the band would be for these queries)
        _, lo, hi = draw_bootstrap(D, rounds=BAND_ROUNDS, level=law.level, seed=rep, resample_queries=False)
        bands["queries"] = (np.minimum(lo, law.curve), np.maximum(hi, law.curve))
        row = {"task": task, "m": m, "rep": rep, "level": law.level, "seconds_fit_with_band": seconds,
               "mae": float(np.abs(law.curve - emp).mean()), "miss_at_kmax": float(law.curve[-1] - emp[-1]),
               "bands": {}}
        for name, (low, high) in bands.items():
            inside = (low <= emp) & (emp <= high)
            row["bands"][name] = {"coverage": float(inside.mean()), "kmax_inside": bool(inside[-1]),
                         "coverage_exact": float(((low <= exact) & (exact <= high)).mean()),
                         "width_mean": float((high - low).mean()), "width_at_kmax": float(high[-1] - low[-1]),
                         "low": [round(float(x), 6) for x in low], "high": [round(float(x), 6) for x in high]}
        rows.append(row)
        print(f"{task:>9} m={m:<2d} rep={rep} | MAE {100 * row['mae']:.2f}, miss at K={KMAX} {100 * row['miss_at_kmax']:+.2f} | "
              + " | ".join(f"{n}: inside {100 * row['bands'][n]['coverage']:.0f}% of K (exact {100 * row['bands'][n]['coverage_exact']:.0f}%), "
                           f"K={KMAX} {'in' if row['bands'][n]['kmax_inside'] else 'OUT'}, width {100 * row['bands'][n]['width_mean']:.2f} "
                           f"({100 * row['bands'][n]['width_at_kmax']:.2f} at K={KMAX})" for n in bands)
              + f" | {seconds:.2f}s", flush=True)
    return rows


def band_main(tasks: list[str], ms: list[int], draws: int, out: Path) -> None:
    """``--band``: the band's coverage table and its JSON."""
    t0 = time.perf_counter()
    rows = [r for task in tasks for r in band_coverage(task, ms, draws)]
    print(f"\nshare of K = 1..{KMAX} where the held-out curve lies inside the 95% band (K = {KMAX} inside: "
          f"draws of {draws}), mean width in points; 'queries' keeps the queries")
    print(f"{'task':>9} {'m':>3} {'MAE':>5} " + " ".join(f"{n + ' band':>12} {'K=100 in':>8} {'width':>6}" for n in NAMES))
    summary = []
    for task in tasks:
        for m in ms:
            sel = [r for r in rows if r["task"] == task and r["m"] == m]
            s = {"task": task, "m": m, "draws": len(sel), "mae": 100 * float(np.mean([r["mae"] for r in sel]))}
            for n in NAMES:  # the bands under "bands" (a band named "task" would hide the task's name)
                s.setdefault("bands", {})[n] = {"coverage": 100 * float(np.mean([r["bands"][n]["coverage"] for r in sel])),
                        "kmax_inside": sum(r["bands"][n]["kmax_inside"] for r in sel),
                        "coverage_exact": 100 * float(np.mean([r["bands"][n]["coverage_exact"] for r in sel])),
                        "width_mean": 100 * float(np.mean([r["bands"][n]["width_mean"] for r in sel]))}
            summary.append(s)
            print(f"{task:>9} {m:>3} {s['mae']:5.2f} " + " ".join(
                f"{s['bands'][n]['coverage']:11.0f}% {s['bands'][n]['kmax_inside']:>4}/{len(sel)} "
                f"{s['bands'][n]['width_mean']:6.2f}" for n in NAMES))
    means = {n: {"coverage": float(np.mean([s["bands"][n]["coverage"] for s in summary])),
                 "kmax_inside": f"{sum(s['bands'][n]['kmax_inside'] for s in summary)}/{len(rows)}",
                 "width_mean": float(np.mean([s["bands"][n]["width_mean"] for s in summary]))} for n in NAMES}
    print(f"{'mean':>9} " + " | ".join(f"{n}: {v['coverage']:.1f}% of K, K={KMAX} inside {v['kmax_inside']}, width {v['width_mean']:.2f}"
                                      for n, v in means.items()))
    by_m = {m: {n: {"coverage": float(np.mean([s["bands"][n]["coverage"] for s in summary if s["m"] == m])),
                    "width_mean": float(np.mean([s["bands"][n]["width_mean"] for s in summary if s["m"] == m]))}
                for n in NAMES}
            for m in ms}
    for m, v in by_m.items():
        print(f"{'m = ' + str(m):>9} " + " | ".join(f"{n}: {w['coverage']:.1f}% of K, width {w['width_mean']:.2f}" for n, w in v.items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "draws": draws,
                               "band_draws": BAND_DRAWS, "band_rounds": BAND_ROUNDS, "seconds": time.perf_counter() - t0,
                               "means": means, "by_m": {str(m): v for m, v in by_m.items()}, "summary": summary,
                               "rows": rows}, indent=1))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="digits,sequences,extremes")
    ap.add_argument("--ms", default="4,8,10,16")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--out", default=None, help=f"JSON to write (default {OUT.name}, with --band {BAND_OUT.name})")
    ap.add_argument("--band", action="store_true", help="measure the predicted curve's band coverage instead")
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        ap.error(f"unknown task {unknown[0]!r}; choose from {', '.join(TASKS)}")
    ms = [int(x) for x in args.ms.split(",")]
    if args.band:
        band_main(tasks, ms, args.draws, Path(args.out or BAND_OUT))
        return
    args.out = args.out or str(OUT)
    t0 = time.perf_counter()
    rows = [r for task in tasks for r in run(task, ms, args.draws)]
    summary = []
    print(f"\nMAE over K = 1..{KMAX} in points vs the held-out empirical curve, mean over {args.draws} draws")
    head = (f"{'task':>9} {'m':>3} {'auto':>6} {'old':>6} {'stack':>6} {'pick-lik':>8} {'pick-extra':>10} "
            f"{'authors':>8} {'oracle':>7} {'floor':>6}")
    print(head + "".join(f" {n:>9}" for n in CANDIDATES))
    for task in tasks:
        for m in ms:
            sel = [r for r in rows if r["task"] == task and r["m"] == m]
            s = {"task": task, "m": m, "draws": len(sel),
                 **{k: 100 * float(np.mean([r[f"mae_{k}" if k != "floor" else k] for r in sel]))
                    for k in ("auto", "old", "stack", "pick-lik", "pick-extra", "authors", "floor")},
                 "oracle": 100 * float(np.mean([min(r["mae"].values()) for r in sel])),
                 "candidates": {n: 100 * float(np.mean([r["mae"][n] for r in sel])) for n in CANDIDATES},
                 "chosen": [r["chosen"] for r in sel], "chosen_extrapolation": [r["chosen_extrapolation"] for r in sel]}
            summary.append(s)
            print(f"{task:>9} {m:>3} {s['auto']:6.2f} {s['old']:6.2f} {s['stack']:6.2f} {s['pick-lik']:8.2f} "
                  f"{s['pick-extra']:10.2f} {s['authors']:8.2f} {s['oracle']:7.2f} {s['floor']:6.2f}"
                  + "".join(f" {s['candidates'][n]:9.2f}" for n in CANDIDATES))
    keys = ("auto", "old", "stack", "pick-lik", "pick-extra", "authors", "oracle", "floor")
    means = {k: float(np.mean([s[k] for s in summary])) for k in keys}
    print(f"{'mean':>9} {'':>3} " + " ".join(f"{k} {v:.2f}" for k, v in means.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "draws": args.draws, "candidates": CANDIDATES, "seconds": time.perf_counter() - t0, "means": means,
                               "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
