"""Why the grid prior is least accurate with 4 answers per query, and fixes tried for it.

For each task (SmolLM2's measured answer distributions, ``benchmarks/data``), m answers per query
and independent draw (the same draws as ``voting_law.py`` / ``voting_prior_choice.py``: seed
1000 m + draw, then 400 held-out answers per query), the grid prior of ``fit_law``'s ``auto`` is
fitted on the m answers and, on the same likelihood matrix and the same grid curves:

* ``pen:R`` its ridge penalty set to R instead of ``grid_prior.PENALTY`` (30);
* ``res:C:D`` its smoothness set to C bumps in p_correct times a degree-D polynomial in the top
  share (``grid_prior.BASIS_CENTRES`` = 7, ``SHARE_DEGREE`` = 2);
* ``eb-pen`` / ``eb-res``: the penalty, or the resolution, chosen per fit by empirical Bayes: the
  Laplace approximation of the marginal likelihood of the answers with the g-model's coefficients
  integrated out under their Gaussian prior (the ridge is that prior's log density),
  ``log Z = ll(a) - R |a|^2 + d/2 log(2R) - 1/2 log det(-ll''(a) + 2R I)``;
* ``hyper``: the predicted curve averaged over the coefficients' Laplace posterior (32 draws)
  instead of plugging in their mode; ``hyper-sd`` is the sd of the task accuracy at K = 100 over
  those draws: how uncertain the fitted prior itself is about the extrapolated end of the curve.

Each is scored against the held-out empirical curve (MAE over K = 1..100, points). With ``--split``
the error at K = 100 of the default fit at the smallest m is split by what a query's answers showed
(more correct than its top wrong answer, a tie such as 2-2, fewer, none correct), against each
query's exact curve from its measured distribution.

    .venv/bin/python benchmarks/voting_few_answers.py [--tasks digits,sequences,extremes,letters] [--ms 4,8,10,16] [--draws 3] [--split]
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
from voting_law import KMAX, task_draws  # noqa: E402

from skyplex_voting import grid_prior as gp  # noqa: E402
from skyplex_voting.fit import empirical_curves  # noqa: E402
from skyplex_voting.law import lump_columns, plurality_curves  # noqa: E402

OUT = RESULTS / "voting_few_answers.json"
PENALTIES = (3.0, 10.0, 30.0, 100.0, 300.0)
RESOLUTIONS = ((4, 2), (5, 2), (7, 2), (10, 2), (7, 1), (5, 1))
HYPER_DRAWS = 32


class Likelihood:
    """The grid's per-row log-likelihoods of one draw's counts, shared by every variant."""

    def __init__(self, counts: np.ndarray) -> None:
        self.prior = gp.fit_grid_prior(counts)  # the default fit (and its grid and curves)
        rows, inv, mult = np.unique(counts, axis=0, return_inverse=True, return_counts=True)
        self.inverse, self.mult = inv.ravel(), mult.astype(float)
        self.ll = gp.support_loglik(rows, self.prior.support)
        self.E = np.exp(self.ll - self.ll.max(axis=1, keepdims=True))
        self.curves = self.prior.curves(KMAX)

    def gradient(self, a: np.ndarray, basis: np.ndarray) -> np.ndarray:
        z = basis @ a
        g = np.exp(z - logsumexp(z))
        den = self.E @ g
        return basis.T @ (((self.mult / den) @ self.E) * g - self.mult.sum() * g)

    def fit(self, basis: np.ndarray, penalty: float) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """Weights, coefficients, Laplace log evidence and the coefficients' posterior covariance."""
        w, a = gp._fit_smooth(self.ll, self.mult, basis, penalty)
        d, h = len(a), 1e-5
        hess = np.zeros((d, d))
        for j in range(d):
            e = np.zeros(d)
            e[j] = h
            hess[:, j] = (self.gradient(a + e, basis) - self.gradient(a - e, basis)) / (2 * h)
        H = -(hess + hess.T) / 2 + 2 * penalty * np.eye(d)
        loglik = float(self.mult @ np.log(self.E @ w))
        evidence = loglik - penalty * float(a @ a) + 0.5 * d * np.log(2 * penalty) - 0.5 * np.linalg.slogdet(H)[1]
        return w, a, evidence, np.linalg.inv(H)

    def per_query(self, weights: np.ndarray) -> np.ndarray:
        lp = np.log(np.maximum(weights, 1e-300))[None] + self.ll
        post = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
        return (post @ self.curves)[self.inverse]


