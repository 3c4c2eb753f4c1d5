"""Several SmolLM2 deployments on this machine: one process with the MuxServe multiplexer vs one
process per model (what a user would run without it), all through the gateway's OpenAI surface.

Three deployments (chat, summary, rare) get Poisson requests in a 75/20/5 mix with different output
lengths. Set-ups, each a real `skyplex serve` process (or three), started once and kept up:

* ``per-model`` (the baseline): one server per model, each its own SmolLM2 copy, the gateway's own
  request batching; the client sends each model's requests to its server;
* ``mux-adbs``: one server, ``plugins.muxserve-serving`` with the three deployments sharing one
  SmolLM2 copy, ADBS choosing whose batch runs next;
* ``mux-fcfs``: the same server set-up with the multiplexer in FCFS order.

Every round replays the same trace on every set-up, the order rotating between rounds. Reports
goodput (requests finishing within ``--slo-scale`` x their model's latency alone, per second),
SLO attainment, p50/p99 latency (all, and the rare model's), and the servers' resident memory; then
each figure's mean over rounds as a ratio to the per-model baseline. Every process gets ``--threads``
torch threads (1 by default: on a small shared machine more threads than free cores slow torch down
several-fold), so the baseline's three processes may use up to three cores and the multiplexer one. Writes
benchmarks/results/muxserve_local_serving.json.

    .venv/bin/python benchmarks/muxserve_local_serving.py [--duration 30] [--rate 0.5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import yaml
from skyplex.testing import gateway_process
from skyplex_muxserve.serving import ServedModel, make_trace

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "muxserve_local_serving.json"
CACHE = ROOT / ".data" / "test"  # the converted SmolLM2 weights, shared by every server
MIX = (("chat", 0.75), ("summary", 0.20), ("rare", 0.05))
PROMPTS = ["Say hello to a new colleague.", "List three colours.", "Name a fruit and describe it.",
           "Write one sentence about the sea.", "What is a good name for a cat?"]


class Server:
    """One `skyplex serve` process with its own settings file and data folder, healthy once built."""

    def __init__(self, label: str, settings: dict, workdir: Path, stack: ExitStack) -> None:
        self.label = label
        folder = workdir / label
        folder.mkdir(parents=True)
        settings = {"data_dir": str(folder / "data"), **settings}
        cfg = folder / "skyplex.yaml"
        cfg.write_text(yaml.safe_dump(settings))
        # the kernel's helper starts it, waits for /healthz and stops it when ``stack`` closes
        self.gateway = stack.enter_context(gateway_process(
            env={"SKYPLEX_CONFIG": str(cfg), "HF_HUB_OFFLINE": "1"}, extra_args=("--no-auth",),
            log_path=folder / "server.log"))
        self.url = self.gateway.url

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.gateway.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")


class Setup:
    """Where each model's requests go: (server, model name to send)."""

    def __init__(self, label: str, servers: list[Server], route: dict[str, tuple[Server, str]]) -> None:
        self.label, self.servers, self.route = label, servers, route


def build_setups(workdir: Path, tokens: dict[str, int], rate: float, max_batch: int, threads: int,
                 stack: ExitStack) -> list[Setup]:
    """Start every server, one after the other, each healthy before the next starts; ``stack`` stops them."""
    setups: list[Setup] = []
    local = {"data_dir": str(CACHE), "threads": threads}
    deployments = [{"name": n, "rate": share * rate, "max_tokens": tokens[n]} for n, share in MIX]
    per: dict[str, Server] = {}
    setups.append(Setup("per-model", [], {}))
    for n, _ in MIX:
        per[n] = Server(f"per-model-{n}", {"models": {"local": local}}, workdir, stack)
        setups[0].servers.append(per[n])
        setups[0].route[n] = (per[n], "local")
    for policy in ("adbs", "fcfs"):
        srv = Server(f"mux-{policy}", {"models": {"local": local},
                                       "plugins": {"muxserve-serving": {"policy": policy, "max_batch": max_batch,
                                                                        "models": deployments}}}, workdir, stack)
        setups.append(Setup(f"mux-{policy}", [srv], {n: (srv, n) for n, _ in MIX}))
    return setups


