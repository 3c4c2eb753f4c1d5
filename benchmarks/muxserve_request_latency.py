"""Per-request latency of the simulator against the authors' measured runs: fit on one load, check on the others.

The simulator's top-level throughputs match the 15 measured ChatLMSYS runs, but its per-request
mean TTFT and TPOT are lower than measured. This benchmark asks whether the two knobs that could
account for it without new data close the gap: how dispersed prompt/output lengths are
(``length_cv``; the runs' per-request lengths are not published, only their means) and how much slower
the serving runtime's decode step is than the profiled kernel (``decode_scale``: one factor for
single-GPU meshes, one for tensor-parallel meshes). The knobs are fitted on the lightest load only
(x500: the three runs), choosing, among the settings that keep those three throughputs within
+-10%, the one whose worst median TPOT ratio is closest to 1; then every other load is simulated
with the fitted setting and with the profile as measured (the validated default), same seed, and
compared per run:

* ``error``: simulated / measured top-level throughput - 1,
* ``ttft`` / ``tpot``: median over the run's LLMs of simulated / measured mean TTFT / TPOT,
* ``p90 ttft``: the same for the 90th percentile (is the gap in the tail or everywhere?),
* ``p90 lat``: the same for the 90th percentile of arrival-to-last-token latency.

Writes benchmarks/results/muxserve_request_latency.json.

    .venv/bin/python benchmarks/muxserve_request_latency.py [--seed N] [--fit-load 500]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import statistics
import time
from pathlib import Path

from skyplex_muxserve.profiles import LatencyProfile
from skyplex_muxserve.validation import validate_run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "muxserve"
OUT = ROOT / "benchmarks" / "results" / "muxserve_request_latency.json"
KINDS = ("flexsm", "spatial", "temporal")
GRID = {"length_cv": (0.5, 0.7, 1.0), "single": (1.0, 1.1, 1.2), "parallel": (1.0, 1.2, 1.4)}
KEYS = {"ttft": "ttft_mean", "tpot": "tpot_mean", "p90 ttft": "p90_ttft", "p90 lat": "p90_latency"}


def _files(c: int, kind: str) -> tuple[Path, list[Path], Path]:
    wl = next((DATA / "chatlmsys_workloads").glob(f"*condense{c}_*.yaml"))
    place = sorted((DATA / "chatlmsys_reference" / "placements" / kind).glob(f"*condense{c}_*.yaml"))
    meas = next((DATA / "chatlmsys_reference" / "merged_results").glob(f"*condense{c}_*_{kind}.json"))
    return wl, place, meas


def run(profile: LatencyProfile, c: int, kind: str, seed: int, knobs: dict) -> dict:
    """One measured run simulated with ``knobs``: throughput error and median per-LLM latency ratios."""
    wl, place, meas = _files(c, kind)
    r = validate_run(wl, place, meas, kind, profile, seed=seed, **knobs)
    out = {"error": r["error"]}
    for label, key in KEYS.items():
        out[label] = statistics.median(v[key][0] / v[key][1] for v in r["per_llm"].values() if v[key][1] > 0)
    return out


def knobs_of(cv: float, single: float, parallel: float) -> dict:
    return {"length_cv": cv, "decode_scale": (single, parallel)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit-load", type=int, default=500)
    args = ap.parse_args()
    profile = LatencyProfile.load(DATA / "llama_a100_profile.json")
    loads = sorted(int(re.search(r"condense(\d+)", p.name).group(1)) for p in (DATA / "chatlmsys_workloads").glob("*.yaml"))
    t0 = time.perf_counter()
    fits = []
    for cv, single, parallel in itertools.product(*GRID.values()):
        knobs = knobs_of(cv, single, parallel)
        runs = [run(profile, args.fit_load, kind, args.seed, knobs) for kind in KINDS]
        worst_tpot = max(abs(math.log(r["tpot"])) for r in runs)
        ok = all(abs(r["error"]) <= 0.10 for r in runs)
        fits.append({"knobs": knobs, "throughput_ok": ok, "worst_log_tpot": worst_tpot, "runs": runs})
    admissible = [f for f in fits if f["throughput_ok"]]
    best = min(admissible, key=lambda f: f["worst_log_tpot"])
    print(f"fit on x{args.fit_load} ({len(fits)} settings, {len(admissible)} keep its throughputs within +-10%, "
          f"{time.perf_counter() - t0:.0f} s): length_cv {best['knobs']['length_cv']}, decode_scale "
          f"{best['knobs']['decode_scale']} (single GPU, tensor-parallel)\n")
    settings = {"profile as measured": knobs_of(1.0, 1.0, 1.0), "fitted": best["knobs"]}
    rows = []
    head = f"{'load':>5} {'placement':<9} {'setting':<20} {'error':>7} " + " ".join(f"{k:>8}" for k in KEYS)
    print(head)
    for c in loads:
        for kind in KINDS:
            for name, knobs in settings.items():  # both settings on the same run, one after the other
                r = run(profile, c, kind, args.seed, knobs)
                r.update(load=c, kind=kind, setting=name, fitted_on=c == args.fit_load)
                rows.append(r)
                print(f"{c:>5} {kind:<9} {name:<20} {r['error']:>+7.1%} " + " ".join(f"{r[k]:>8.2f}" for k in KEYS))
    for name in settings:
        held = [r for r in rows if r["setting"] == name and not r["fitted_on"]]
        print(f"\n{name}, loads not fitted on ({len(held)} runs): throughput within +-10% in "
              f"{sum(abs(r['error']) <= 0.10 for r in held)}; median TTFT ratio within +-25% in "
              f"{sum(0.75 <= r['ttft'] <= 1.25 for r in held)}; median TPOT ratio within +-25% in "
              f"{sum(0.75 <= r['tpot'] <= 1.25 for r in held)}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"seed": args.seed, "fit_load": args.fit_load, "grid": GRID, "fit": best,
                               "settings": settings, "rows": rows}, indent=1, default=list))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