def run(task: str, ms: list[int], draws: int, split: bool) -> list[dict]:
    P = load_task(task)
    per_query_exact = plurality_curves(lump_columns(P, 6)[0], KMAX)
    rows = []
    for m, rep, fit_c, held_c in task_draws(P, ms, draws):
        emp = empirical_curves(held_c, KMAX).mean(axis=0)
        t0 = time.perf_counter()
        lik = Likelihood(fit_c)
        curves, evidence = {}, {}
        default_basis = gp.smooth_basis(lik.prior.support)
        for pen in PENALTIES:
            w, a, ev, cov = lik.fit(default_basis, pen)
            curves[f"pen:{pen:g}"], evidence[f"pen:{pen:g}"] = lik.per_query(w).mean(axis=0), ev
            if pen == gp.PENALTY:
                rng = np.random.default_rng(rep)
                draws_a = a[None] + rng.standard_normal((HYPER_DRAWS, len(a))) @ np.linalg.cholesky(cov).T
                hyper = []
                for z in draws_a:
                    zz = default_basis @ z
                    hyper.append(lik.per_query(np.exp(zz - logsumexp(zz))).mean(axis=0))
                curves["hyper"] = np.mean(hyper, axis=0)
                hyper_sd = float(np.std([c[-1] for c in hyper]))
        for centres, degree in RESOLUTIONS:
            basis = gp.smooth_basis(lik.prior.support, centres=centres, degree=degree)
            w, _, ev, _ = lik.fit(basis, gp.PENALTY)
            curves[f"res:{centres}:{degree}"], evidence[f"res:{centres}:{degree}"] = lik.per_query(w).mean(axis=0), ev
        default = lik.per_query(lik.prior.weights)
        curves["auto"] = default.mean(axis=0)
        eb_pen = max((k for k in evidence if k.startswith("pen:")), key=evidence.get)
        eb_res = max((k for k in evidence if k.startswith("res:")), key=evidence.get)
        curves["eb-pen"], curves["eb-res"] = curves[eb_pen], curves[eb_res]
        mae = {k: 100 * float(np.abs(c - emp).mean()) for k, c in curves.items()}
        row = {"task": task, "m": m, "rep": rep, "mae": mae, "evidence": evidence, "eb_pen": eb_pen,
               "eb_res": eb_res, "hyper_sd_k100": 100 * hyper_sd,
               "bias_k100": {k: 100 * float(c[-1] - emp[-1]) for k, c in curves.items()},
               "seconds": time.perf_counter() - t0}
        if split and m == min(ms):
            c, top = fit_c[:, 0], fit_c[:, 1:-1].max(axis=1)
            err = default[:, -1] - per_query_exact[:, -1]
            row["split_k100"] = {name: {"queries": int(mask.sum()), "contribution": 100 * float(err[mask].sum() / len(err)),
                                        "predicted": float(default[mask, -1].mean()) if mask.any() else None,
                                        "true": float(per_query_exact[mask, -1].mean()) if mask.any() else None}
                                 for name, mask in (("correct ahead", c > top), ("tied", (c == top) & (c > 0)),
                                                    ("correct behind", (c > 0) & (c < top)), ("none correct", c == 0))}
        rows.append(row)
        print(f"{task:>9} m={m:<2d} rep={rep} auto {mae['auto']:.2f} eb-pen {eb_pen} {mae['eb-pen']:.2f} eb-res {eb_res} "
              f"{mae['eb-res']:.2f} hyper {mae['hyper']:.2f} (sd at K=100 {row['hyper_sd_k100']:.2f}) | "
              + " ".join(f"{k} {v:.2f}" for k, v in mae.items() if k.startswith(("pen:", "res:")))
              + f" | {row['seconds']:.1f}s", flush=True)
        if "split_k100" in row:
            print("      K=100 error by what the answers showed: " + "; ".join(
                f"{k} ({v['queries']}) {v['contribution']:+.2f}" for k, v in row["split_k100"].items()), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    task_arguments(ap, tasks="digits,sequences,extremes,letters", out=OUT)
    ap.add_argument("--split", action="store_true", help="split the K = 100 error at the smallest m by query kind")
    args = ap.parse_args()
    tasks, ms = parse_task_arguments(ap, args)
    t0 = time.perf_counter()
    rows = [r for task in tasks for r in run(task, ms, args.draws, args.split)]
    keys = list(rows[0]["mae"])
    print(f"\nMAE over K = 1..{KMAX} in points vs the held-out curve, mean over {args.draws} draws")
    print(f"{'task':>9} {'m':>3} " + " ".join(f"{k:>8}" for k in keys) + f" {'hyper-sd':>8}")
    summary = []
    for task in tasks:
        for m in ms:
            sel = [r for r in rows if r["task"] == task and r["m"] == m]
            s = {"task": task, "m": m, **{k: float(np.mean([r["mae"][k] for r in sel])) for k in keys},
                 "hyper_sd_k100": float(np.mean([r["hyper_sd_k100"] for r in sel]))}
            summary.append(s)
            print(f"{task:>9} {m:>3} " + " ".join(f"{s[k]:8.2f}" for k in keys) + f" {s['hyper_sd_k100']:8.2f}")
    means = {k: float(np.mean([s[k] for s in summary])) for k in keys}
    later = [s for s in summary if s["m"] >= 8] or summary
    means_8 = {k: float(np.mean([s[k] for s in later])) for k in keys}
    print(f"{'mean':>9} {'':>3} " + " ".join(f"{means[k]:8.2f}" for k in keys))
    print(f"{'m >= 8':>9} {'':>3} " + " ".join(f"{means_8[k]:8.2f}" for k in keys))
    write_results(args.out, {"draws": args.draws, "seconds": time.perf_counter() - t0, "means": means,
                             "means_m8": means_8, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
