"""Where the fitted voting law's error comes from, on the SmolLM2 arithmetic task of ``voting_law.py``.

The prediction error of the curve over K = 1..100 splits into a *level* error (accuracy at K = 1:
how many single answers are right, which m answers per query can only estimate) and a *gain* error
(accuracy at K = 100 minus at K = 1: what voting adds, which is what the prior's shape decides).
Over many independent draws of m answers per query, the mean of each error is the bias and its
spread the noise. Three priors are compared on the same draws, against the exact curve of the
measured distributions:

* ``1``: one Dirichlet (what ``components="auto"`` uses below 12 answers per query);
* ``2``: Dirichlet mixture (wrong answers alike + one dominant wrong answer);
* ``blend``: the middle of one Dirichlet and an easy/hard mixture of two (``components="blend"``);
* ``oracle 1`` / ``oracle 2``: the same shapes fitted once on 200 answers per query, then used as
  the prior for the m answers (so estimation noise in the prior is gone: what is left is the shape).

    .venv/bin/python benchmarks/voting_law_bias.py [--draws 12] [--ms 4,8,10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from skyplex_voting.fit import fit_law, fit_prior, predicted_curves  # noqa: E402
from skyplex_voting.law import lump_columns, plurality_curves  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from voting_law import DATA, WRONG_COLUMNS, distributions, draw_counts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "voting_law_bias.json"
KMAX = 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=12, help="independent draws of m answers per query")
    ap.add_argument("--ms", default="4,8,10")
    ap.add_argument("--wrong-columns", type=int, default=WRONG_COLUMNS,
                    help="wrong columns kept in the fitted counts (3 reproduces the earlier runs)")
    args = ap.parse_args()
    records = json.loads(DATA.read_text())
    P = distributions(records)
    ops = np.array([r["op"] for r in records])
    rows = []
    for name, mask in [("all", np.ones(len(P), bool)), ("-*", np.isin(ops, ["-", "*"])), ("*", ops == "*")]:
        Pm = P[mask]
        exact = plurality_curves(lump_columns(Pm, 6)[0], KMAX).mean(axis=0)
        many = draw_counts(Pm, 200, np.random.default_rng(5), keep=args.wrong_columns)
        oracles = {c: fit_prior(many, components=c) for c in (1, 2)}
        for m in (int(x) for x in args.ms.split(",")):
            errs: dict[str, list[tuple[float, float, float]]] = {}
            for d in range(args.draws):
                C = draw_counts(Pm, m, np.random.default_rng(50_000 + 100 * m + d), keep=args.wrong_columns)
                priors = {"1": fit_prior(C, components=1, seed=d), "2": fit_prior(C, components=2, seed=d),
                          "oracle 1": oracles[1], "oracle 2": oracles[2]}
                curves = {label: predicted_curves(prior, C, KMAX).mean(axis=0) for label, prior in priors.items()}
                curves["blend"] = fit_law(C, kmax=KMAX, components="blend", draws=0, seed=d).curve
                for label, curve in curves.items():
                    level = curve[0] - exact[0]
                    gain = (curve[-1] - curve[0]) - (exact[-1] - exact[0])
                    errs.setdefault(label, []).append((float(np.abs(curve - exact).mean()), float(level), float(gain)))
            for label, e in errs.items():
                a = np.array(e) * 100
                rows.append({"task": name, "queries": int(mask.sum()), "m": m, "prior": label, "draws": args.draws,
                             "wrong_columns": args.wrong_columns,
                             "mae": float(a[:, 0].mean()), "level_bias": float(a[:, 1].mean()),
                             "level_sd": float(a[:, 1].std()), "gain_bias": float(a[:, 2].mean()),
                             "gain_sd": float(a[:, 2].std()), "true_gain": float(100 * (exact[-1] - exact[0]))})
                r = rows[-1]
                print(f"{name:>4} m={m:<3d} {label:>9}: MAE {r['mae']:.2f} | level bias {r['level_bias']:+.2f} "
                      f"sd {r['level_sd']:.2f} | gain bias {r['gain_bias']:+.2f} sd {r['gain_sd']:.2f} "
                      f"(true gain {r['true_gain']:+.2f}) pts", flush=True)
    target = [r for r in rows if r["prior"] in ("1", "blend")]
    for label in ("1", "blend"):
        cells = [r for r in target if r["prior"] == label]
        met = sum(r["mae"] <= 2.0 for r in cells)
        print(f"prior {label}: MAE <= 2 points in {met} of {len(cells)} cells "
              f"(worst {max(r['mae'] for r in cells):.2f})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"wrong_columns": args.wrong_columns, "rows": rows}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
