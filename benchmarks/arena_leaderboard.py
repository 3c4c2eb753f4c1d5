"""Arena leaderboard of the 135,634 real votes: time for Bradley-Terry + sandwich intervals and for a
100-round bootstrap, and the same recipe fitted independently with scikit-learn (weighted logistic
regression, no penalty) and with choix (its maximum-likelihood pairwise solver) in the same run.
Ratings must agree within 0.01 points.

    .venv/bin/python benchmarks/arena_leaderboard.py [--votes PATH] [--rounds 100] [--with-choix]

Needs scikit-learn and/or choix for the comparison (skipped with a note when missing).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from skyplex_arena.battles import load_battles
from skyplex_arena.leaderboard import build_leaderboard
from skyplex_arena.ratings import SCALE, fit_bradley_terry, pair_counts

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "arena_leaderboard.json"
VOTES = ROOT / ".." / "shared" / "data" / "arena" / "arena_human_preference_140k_battles.jsonl.gz"


def timed(fn, repeat: int = 3):
    """(best wall time over ``repeat`` runs, last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def sklearn_ratings(battles) -> np.ndarray:
    """The same recipe with scikit-learn: one weighted row per (pair, outcome), ties as half a win each."""
    from sklearn.linear_model import LogisticRegression

    c = pair_counts(battles)
    n, k = c.n_models, c.i.size
    x = np.zeros((2 * k, n))
    rows = np.arange(k)
    for half in (0, 1):
        x[half * k + rows, c.i] = 1.0
        x[half * k + rows, c.j] = -1.0
    y = np.r_[np.ones(k), np.zeros(k)]
    w = np.r_[c.wins + 0.5 * c.ties, c.losses + 0.5 * c.ties]
    lr = LogisticRegression(C=np.inf, fit_intercept=False, solver="lbfgs", tol=1e-12, max_iter=100_000)
    lr.fit(x, y, sample_weight=w / w.mean())
    coef = lr.coef_[0]
    return SCALE * (coef - coef.mean()) + 1000.0


def choix_ratings(battles) -> np.ndarray:
    """The same recipe with choix: ties and both-bad as half a win each way (choix takes whole
    comparisons, so every count is doubled and a tie becomes one win each way)."""
    import choix

    c = pair_counts(battles)
    data = []
    for i, j, w, lo, t in zip(c.i, c.j, c.wins, c.losses, c.ties):
        data += [(int(i), int(j))] * int(2 * w + t) + [(int(j), int(i))] * int(2 * lo + t)
    params = choix.opt_pairwise(c.n_models, data, alpha=0.0, method="BFGS", initial_params=None, max_iter=None,
                                tol=1e-10)
    return SCALE * (params - params.mean()) + 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--votes", type=Path, default=VOTES)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--with-choix", action="store_true",
                    help="Also fit with choix (about a minute: it loops over the ~270k comparisons in Python).")
    args = ap.parse_args()
    console = Console(width=140)
    start = time.perf_counter()
    battles = load_battles(args.votes)
    load_s = time.perf_counter() - start
    sandwich_s, board = timed(lambda: build_leaderboard(battles, ci="sandwich", elo=False))
    fit_s, fit = timed(lambda: fit_bradley_terry(battles))
    boot_s, boot = timed(lambda: build_leaderboard(battles, ci="bootstrap", rounds=args.rounds, seed=0, elo=False), 2)
    ours = fit.ratings
    rows = [{"implementation": "skyplex-arena BT (L-BFGS + Newton polish) + sandwich", "seconds": sandwich_s,
             "max_abs_diff": 0.0}]
    rows.append({"implementation": f"skyplex-arena BT + bootstrap ({args.rounds} rounds)", "seconds": boot_s,
                 "max_abs_diff": 0.0})
    notes = []
    others = [("scikit-learn LogisticRegression (lbfgs)", sklearn_ratings)]
    if args.with_choix:
        others.append(("choix opt_pairwise (BFGS)", choix_ratings))
    for name, fn in others:
        try:
            secs, theirs = timed(lambda fn=fn: fn(battles), 1)
        except ImportError as exc:
            notes.append(f"{name}: not installed ({exc.name})")
            continue
        rows.append({"implementation": name, "seconds": secs, "max_abs_diff": float(np.abs(theirs - ours).max())})
    top = board.rows[0]
    table = Table(title=f"Arena leaderboard of {len(battles):,} real votes, {len(battles.models)} models "
                        f"(load {load_s:.2f}s, BT fit alone {fit_s * 1000:.0f} ms)")
    for col in ("implementation", "seconds", "max |rating diff| vs ours", "agrees within 0.01"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["implementation"], f"{r['seconds']:.3f}", f"{r['max_abs_diff']:.2e}",
                      "yes" if r["max_abs_diff"] < 0.01 else "NO")
    console.print(table)
    t2 = Table(title="top 5 (sandwich vs bootstrap 95% intervals)")
    for col in ("rank", "model", "rating", "sandwich CI", "bootstrap CI", "votes"):
        t2.add_column(col)
    boot_rows = {r.model: r for r in boot.rows}
    for r in board.rows[:5]:
        b = boot_rows[r.model]
        t2.add_row(str(r.rank), r.model, f"{r.rating:.1f}", f"{r.ci_low:.1f} .. {r.ci_high:.1f}",
                   f"{b.ci_low:.1f} .. {b.ci_high:.1f}", str(r.votes))
    console.print(t2)
    for n in notes:
        console.print(f"[yellow]note:[/] {n}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "votes": len(battles), "models": len(battles.models), "load_s": load_s, "bt_fit_s": fit_s,
        "sandwich_leaderboard_s": sandwich_s, "bootstrap_leaderboard_s": boot_s, "bootstrap_rounds": args.rounds,
        "top": {"model": top.model, "rating": top.rating, "ci_low": top.ci_low, "ci_high": top.ci_high,
                "rank": top.rank},
        "implementations": rows, "notes": notes, "machine": platform.platform(),
        "leaderboard": [r.model_dump() for r in board.rows],
    }, indent=2))
    console.print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
