"""Several model "deployments" on one CPU: ADBS vs per-model FCFS on a skewed request mix.

Three named deployments of the local SmolLM2-135M-Instruct backend with different generation
lengths (the multi-model case MuxServe targets, shrunk to this machine) receive Poisson arrivals in
a 75/20/5 mix. One worker runs one batch at a time; the policy picks whose batch runs next. Each
round replays the same trace under both policies, alternating which goes first. Prints goodput
(requests within 8x their model's latency alone, per second), SLO attainment and p99 latency, per
policy and for the rare model, and ADBS / FCFS ratios. Writes benchmarks/results/muxserve_local_serving.json.

    .venv/bin/python benchmarks/muxserve_local_serving.py [--duration 20] [--rate 3] [--rounds 2] [--tokens 24,8,16]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from skyplex_muxserve.serving import ServedModel, isolated_latency, make_trace, serve

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "muxserve_local_serving.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=3.0, help="total requests per second")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", default="24,8,16", help="max tokens of chat,summary,rare")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from skyplex.models.local import LocalBackend

    backend = LocalBackend(data_dir=ROOT / ".data" / "test", threads=2)
    try:
        t_chat, t_summary, t_rare = (int(x) for x in args.tokens.split(","))
        models = [ServedModel("chat", backend, rate=0.75 * args.rate, max_tokens=t_chat),
                  ServedModel("summary", backend, rate=0.20 * args.rate, max_tokens=t_summary),
                  ServedModel("rare", backend, rate=0.05 * args.rate, max_tokens=t_rare)]
        alone = isolated_latency(models)
        print("latency alone (s): " + ", ".join(f"{k} {v:.2f}" for k, v in alone.items()))
        rows = []
        for rnd in range(args.rounds):
            trace = make_trace(models, args.duration, seed=rnd)
            order = ("fcfs", "adbs") if rnd % 2 == 0 else ("adbs", "fcfs")
            for policy in order:
                out = serve(models, trace, policy, alone)
                out["round"] = rnd
                rows.append(out)
                rare = out["per_model"]["rare"]
                print(f"round {rnd} {policy:<5} requests {out['requests']:>3} goodput {out['goodput']:.2f}/s "
                      f"SLO {out['slo_attainment']:.1%} p99 {out['p99_latency']:.2f}s "
                      f"rare p99 {rare['p99_latency'] if rare['p99_latency'] is not None else float('nan'):.2f}s", flush=True)
        for metric in ("goodput", "slo_attainment", "p99_latency"):
            a = sum(r[metric] for r in rows if r["policy"] == "adbs") / args.rounds
            f = sum(r[metric] for r in rows if r["policy"] == "fcfs") / args.rounds
            print(f"{metric}: adbs {a:.3f} fcfs {f:.3f} ratio {a / f:.3f}")
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"alone": alone, "args": vars(args), "runs": rows}, indent=1))
        print(f"wrote {OUT.relative_to(ROOT)}")
    finally:
        backend.close()


if __name__ == "__main__":
    main()
