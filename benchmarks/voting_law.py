"""Voting law on real answers of the local SmolLM2-135M: predicted vs held-out accuracy against K.

The task: 240 few-shot single-digit arithmetic questions (+, -, *) generated with known answers
(``skyplex_voting.tasks``). For each, the model's next-token distribution over the ten digits was
read once (``benchmarks/data/voting_smollm2_digits.json``; ``--collect`` measures it again, ~15 min
on 2 busy cores); a temperature-1 answer is a draw from it. Per query we draw m answers to fit on and
400 held-out answers, then compare, over K = 1..100:

* ours: the pooled prior (empirical Bayes; ``components="auto"``, which blends one Dirichlet and an
  easy/hard mixture below 12 answers per query), posterior-predictive exact curve;
* the paper's fitter (re-implemented in ``skyplex_voting.baseline``: per-query Monte Carlo at
  K = 1, 10, 100, 1000 with 100 trials, then the 3-parameter exponential fits), same samples;

against the held-out empirical curve (plug-in from 400 answers, bootstrap band) and the exact curve
of the measured distributions. Also: whether the predicted optimal K lies in the empirical optimum's
interval, fitting time for 1,000 queries at K = 1..100 on one core, and calls saved by adaptive K.

    .venv/bin/python benchmarks/voting_law.py [--collect] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from skyplex_voting.adaptive import simulate_adaptive  # noqa: E402
from skyplex_voting.baseline import authors_curves  # noqa: E402
from skyplex_voting.fit import bootstrap_band, empirical_curves, fit_law  # noqa: E402
from skyplex_voting.grid_prior import fit_grid_prior, grid_predicted_curves  # noqa: E402
from skyplex_voting.law import lump_columns, optimal_k, plurality_curves  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "voting_smollm2_digits.json"
OUT = ROOT / "benchmarks" / "results" / "voting_law.json"
DIGITS = "0123456789"
KMAX = 100
HELD = 400


def collect() -> None:
    """Measure SmolLM2's digit distributions for the generated task (slow: one forward per query)."""
    from skyplex.models.local import LocalBackend
    from skyplex_voting.tasks import digit_arithmetic, digit_distribution

    backend = LocalBackend(data_dir=ROOT / ".data" / "test", threads=2)
    queries = digit_arithmetic(240, seed=0)
    out = []
    for i in range(0, len(queries), 16):
        chunk = queries[i:i + 16]
        for q, d in zip(chunk, digit_distribution(backend, [q["prompt"] for q in chunk])):
            out.append({**q, "probs": d})
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(out, indent=0))


def distributions(records: list[dict]) -> np.ndarray:
    """Rows [correct, the 9 largest wrong answers (largest first), other tokens]: a digit task has at
    most 9 wrong answers; a letter task's smaller ones join the other tokens."""
    rows = []
    for r in records:
        p = r["probs"]
        wrong = sorted((v for k, v in p.items() if k != r["answer"]), reverse=True)[:9]
        wrong += [0.0] * (9 - len(wrong))
        pc = p.get(r["answer"], 0.0)
        rows.append([pc] + wrong + [max(0.0, 1.0 - pc - sum(wrong))])
    P = np.array(rows)
    return P / P.sum(axis=1, keepdims=True)


#: wrong columns the counts keep: the digits leave 9 wrong answers, the exact law keeps 6 (the rest
#: join the abstain column). Keeping fewer made the fitted prior spread the wrong answers' mass over
#: too few columns (and the fit then depended on how many columns were kept; see voting_law_bias.py)
WRONG_COLUMNS = 6
#: what this run's fitted counts keep (``--wrong-columns``)
WRONG_COLUMNS_IN_USE = WRONG_COLUMNS


def draw_counts(P: np.ndarray, m: int, rng: np.random.Generator, keep: int | None = None) -> np.ndarray:
    """m temperature-1 answers per query as counts [correct, top `keep` wrong seen, rest + other]."""
    keep = WRONG_COLUMNS_IN_USE if keep is None else keep
    C = np.array([rng.multinomial(m, p) for p in P])
    wrong = -np.sort(-C[:, 1:-1], axis=1)  # the law's wrong columns are exchangeable: order by count
    return np.concatenate([C[:, :1], wrong[:, :keep], (wrong[:, keep:].sum(axis=1) + C[:, -1])[:, None]], axis=1)


def compare_curve(counts: np.ndarray, prior: int | str, seed: int) -> np.ndarray:
    """The predicted curve of a compared prior: any ``fit_law`` components, or ``grid:N`` (the grid
    prior with N levels of the second wrong answer's share; ``grid:1`` is the one-peak grid;
    ``grid:N:R`` with ridge penalty R)."""
    if isinstance(prior, str) and prior.startswith("grid:"):
        parts = prior.split(":")
        g = fit_grid_prior(counts, seconds=int(parts[1]), **({"penalty": float(parts[2])} if len(parts) > 2 else {}))
        return grid_predicted_curves(g, counts, KMAX)[0].mean(axis=0)
    return fit_law(counts, kmax=KMAX, components=prior, draws=0, seed=seed).curve


