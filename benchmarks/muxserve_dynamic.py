"""Time-varying rates: one placement all day vs re-placing every period (paying to move models).

The five ChatLMSYS workloads taken as five consecutive 30 s periods (x500, x1200, x2000, x1600,
x800: the load rises and falls). ``static`` is optimised once for the mean rates; ``replan``
optimises each period and moves only when a trial simulation says the move pays (a moved model is
down for weights / 2 GiB/s). Prints simulated goodput per period and in total, and the moves.
Writes benchmarks/results/muxserve_dynamic.json.

    .venv/bin/python benchmarks/muxserve_dynamic.py
"""

from __future__ import annotations

import json
from pathlib import Path

from skyplex_muxserve.dynamic import run_periods
from skyplex_muxserve.profiles import LatencyProfile
from skyplex_muxserve.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "muxserve"
OUT = ROOT / "benchmarks" / "results" / "muxserve_dynamic.json"
ORDER = (500, 1200, 2000, 1600, 800)


def main() -> None:
    profile = LatencyProfile.load(DATA / "llama_a100_profile.json")
    wls = {c: load_workload(next((DATA / "chatlmsys_workloads").glob(f"*condense{c}_*.yaml"))) for c in ORDER}
    periods = [{m.name: m.rate for m in wls[c].llms} for c in ORDER]
    out = run_periods(wls[ORDER[0]], profile, periods, period_s=30.0)
    print(f"{'period':>6} {'load':>5} {'static':>8} {'replan':>8} {'ratio':>6}  moved")
    for i, c in enumerate(ORDER):
        print(f"{i:>6} {c:>5} {out['static'][i]:>8.2f} {out['replan'][i]:>8.2f} {out['replan'][i] / out['static'][i]:>6.3f}  "
              f"{', '.join(out['moves'][i]) or '-'}")
    print(f"total goodput: static {out['static_total']:.2f}, replan {out['replan_total']:.2f}, "
          f"ratio {out['replan_total'] / out['static_total']:.3f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"loads": ORDER, **out}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
