"""KV-cache policies on the same simulated trace: fixed quotas vs ADBS (periodic re-balancing) vs elastic.

The authors' shipped MuxServe placements at every ChatLMSYS load, 30 s of arrivals (Poisson and
bursty Gamma CV=3), seeds 0-2. Run twice: with the placements' own batch caps (max_num_seqs), and
with every cap lifted to 256 so KV quotas are what binds. Prints goodput, SLO attainment and
preemptions per policy, and ratios to fixed quotas. Writes benchmarks/results/muxserve_kv.json.

    .venv/bin/python benchmarks/muxserve_kv.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from skyplex_muxserve.profiles import LatencyProfile
from skyplex_muxserve.simulator import SimConfig, simulate
from skyplex_muxserve.workload import load_placement, load_workload

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "muxserve"
OUT = ROOT / "benchmarks" / "results" / "muxserve_kv.json"
POLICIES = ("fixed", "adbs", "elastic")
SEEDS = (0, 1, 2)


def main() -> None:
    profile = LatencyProfile.load(DATA / "llama_a100_profile.json")
    loads = sorted(int(re.search(r"condense(\d+)", p.name).group(1)) for p in (DATA / "chatlmsys_workloads").glob("*.yaml"))
    rows = []
    print(f"{'load':>5} {'CV':>3} {'caps':<6} " + " ".join(f"{p + ' goodput':>15} {'SLO':>6} {'preempt':>7}" for p in POLICIES)
          + f" {'adbs/fixed':>10} {'elastic/fixed':>13}")
    for c in loads:
        wl = load_workload(next((DATA / "chatlmsys_workloads").glob(f"*condense{c}_*.yaml")))
        plan = load_placement(sorted((DATA / "chatlmsys_reference" / "placements" / "flexsm").glob(f"*condense{c}_*.yaml")))
        for cv in (1.0, 3.0):
            for cap in (None, 256):
                res = {}
                for pol in POLICIES:  # interleaved per seed so machine noise cannot favour one policy
                    runs = [simulate(plan, wl, profile, SimConfig(seed=s, duration_s=30, kv_policy=pol, arrival_cv=cv,
                                                                  batch_cap=cap)) for s in SEEDS]
                    res[pol] = {"goodput": sum(r.goodput for r in runs) / len(runs),
                                "slo_attainment": sum(r.slo_attainment for r in runs) / len(runs),
                                "preemptions": sum(sum(x.preemptions for x in r.llms.values()) for r in runs) / len(runs)}
                row = {"load": c, "cv": cv, "batch_cap": cap, **res}
                rows.append(row)
                g = {p: res[p]["goodput"] for p in POLICIES}
                print(f"{c:>5} {cv:>3.0f} {str(cap or 'own'):<6} "
                      + " ".join(f"{res[p]['goodput']:>15.2f} {res[p]['slo_attainment']:>6.1%} {res[p]['preemptions']:>7.0f}"
                                 for p in POLICIES)
                      + f" {g['adbs'] / g['fixed']:>10.3f} {g['elastic'] / g['fixed']:>13.3f}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