def exact_curve(P: np.ndarray) -> np.ndarray:
    """The task's accuracy at K = 1..KMAX from its true answer distributions (6 wrong columns kept)."""
    return plurality_curves(lump_columns(P, 6)[0], KMAX).mean(axis=0)


def task_draws(P: np.ndarray, ms: list[int], reps: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(m, rep, fit counts, held-out counts)`` per m and draw: m answers per query to fit on and
    HELD others for the empirical curve, from one seed per (m, rep), so every benchmark that draws
    through here fits and scores on the same answers."""
    for m in ms:
        for rep in range(reps):
            rng = np.random.default_rng(1000 * m + rep)
            fit_c = draw_counts(P, m, rng)
            yield m, rep, fit_c, draw_counts(P, HELD, rng, keep=WRONG_COLUMNS)


def run_task(name: str, P: np.ndarray, ms: list[int], reps: int, components: int | str = "auto",
             interval_draws: int = 8, compare: tuple = ()) -> list[dict]:
    """Per m and draw: ours (``components``), the authors' fitter and each prior in ``compare``
    (curve only), all on the same answers, against the held-out and the exact curve."""
    exact = exact_curve(P)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, reps):
        emp_q = empirical_curves(held_c, KMAX)
        emp = emp_q.mean(axis=0)
        _, _, emp_int = bootstrap_band(emp_q, rounds=300, seed=rep)
        emp_k = optimal_k(emp)[0]
        t0 = time.perf_counter()
        law = fit_law(fit_c, kmax=KMAX, components=components, draws=interval_draws, rounds=200, seed=rep)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = authors_curves(fit_c, KMAX, seed=rep).mean(axis=0)
        t_theirs = time.perf_counter() - t0
        their_k = optimal_k(theirs)[0]
        others = {}
        for c in compare:
            curve = compare_curve(fit_c, c, rep)
            k_other = optimal_k(curve)[0]
            others[str(c)] = {"mae_heldout": float(np.abs(curve - emp).mean()),
                              "mae_exact": float(np.abs(curve - exact).mean()), "k_opt": k_other,
                              "k_in_heldout_interval": bool(emp_int[0] <= k_other <= emp_int[1])}
        rows.append({
            "task": name, "queries": len(P), "m": m, "rep": rep,
            "mae_ours_heldout": float(np.abs(law.curve - emp).mean()),
            "mae_authors_heldout": float(np.abs(theirs - emp).mean()),
            "mae_ours_exact": float(np.abs(law.curve - exact).mean()),
            "mae_authors_exact": float(np.abs(theirs - exact).mean()),
            "k_opt_ours": law.k_opt, "k_interval_ours": list(law.k_interval), "k_opt_authors": their_k,
            "k_opt_heldout": emp_k, "k_interval_heldout": list(emp_int),
            "k_opt_exact": optimal_k(exact)[0],
            "ours_k_in_heldout_interval": bool(emp_int[0] <= law.k_opt <= emp_int[1]),
            "authors_k_in_heldout_interval": bool(emp_int[0] <= their_k <= emp_int[1]),
            "seconds_ours": t_ours, "seconds_authors": t_theirs,
            "acc_k1_heldout": float(emp[0]), "acc_kopt_heldout": float(emp[emp_k - 1]),
            "components": str(components), "compare": others,
        })
        r = rows[-1]
        print(f"{name:>6} m={m:<3d} rep={rep} MAE ours {100 * r['mae_ours_heldout']:.2f} pts, authors "
              f"{100 * r['mae_authors_heldout']:.2f} pts | K* ours {law.k_opt} {law.k_interval} authors {their_k}"
              f" held-out {emp_k} {emp_int} | {t_ours:.1f}s vs {t_theirs:.1f}s"
              + "".join(f" | {c} {100 * o['mae_heldout']:.2f}" for c, o in others.items()), flush=True)
    return rows


def _components(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def fit_speed(P: np.ndarray, reps: int = 3, components: int | str = "auto", draws: int = 0) -> dict:
    """Fit + curve K = 1..100 for 1,000 queries (resampled from the task) with 8 answers each;
    ``draws`` > 0 adds the optimum's interval and the curve's band from that many posterior draws."""
    rng = np.random.default_rng(7)
    P1000 = P[rng.integers(0, len(P), 1000)]
    C = draw_counts(P1000, 8, rng)  # with the run's --wrong-columns (6 costs ~3^3 more per curve than 3)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fit_law(C, kmax=KMAX, draws=draws, components=components)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    authors_curves(C[:100], KMAX)
    authors_100 = time.perf_counter() - t0
    return {"queries": 1000, "kmax": KMAX, "components": str(components), "draws": draws, "wrong_columns": C.shape[1] - 2, "best_seconds": min(times), "all_seconds": times,
            "authors_seconds_per_1000_extrapolated": authors_100 * 10}


def adaptive(P: np.ndarray, k: int) -> list[dict]:
    out = [simulate_adaptive(P, k, runs=1000, seed=3)]
    for d in (2, 3, 4, 5):
        out.append(simulate_adaptive(P, k, margin=d, runs=1000, seed=3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collect", action="store_true", help="measure the model's distributions again first")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ms", default="4,8,10,16")
    ap.add_argument("--speed-only", action="store_true", help="only time the fit of 1,000 queries (no JSON written)")
    ap.add_argument("--band-draws", type=int, default=0,
                    help="with --speed-only: posterior draws per query for the K interval and the curve's band (0: neither)")
    ap.add_argument("--components", default="auto", help="fit_law's components for ours (default: its default)")
    ap.add_argument("--compare", default="", help="comma-separated priors also fitted on the same draws (e.g. blend,1)")
    ap.add_argument("--wrong-columns", type=int, default=WRONG_COLUMNS,
                    help="wrong columns kept in the fitted counts (3 reproduces the earlier runs)")
    args = ap.parse_args()
    global WRONG_COLUMNS_IN_USE
    WRONG_COLUMNS_IN_USE = args.wrong_columns
    if args.collect or not DATA.exists():
        collect()
    records = json.loads(DATA.read_text())
    P = distributions(records)
    ops = np.array([r["op"] for r in records])
    components = _components(args.components)
    compare = tuple(_components(c) for c in args.compare.split(",") if c)
    if args.speed_only:
        speed = fit_speed(P, components=components, draws=args.band_draws)
        print(f"fit 1,000 queries, K=1..100, {speed['wrong_columns']} wrong columns, components={args.components}, "
              f"band draws {args.band_draws}: "
              f"{speed['best_seconds']:.2f} s (first {speed['all_seconds'][0]:.2f} s; one core, best of "
              f"{len(speed['all_seconds'])}); the authors' fitter ~{speed['authors_seconds_per_1000_extrapolated']:.0f} s")
        return
    ms = [int(x) for x in args.ms.split(",")]
    rows = []
    for name, mask in [("all", np.ones(len(P), bool)), ("-*", np.isin(ops, ["-", "*"])), ("*", ops == "*")]:
        rows += run_task(name, P[mask], ms, args.reps, components=components, compare=compare)
    speed = fit_speed(P, components=components)
    print(f"fit 1,000 queries, K=1..100: {speed['best_seconds']:.2f} s (one core); the authors' fitter "
          f"~{speed['authors_seconds_per_1000_extrapolated']:.0f} s")
    ada = adaptive(P, 15)
    for a in ada:
        rule = "curtail" if a["margin"] is None else f"margin {a['margin']}"
        print(f"adaptive K<=15 {rule:>9}: accuracy {a['accuracy']:.4f} (fixed K=15 {a['fixed_accuracy']:.4f}), "
              f"mean calls {a['mean_calls']:.2f}, saved {100 * a['calls_saved']:.1f}%")
    summary = []
    from rich.console import Console
    from rich.table import Table

    table = Table(title="voting law: MAE over K=1..100 vs held-out (points), mean over reps")
    for col in ("task", "m", f"ours ({args.components})", "authors", "ratio", "ours vs exact", "K* in CI ours",
                "K* in CI authors", *(str(c) for c in compare)):
        table.add_column(col)
    for name in dict.fromkeys(r["task"] for r in rows):
        for m in ms:
            sel = [r for r in rows if r["task"] == name and r["m"] == m]
            ours = np.mean([r["mae_ours_heldout"] for r in sel]) * 100
            theirs = np.mean([r["mae_authors_heldout"] for r in sel]) * 100
            summary.append({"task": name, "m": m, "mae_ours": ours, "mae_authors": theirs,
                            "mae_ours_exact": np.mean([r["mae_ours_exact"] for r in sel]) * 100,
                            "k_in_ci_ours": sum(r["ours_k_in_heldout_interval"] for r in sel),
                            "k_in_ci_authors": sum(r["authors_k_in_heldout_interval"] for r in sel), "reps": len(sel),
                            "mae_compare": {str(c): 100 * float(np.mean([r["compare"][str(c)]["mae_heldout"] for r in sel]))
                                            for c in compare}})
            s = summary[-1]
            table.add_row(name, str(m), f"{ours:.2f}", f"{theirs:.2f}", f"{theirs / ours:.1f}x",
                          f"{s['mae_ours_exact']:.2f}", f"{s['k_in_ci_ours']}/{len(sel)}", f"{s['k_in_ci_authors']}/{len(sel)}",
                          *(f"{v:.2f}" for v in s["mae_compare"].values()))
    Console().print(table)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "components": args.components, "compare": [str(c) for c in compare],
                               "wrong_columns": args.wrong_columns, "summary": summary, "rows": rows, "fit_speed": speed, "adaptive": ada}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