def ask(client: httpx.Client, setup: Setup, model: str, prompt: str, max_tokens: int) -> float:
    srv, name = setup.route[model]
    t0 = time.perf_counter()
    res = client.post(srv.url + "/v1/completions", timeout=600,
                      json={"model": name, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    res.raise_for_status()
    return time.perf_counter() - t0


def alone_latency(client: httpx.Client, setup: Setup, tokens: dict[str, int]) -> dict[str, float]:
    out = {}
    for model, _ in MIX:
        ask(client, setup, model, PROMPTS[0], tokens[model])  # warm-up
        out[model] = min(ask(client, setup, model, PROMPTS[0], tokens[model]) for _ in range(2))
    return out


def replay(client: httpx.Client, setup: Setup, trace: list, alone: dict[str, float], slo_scale: float) -> dict:
    lat: dict[int, float] = {}
    errors: list[str] = []
    start = time.perf_counter()

    def one(r) -> None:
        delay = r.arrival - (time.perf_counter() - start)
        if delay > 0:
            time.sleep(delay)
        try:
            ask(client, setup, r.model, r.prompt, r.max_tokens)
            lat[r.id] = time.perf_counter() - start - r.arrival  # from its scheduled arrival
        except httpx.HTTPError as exc:
            errors.append(f"{r.model}: {exc}")

    with ThreadPoolExecutor(max(8, len(trace))) as pool:
        list(pool.map(one, trace))
    makespan = time.perf_counter() - start
    all_lat = np.array([lat[r.id] for r in trace if r.id in lat])
    good = sum(1 for r in trace if r.id in lat and lat[r.id] <= slo_scale * alone[r.model])
    rare = np.array([lat[r.id] for r in trace if r.id in lat and r.model == "rare"])
    return {"setup": setup.label, "requests": len(trace), "errors": errors, "makespan_s": makespan,
            "goodput": good / makespan, "slo_attainment": good / max(len(trace), 1),
            "throughput": len(all_lat) / makespan,
            "p50_latency": float(np.percentile(all_lat, 50)) if len(all_lat) else None,
            "p99_latency": float(np.percentile(all_lat, 99)) if len(all_lat) else None,
            "rare_p99_latency": float(np.percentile(rare, 99)) if len(rare) else None,
            "rss_mb": sum(s.rss_mb() for s in setup.servers)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals per run")
    ap.add_argument("--rate", type=float, default=0.5, help="total requests per second")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", default="24,8,16", help="max tokens of chat,summary,rare")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--slo-scale", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per server process (more than the free cores slows every process down)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its servers
    if not (CACHE / "models").is_dir():
        sys.exit(f"no converted SmolLM2 under {CACHE}; run a test that loads the local model first")
    tokens = dict(zip([n for n, _ in MIX], (int(x) for x in args.tokens.split(","))))
    models = [ServedModel(n, None, rate=share * args.rate, max_tokens=tokens[n], prompts=PROMPTS)  # type: ignore[arg-type]
              for n, share in MIX]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="muxserve-bench-") as tmp, ExitStack() as stack:
        setups = build_setups(Path(tmp), tokens, args.rate, args.max_batch, args.threads, stack)
        with httpx.Client() as client:
            # one SLO threshold for every set-up: each model's latency alone on the baseline
            alone = alone_latency(client, setups[0], tokens)
            for s in setups[1:]:
                alone_latency(client, s, tokens)  # warm the others the same way
            print("latency alone on the per-model servers (s): " + ", ".join(f"{k} {v:.2f}" for k, v in alone.items()))
            print(f"{'round':>5} {'set-up':<10} {'req':>4} {'goodput/s':>9} {'SLO':>6} {'p50 s':>6} {'p99 s':>6} "
                  f"{'rare p99':>8} {'RSS MB':>7}")
            for rnd in range(args.rounds):
                trace = make_trace(models, args.duration, seed=rnd)
                order = setups[rnd % len(setups):] + setups[:rnd % len(setups)]
                for s in order:
                    out = replay(client, s, trace, alone, args.slo_scale)
                    out["round"] = rnd
                    rows.append(out)
                    rare = out["rare_p99_latency"]
                    print(f"{rnd:>5} {s.label:<10} {out['requests']:>4} {out['goodput']:>9.3f} "
                          f"{out['slo_attainment']:>6.1%} {out['p50_latency']:>6.2f} {out['p99_latency']:>6.2f} "
                          f"{rare if rare is not None else float('nan'):>8.2f} {out['rss_mb']:>7.0f}"
                          + (f"  errors {len(out['errors'])}" if out["errors"] else ""), flush=True)
    summary = {}
    for label in ("per-model", "mux-adbs", "mux-fcfs"):
        mine = [r for r in rows if r["setup"] == label]
        summary[label] = {}
        for k in ("goodput", "slo_attainment", "p50_latency", "p99_latency", "rare_p99_latency", "rss_mb"):
            seen = [r[k] for r in mine if r[k] is not None]  # a short run may have no request of the rare model
            summary[label][k] = float(np.mean(seen)) if seen else float("nan")
    print("\nmean over rounds, and ratio to per-model (goodput, SLO: higher is better; latency, memory: lower)")
    for label, m in summary.items():
        base = summary["per-model"]
        print(f"{label:<10} " + "  ".join(f"{k} {v:.3f} ({v / base[k]:.2f}x)" for k, v in m.items()))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"args": vars(args), "alone_s": alone, "runs": rows, "summary": summary}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
