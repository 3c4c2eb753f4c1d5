"""The local backend against vLLM CPU on the same weights, and the skyplex gateway against vLLM's own server.

Same model on both sides: SmolLM2-135M-Instruct fp32 (vLLM serves the local backend's converted
folder), greedy decoding, prefix caching on, one compute thread each (vLLM's CPU default on a small
machine; ``--threads`` for the local backend). Workloads, each run on every target in turn within a
round (interleaved, so load from other work on the machine skews them alike), medians over rounds:

* ``decode b1`` / ``decode b8``: tokens/s of 1 and 8 concurrent counting prompts that run to ``--max-tokens``;
* ``shared prefix``: 8 prompts sharing a ~200-token prefix, 16 new tokens each (seconds; the first
  round is cold for both prefix caches, later rounds warm);
* ``chats xN``: N concurrent chat requests over HTTP (seconds for the burst): vLLM's own server,
  the skyplex gateway in front of that server (``model: vllm``), the skyplex gateway with the local
  backend; the gateway runs as ``skyplex serve`` in a process of its own, as vLLM's server does;
* ``short under long``: latency of an 8-token request alone and while a 200-token request runs
  (ratio: 1.0 means unaffected);
* ``short under long prompt``: the same short request while a ~1,800-token prompt is being prefilled
  (chunked prefill keeps the short one's decode steps going between the long prompt's chunks).

Targets: local >= 0.7x vLLM tokens/s at batch 1 and 8; skyplex gateway in front of vLLM within 5 % of
vLLM's server; short-request latency within 20 % of its isolated latency. Prints a table and
writes JSON (``--out``)::

    .venv/bin/python benchmarks/serving_vs_vllm.py --rounds 3
    .venv/bin/python benchmarks/serving_vs_vllm.py --eager       # vLLM without torch.compile (fast start)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from skyplex.interfaces import GenerationParams
from skyplex.models.local import LocalBackend
from skyplex.models.vllm_backend import VLLMBackend
from skyplex.testing import gateway_process

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "serving_vs_vllm.json"
PREFIX = (
    "You are the support assistant of a small bookshop. The shop sells new and second-hand books, "
    "ships within the country in three working days, accepts returns within thirty days with a receipt, "
    "and opens from nine to six on weekdays and from ten to four on Saturdays. It is closed on Sundays and "
    "public holidays. Gift cards never expire. Orders above fifty euros ship for free; smaller orders pay "
    "a flat fee of four euros. Answer customers politely, in one or two sentences, and never promise "
    "anything the policy above does not say. If a question is not about the shop, say that you can only "
    "help with the shop. Customer question: "
)
QUESTIONS = [
    "When are you open on Saturday?", "Can I return a book?", "Do gift cards expire?", "Is shipping free?",
    "How long does delivery take?", "Are you open on Sunday?", "Do you sell used books?", "What is the weather?",
]


def count_prompt(i: int) -> str:
    return f"Count from {i}: {i}, {i + 1}, {i + 2},"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def decode_rate(backend: Any, batch: int, max_tokens: int) -> float:
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    prompts = [count_prompt(i + 1) for i in range(batch)]
    if batch == 1:
        seconds, outs = timed(lambda: backend.generate(prompts, params))
    else:  # concurrent callers, as a server sees them (each joins the running batch)
        seconds, outs = timed(lambda: _concurrently([lambda p=p: backend.generate([p], params)[0] for p in prompts]))
    return sum(o.usage.completion_tokens for o in outs) / seconds


def shared_prefix(backend: Any) -> float:
    params = GenerationParams(max_tokens=16, temperature=0.0)
    prompts = [PREFIX + q for q in QUESTIONS]
    seconds, _ = timed(lambda: _concurrently([lambda p=p: backend.generate([p], params)[0] for p in prompts]))
    return seconds


def short_under_long(backend: Any, long_tokens: int) -> tuple[float, float]:
    short = GenerationParams(max_tokens=8, temperature=0.0)
    alone, _ = timed(lambda: backend.generate(["The capital of France is"], short))
    done = threading.Event()

    def run_long() -> None:
        backend.generate([count_prompt(7)], GenerationParams(max_tokens=long_tokens, temperature=0.0))
        done.set()

    thread = threading.Thread(target=run_long)
    thread.start()
    time.sleep(1.0)  # the long request is decoding by now
    loaded, _ = timed(lambda: backend.generate(["The capital of France is"], short))
    if done.is_set():
        print("warning: the long request ended before the short one ran; raise long_tokens", file=sys.stderr)
    thread.join()
    return alone, loaded


def long_prompt() -> str:
    """About 1,800 tokens (under vLLM's 2,048-token max_model_len with room to generate)."""
    return "Numbers: " + ", ".join(str(i) for i in range(1, 380)) + ","


def short_under_long_prompt(backend: Any) -> float:
    short = GenerationParams(max_tokens=8, temperature=0.0)
    thread = threading.Thread(
        target=lambda: backend.generate([long_prompt()], GenerationParams(max_tokens=8, temperature=0.0, prefix_reuse=False))
    )
    thread.start()
    time.sleep(0.3)  # the long prompt is being prefilled by now
    loaded, _ = timed(lambda: backend.generate(["The capital of France is"], short))
    thread.join()
    return loaded


def chat_burst(url: str, model: str, n: int, max_tokens: int) -> float:
    async def run() -> None:
        async with httpx.AsyncClient(timeout=900, limits=httpx.Limits(max_connections=64)) as client:
            async def one(i: int) -> None:
                body = {"model": model, "max_tokens": max_tokens, "temperature": 0,
                        "messages": [{"role": "user", "content": f"Write a short note about the number {i}."}]}
                r = await client.post(f"{url}/v1/chat/completions", json=body)
                r.raise_for_status()

            await asyncio.gather(*(one(i) for i in range(n)))

    seconds, _ = timed(lambda: asyncio.run(run()))
    return seconds


def gateway_env(data_dir: Path, threads: int, vllm_url: str) -> dict[str, str]:
    """The gateway's settings: the benchmark's data dir and threads, attached to the benchmark's vLLM server."""
    return {"SKYPLEX_DATA_DIR": str(data_dir), "SKYPLEX_THREADS": str(threads), "SKYPLEX_VLLM_URL": vllm_url}


def _concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    def work(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32, help="decode workloads' new tokens")
    parser.add_argument("--chat-tokens", type=int, default=16)
    parser.add_argument("--long-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="local backend torch threads")
    parser.add_argument("--eager", action="store_true", help="start vLLM with --enforce-eager (no torch.compile)")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    local = LocalBackend(data_dir=args.data_dir, threads=args.threads)
    vllm = VLLMBackend(data_dir=args.data_dir, enforce_eager=args.eager)
    startup_s, _ = timed(vllm.ensure_server)
    local.generate(["warm up"], GenerationParams(max_tokens=2))
    vllm.generate(["warm up"], GenerationParams(max_tokens=2))
    vllm_root = vllm.base_url.removesuffix("/v1")
    results: dict[str, dict[str, list[float]]] = {}

    def record(work: str, target: str, value: float) -> None:
        results.setdefault(work, {}).setdefault(target, []).append(value)

    # ``skyplex serve`` in a process of its own (as deployed; vLLM's server is one too)
    with gateway_process(
        env=gateway_env(args.data_dir, args.threads, vllm.base_url),
        extra_args=("--no-auth", "--log-level", "warning"),
        limit_s=300,
    ) as served:
        gateway = served.url
        for sub in ("vllm", "local"):  # load both behind the gateway before timing
            chat_burst(gateway, sub, 1, 2)
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", file=sys.stderr)
            for name, backend in (("local", local), ("vllm", vllm)):
                record("decode b1 (tok/s)", name, decode_rate(backend, 1, args.max_tokens))
                record("decode b8 (tok/s)", name, decode_rate(backend, 8, args.max_tokens))
                record("shared prefix x8 (s)", name, shared_prefix(backend))
                alone, loaded = short_under_long(backend, args.long_tokens)
                record("short alone (s)", name, alone)
                record("short under long (s)", name, loaded)
                record("short under long prompt (s)", name, short_under_long_prompt(backend))
            for n in (8, 32):
                record(f"chats x{n} (s)", "vllm server", chat_burst(vllm_root, vllm.model, n, args.chat_tokens))
                record(f"chats x{n} (s)", "gateway+vllm", chat_burst(gateway, "vllm", n, args.chat_tokens))
                record(f"chats x{n} (s)", "gateway+local", chat_burst(gateway, "local", n, args.chat_tokens))
    vllm.close()
    local.close()

    med = {w: {t: statistics.median(v) for t, v in by.items()} for w, by in results.items()}
    table = Table(title=f"local backend vs vLLM CPU {'(eager)' if args.eager else '(compiled)'}, medians of {args.rounds} rounds")
    for col in ("work", "local", "vLLM", "ratio", "target"):
        table.add_column(col)
    ratios: dict[str, float] = {}
    for work, target in (("decode b1 (tok/s)", ">= 0.7"), ("decode b8 (tok/s)", ">= 0.7")):
        ratios[work] = med[work]["local"] / med[work]["vllm"]
        table.add_row(work, f"{med[work]['local']:.1f}", f"{med[work]['vllm']:.1f}", f"{ratios[work]:.2f}x", target)
    w = "shared prefix x8 (s)"
    table.add_row(w, f"{med[w]['local']:.2f}", f"{med[w]['vllm']:.2f}", f"{med[w]['vllm'] / med[w]['local']:.2f}x speed", "")
    for name in ("local", "vllm"):
        ratios[f"short under long / alone ({name})"] = med["short under long (s)"][name] / med["short alone (s)"][name]
        ratios[f"short under long prompt / alone ({name})"] = (
            med["short under long prompt (s)"][name] / med["short alone (s)"][name]
        )
    table.add_row("short: alone / under long (s)",
                  f"{med['short alone (s)']['local']:.2f} / {med['short under long (s)']['local']:.2f}",
                  f"{med['short alone (s)']['vllm']:.2f} / {med['short under long (s)']['vllm']:.2f}",
                  f"{ratios['short under long / alone (local)']:.2f} / {ratios['short under long / alone (vllm)']:.2f}",
                  "<= 1.2")
    table.add_row("short: under long prompt (s)",
                  f"{med['short under long prompt (s)']['local']:.2f}",
                  f"{med['short under long prompt (s)']['vllm']:.2f}",
                  f"{ratios['short under long prompt / alone (local)']:.2f} / {ratios['short under long prompt / alone (vllm)']:.2f}",
                  "")
    for n in (8, 32):
        w = f"chats x{n} (s)"
        ratios[f"gateway+vllm / vllm server x{n}"] = med[w]["gateway+vllm"] / med[w]["vllm server"]
        table.add_row(f"{w}: gateway+local | gateway+vllm | vllm server", f"{med[w]['gateway+local']:.2f}",
                      f"{med[w]['gateway+vllm']:.2f} | {med[w]['vllm server']:.2f}",
                      f"{ratios[f'gateway+vllm / vllm server x{n}']:.3f}", "<= 1.05")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "args": {k: str(v) for k, v in vars(args).items()},
        "vllm_startup_s": startup_s,
        "raw": results,
        "medians": med,
        "ratios": ratios,
    }, indent=2))
    print(f"vLLM server started in {startup_s:.0f}s; wrote {args.out}")


if __name__ == "__main__":
    main()
