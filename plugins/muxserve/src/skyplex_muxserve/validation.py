"""Simulate one of the authors' measured runs and compare (used by tests, the CLI and the benchmark)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .profiles import LatencyProfile
from .simulator import SimConfig, simulate
from .workload import MuxWorkload, load_measured, load_placement, load_workload


def with_lengths(wl: MuxWorkload, lengths: dict[str, tuple[float, float]]) -> MuxWorkload:
    """``wl`` with each listed LLM's mean prompt and output lengths replaced."""
    llms = [replace(m, avg_prompt_len=lengths[m.name][0], avg_output_len=lengths[m.name][1]) if m.name in lengths else m
            for m in wl.llms]
    return replace(wl, llms=llms)


def validate_run(workload: str | Path, placement: list[str | Path], measured: str | Path, mode: str,
                 profile: LatencyProfile, seed: int = 0, recorded_lengths: bool = False, **knobs: Any) -> dict[str, Any]:
    """Simulated vs measured top-level throughput of one run, with the measured request counts.

    Per LLM it also pairs [simulated, measured] p99 latency, mean and p99 TTFT and TPOT (the authors'
    definitions), and the mean prefill and decode batch sizes.

    For MuxServe runs the SM shares are the ones the run actually used (recorded in the measured
    file), which differ from the placement files' in several runs.
    """
    wl = load_workload(workload)
    meas = load_measured(measured)
    if recorded_lengths:
        wl = with_lengths(wl, meas.lengths())
    plan = load_placement(placement, mode=mode)
    if mode == "flexsm":
        plan = plan.with_shares(meas.shares())
    counts = {k: int(v["request_num"]) for k, v in meas.per_llm.items()}
    res = simulate(plan, wl, profile, SimConfig(seed=seed, counts=counts, **knobs))
    per = {}
    for k, v in res.llms.items():
        m = meas.per_llm[k]
        per[k] = {"simulated": v.throughput, "measured": float(m["throughput"]),
                  "p99_latency": [v.percentiles["p99_latency"], float(m["p99[avg_latency]"])],
                  "ttft_mean": [v.ttft_mean, float(m["first_token_latency"])],
                  "tpot_mean": [v.tpot_mean, float(m["output_per_token_latency"])],
                  "p99_ttft": [v.percentiles["p99_ttft"], float(m["p99[TTFT]"])],
                  "p99_tpot": [v.percentiles["p99_tpot"], float(m["p99[TPOT]"])],
                  "p90_ttft": [v.percentiles["p90_ttft"], float(m["p90[TTFT]"])],
                  "p90_tpot": [v.percentiles["p90_tpot"], float(m["p90[TPOT]"])],
                  "p90_latency": [v.percentiles["p90_latency"], float(m["p90[avg_latency]"])],
                  "prefill_batch": [v.avg_prefill_batch, float(m["prefill_avg_batches"])],
                  "decode_batch": [v.avg_decode_batch, float(m["decoding_avg_batches"])]}
    return {"mode": mode, "simulated": res.throughput, "measured": meas.throughput,
            "error": res.throughput / meas.throughput - 1.0, "requests": sum(counts.values()),
            "unfinished": res.unfinished, "gpus": plan.total_gpus, "per_llm": per}
