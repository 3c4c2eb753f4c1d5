"""Simulator vs the authors' 15 measured ChatLMSYS runs (5 loads x MuxServe/spatial/temporal).

Each run is simulated with the measured request counts and, for MuxServe, the SM shares the run
actually used. Prints simulated vs measured top-level throughput (request-weighted mean of per-LLM
requests / last completion), the error per run, whether flexsm > spatial > temporal holds at each
load, and the CPU time per run (reading its files included). Writes benchmarks/results/muxserve_simulator.json.

    .venv/bin/python benchmarks/muxserve_simulator.py [--seed N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from skyplex_muxserve.profiles import LatencyProfile
from skyplex_muxserve.validation import validate_run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "muxserve"
OUT = ROOT / "benchmarks" / "results" / "muxserve_simulator.json"
KINDS = ("flexsm", "spatial", "temporal")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    profile = LatencyProfile.load(DATA / "llama_a100_profile.json")
    loads = sorted(int(re.search(r"condense(\d+)", p.name).group(1)) for p in (DATA / "chatlmsys_workloads").glob("*.yaml"))
    rows, order_ok = [], {}
    print(f"{'load':>5} {'placement':<9} {'simulated':>9} {'measured':>9} {'error':>7} {'cpu s':>6}   "
          "median over LLMs of simulated/measured: p99 latency, TTFT, TPOT, prefill batch, decode batch")
    for c in loads:
        wl = next((DATA / "chatlmsys_workloads").glob(f"*condense{c}_*.yaml"))
        sims = {}
        for kind in KINDS:
            place = sorted((DATA / "chatlmsys_reference" / "placements" / kind).glob(f"*condense{c}_*.yaml"))
            meas = next((DATA / "chatlmsys_reference" / "merged_results").glob(f"*condense{c}_*_{kind}.json"))
            t0, w0 = time.process_time(), time.perf_counter()
            r = validate_run(wl, place, meas, kind, profile, seed=args.seed)
            r["sim_seconds"] = time.process_time() - t0  # CPU seconds, files read included
            r["wall_seconds"] = time.perf_counter() - w0
            r["load"] = c
            sims[kind] = r["simulated"]
            rows.append(r)
            ratios = {key: statistics.median(v[key][0] / v[key][1] for v in r["per_llm"].values() if v[key][1] > 0)
                      for key in ("p99_latency", "ttft_mean", "tpot_mean", "prefill_batch", "decode_batch")}
            r["median_ratios"] = ratios
            print(f"{c:>5} {kind:<9} {r['simulated']:>9.2f} {r['measured']:>9.2f} {r['error']:>+7.1%} {r['sim_seconds']:>6.2f}   "
                  f"{ratios['p99_latency']:.2f} {ratios['ttft_mean']:.2f} {ratios['tpot_mean']:.2f} "
                  f"{ratios['prefill_batch']:.2f} {ratios['decode_batch']:.2f}")
        order_ok[c] = sims["flexsm"] > sims["spatial"] > sims["temporal"]
    within = sum(abs(r["error"]) <= 0.10 for r in rows)
    print(f"\nwithin +-10%: {within}/{len(rows)}; flexsm > spatial > temporal at loads: "
          + ", ".join(f"{c}:{'yes' if ok else 'NO'}" for c, ok in order_ok.items()))
    print(f"mean |error| {sum(abs(r['error']) for r in rows) / len(rows):.1%}; "
          f"slowest run {max(r['sim_seconds'] for r in rows):.2f} CPU s (files read included)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"seed": args.seed, "runs": rows, "order_holds": order_ok, "within_10pct": within}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
