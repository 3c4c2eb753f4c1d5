"""Placement: this plugin's search vs the authors' greedy (re-implemented) vs their shipped placements.

Same workload, same simulated requests (the measured runs' counts, arrival seeds 0-2, mean) for every
placement at each ChatLMSYS load. Prints optimiser CPU time (wall time in the JSON), GPUs used, simulated goodput (sum over LLMs
of SLO-meeting requests / that LLM's last completion; SLO = 8 x latency alone), throughput (the
authors' top-level definition) and SLO attainment, with ours / shipped ratios.
Writes benchmarks/results/muxserve_placement.json.

    .venv/bin/python benchmarks/muxserve_placement.py
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from skyplex_muxserve.authors import authors_greedy
from skyplex_muxserve.placement import optimise
from skyplex_muxserve.plot import metric_vs_load, placement_diagram, throughput_vs_rate
from skyplex_muxserve.profiles import LatencyProfile
from skyplex_muxserve.simulator import SimConfig, simulate
from skyplex_muxserve.workload import load_measured, load_placement, load_workload

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "muxserve"
OUT = ROOT / "benchmarks" / "results" / "muxserve_placement.json"
SEEDS = (0, 1, 2)


def main() -> None:
    profile = LatencyProfile.load(DATA / "llama_a100_profile.json")
    loads = sorted(int(re.search(r"condense(\d+)", p.name).group(1)) for p in (DATA / "chatlmsys_workloads").glob("*.yaml"))
    rows = []
    print(f"{'load':>5} {'placement':<16} {'cpu s':>6} {'GPUs':>4} {'goodput':>8} {'thr':>6} {'SLO':>6} {'goodput/shipped':>15}")
    for c in loads:
        wl = load_workload(next((DATA / "chatlmsys_workloads").glob(f"*condense{c}_*.yaml")))
        meas = load_measured(next((DATA / "chatlmsys_reference" / "merged_results").glob(f"*condense{c}_*_flexsm.json")))
        counts = {k: int(v["request_num"]) for k, v in meas.per_llm.items()}
        plans = {}
        t0 = time.process_time()  # CPU seconds: the machine may be shared, wall time is reported too
        w0 = time.perf_counter()
        plans["ours"] = (optimise(wl, profile)[0], time.process_time() - t0, time.perf_counter() - w0)
        t0, w0 = time.process_time(), time.perf_counter()
        plans["authors-greedy"] = (authors_greedy(wl, profile)[0], time.process_time() - t0, time.perf_counter() - w0)
        shipped = sorted((DATA / "chatlmsys_reference" / "placements" / "flexsm").glob(f"*condense{c}_*.yaml"))
        plans["authors-shipped"] = (load_placement(shipped), float("nan"), float("nan"))
        sims = {}
        last_plans, last_sims = {}, {}
        for name, (plan, secs, wall) in plans.items():
            # three arrival seeds; figures are their means
            runs = [simulate(plan, wl, profile, SimConfig(seed=s, counts=counts)) for s in SEEDS]
            last_plans[name], last_sims[name] = plan, runs[0]
            sims[name] = sum(r.goodput for r in runs) / len(runs)
            rows.append({"load": c, "placement": name, "optimiser_cpu_s": secs, "optimiser_wall_s": wall,
                         "gpus": plan.total_gpus, "goodput": sims[name],
                         "goodput_per_seed": [r.goodput for r in runs],
                         "throughput": sum(r.throughput for r in runs) / len(runs),
                         "slo_attainment": sum(r.slo_attainment for r in runs) / len(runs),
                         "meshes": [[m.ngpus, [x.name for x in m.llms]] for m in plan.meshes]})
        for row in rows[-3:]:
            ratio = row["goodput"] / sims["authors-shipped"]
            row["goodput_vs_shipped"] = ratio
            print(f"{c:>5} {row['placement']:<16} {row['optimiser_cpu_s']:>6.2f} {row['gpus']:>4} {row['goodput']:>8.2f} "
                  f"{row['throughput']:>6.2f} {row['slo_attainment']:>6.1%} {ratio:>15.3f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1))
    figs = OUT.parent / "muxserve_figures"
    metric_vs_load(rows, "goodput", figs / "goodput_vs_load.png", "simulated goodput (req/s)")
    metric_vs_load(rows, "slo_attainment", figs / "slo_vs_load.png", "SLO attainment (latency <= 8 x alone)")
    heaviest = max(loads)
    wl = load_workload(next((DATA / "chatlmsys_workloads").glob(f"*condense{heaviest}_*.yaml")))
    for name, plan in last_plans.items():
        placement_diagram(plan, wl.nnodes, wl.gpus_per_node, figs / f"placement_{name}_x{heaviest}.png",
                          f"{name}, ChatLMSYS x{heaviest}")
    throughput_vs_rate(wl, last_sims, figs / f"throughput_vs_rate_x{heaviest}.png")
    print(f"figures in {figs.relative_to(ROOT)}")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
