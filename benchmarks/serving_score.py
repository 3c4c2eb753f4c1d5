"""Loglikelihood requests per second: through the gateway (as lm-evaluation-harness sends them) vs
transformers direct vs a vLLM CPU server (prompt logprobs), on a 4-choice task.

The task: 8 questions with 4 answer choices each (32 loglikelihoods per round). Each round times, in
turn (interleaved, so load on a shared machine hits every mode alike):

* ``transformers, 1 at a time``: one forward pass of context + choice per loglikelihood (what a
  plain evaluation loop does, batch size 1);
* ``transformers, 4 choices batched``: one padded forward pass per question;
* ``transformers, 32 batched``: one padded forward pass for the whole task;
* ``<server>, lm-eval shape, 1 in flight``: one ``/v1/completions`` request per loglikelihood, sent
  one after another, token-id prompt, ``echo``, ``logprobs=1``, ``max_tokens=1`` (lm-eval's
  ``local-completions`` default: batch size 1, ``num_concurrent=1``);
* ``<server>, lm-eval shape, 32 in flight``: the same requests, all 32 at once (``num_concurrent=32``);
  the gateway coalesces them into one batched scoring pass;
* ``<server>, 4 prompts per request``: one request per question with its 4 token-id prompts and
  ``max_tokens=0`` (lm-eval with ``batch_size=4``).

``<server>`` is the skyplex gateway with the local backend (in this process, one compute thread) and,
unless ``--no-vllm``, vLLM's own OpenAI server on the same converted weights (fp32, started from
``.venv-vllm`` as the ``vllm`` backend starts it, or attached with ``--vllm-url``).

Every mode's loglikelihoods are checked against transformers' (1e-4) before any timing counts. The
table shows medians, the ratio to the strongest transformers mode and, for the gateway, the share of
wall time spent in the model's scoring calls (the rest is HTTP, JSON and waiting to batch). Target:
the gateway >= 0.8x of the strongest transformers mode::

    .venv/bin/python benchmarks/serving_score.py --rounds 5 [--vllm-eager] [--no-vllm] [--vllm-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key"
QUESTIONS = [
    ("What is the capital of France?", ["Paris", "London", "Berlin", "Madrid"]),
    ("How many legs does a spider have?", ["Six", "Eight", "Ten", "Four"]),
    ("Which colour do you get by mixing blue and yellow?", ["Red", "Purple", "Green", "Orange"]),
    ("What is 2 + 2?", ["Three", "Five", "Twenty-two", "Four"]),
    ("Which planet is known as the red planet?", ["Venus", "Mars", "Jupiter", "Saturn"]),
    ("What do bees make?", ["Milk", "Silk", "Honey", "Wax paper"]),
    ("Which animal is the largest mammal?", ["Elephant", "Blue whale", "Giraffe", "Hippopotamus"]),
    ("What is frozen water called?", ["Steam", "Ice", "Fog", "Dew"]),
]
IN_FLIGHT = 32


def _pairs(tokenize) -> list[tuple[list[int], list[int]]]:
    """(context ids, continuation ids) per loglikelihood, split as lm-eval splits them."""
    out = []
    for question, choices in QUESTIONS:
        context = f"Question: {question}\nAnswer:"
        ctx = tokenize(context)
        for choice in choices:
            whole = tokenize(context + " " + choice)
            out.append((ctx, whole[len(ctx) :]))
    return out


def _direct_one(model, pairs) -> list[float]:
    import torch

    lls = []
    with torch.inference_mode():
        for ctx, cont in pairs:
            ids = torch.tensor([ctx + cont])
            lp = torch.log_softmax(model(ids).logits[0, len(ctx) - 1 : -1].float(), dim=-1)
            lls.append(float(lp[torch.arange(len(cont)), torch.tensor(cont)].sum()))
    return lls


def _direct_batched(model, pairs, pad_id: int, size: int) -> list[float]:
    import torch

    lls = []
    with torch.inference_mode():
        for start in range(0, len(pairs), size):
            group = pairs[start : start + size]
            seqs = [c + k for c, k in group]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad_id)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for row, s in enumerate(seqs):  # right padding: positions stay 0.. for every row
                ids[row, : len(s)] = torch.tensor(s)
                mask[row, : len(s)] = 1
            lp = torch.log_softmax(model(ids, attention_mask=mask).logits.float(), dim=-1)
            for row, (ctx, cont) in enumerate(group):
                rows = lp[row, len(ctx) - 1 : len(ctx) + len(cont) - 1]
                lls.append(float(rows[torch.arange(len(cont)), torch.tensor(cont)].sum()))
    return lls


def _ll(choice: dict[str, Any], ctx: list[int], cont: list[int]) -> float:
    return sum(choice["logprobs"]["token_logprobs"][len(ctx) : len(ctx) + len(cont)])


def _lm_eval_body(model: str, ctx: list[int], cont: list[int]) -> dict[str, Any]:
    return {"model": model, "prompt": ctx + cont, "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0}


def _lm_eval_serial(client: httpx.Client, url: str, model: str, pairs) -> list[float]:
    lls = []
    for ctx, cont in pairs:
        choice = client.post(f"{url}/completions", json=_lm_eval_body(model, ctx, cont)).raise_for_status().json()
        lls.append(_ll(choice["choices"][0], ctx, cont))
    return lls


def _lm_eval_concurrent(url: str, headers: dict[str, str], model: str, pairs, in_flight: int) -> list[float]:
    """lm-eval's ``num_concurrent``: up to ``in_flight`` one-prompt requests at once (asyncio, as it does)."""

    async def run() -> list[float]:
        limit = asyncio.Semaphore(in_flight)
        async with httpx.AsyncClient(headers=headers, timeout=300, limits=httpx.Limits(max_connections=in_flight)) as client:

            async def one(ctx: list[int], cont: list[int]) -> float:
                async with limit:
                    response = await client.post(f"{url}/completions", json=_lm_eval_body(model, ctx, cont))
                return _ll(response.raise_for_status().json()["choices"][0], ctx, cont)

            return list(await asyncio.gather(*(one(ctx, cont) for ctx, cont in pairs)))

    return asyncio.run(run())


def _four_per_request(client: httpx.Client, url: str, model: str, pairs) -> list[float]:
    lls = []
    for start in range(0, len(pairs), 4):
        group = pairs[start : start + 4]
        body = {"model": model, "prompt": [c + k for c, k in group], "echo": True, "logprobs": 1, "max_tokens": 0}
        choices = client.post(f"{url}/completions", json=body).raise_for_status().json()["choices"]
        for (ctx, cont), choice in zip(group, sorted(choices, key=lambda c: c["index"])):
            lls.append(_ll(choice, ctx, cont))
    return lls


def _server_modes(label: str, client: httpx.Client, url: str, headers: dict[str, str], model: str, pairs) -> dict[str, Any]:
    return {
        f"{label}, lm-eval shape, 1 in flight": lambda: _lm_eval_serial(client, url, model, pairs),
        f"{label}, lm-eval shape, {IN_FLIGHT} in flight": lambda: _lm_eval_concurrent(url, headers, model, pairs, IN_FLIGHT),
        f"{label}, 4 prompts per request": lambda: _four_per_request(client, url, model, pairs),
    }


def _start_vllm(args: argparse.Namespace) -> tuple[Any, str, str, float]:
    """(backend holding the server, base URL, served model name, start-up seconds)."""
    from skyplex.models.vllm_backend import VLLMBackend

    if args.vllm_url:
        backend = VLLMBackend(base_url=args.vllm_url)
        return backend, args.vllm_url.rstrip("/"), backend.model, 0.0
    backend = VLLMBackend(data_dir=args.data_dir, enforce_eager=args.vllm_eager)
    started = time.perf_counter()
    url = backend.ensure_server()
    return backend, url.rstrip("/"), backend.model, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SKYPLEX_THREADS", "1")))
    parser.add_argument("--no-vllm", action="store_true", help="leave out the vLLM columns")
    parser.add_argument("--vllm-url", help="attach to a running vLLM OpenAI server (…/v1) serving the same weights")
    parser.add_argument("--vllm-eager", action="store_true", help="start vLLM with --enforce-eager (no torch.compile)")
    parser.add_argument("--data-dir", default=str(REPO / ".data" / "test"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serving_score.json"))
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from skyplex import Kernel, Settings, make_plugin_manager
    from skyplex.gateway import background_server, create_app

    torch.set_num_threads(args.threads)
    kernel = Kernel(
        settings=Settings(data_dir=args.data_dir, threads=args.threads, default_model="local"),
        pm=make_plugin_manager(entrypoints=False),
    )
    backend = kernel.models.get("local")
    pairs = _pairs(backend.tokenize)
    model = AutoModelForCausalLM.from_pretrained(str(backend.cache_dir), dtype=torch.float32).eval()
    pad_id = backend._tokenizer_loaded().pad_token_id
    vllm, vllm_startup_s = None, None
    if not args.no_vllm:
        vllm, vllm_url, vllm_model, vllm_startup_s = _start_vllm(args)
        print(f"vLLM server at {vllm_url} serving {vllm_model!r} (start-up {vllm_startup_s:.0f}s)")

    app = create_app(kernel, api_key=KEY)
    headers = {"Authorization": f"Bearer {KEY}"}
    modes: dict[str, Any] = {}
    model_seconds: dict[str, list[float]] = {}
    batch_sizes: dict[str, list[int]] = {}
    with background_server(app) as base, httpx.Client(headers=headers, timeout=300) as client:
        modes["transformers, 1 at a time"] = lambda: _direct_one(model, pairs)
        modes["transformers, 4 choices batched"] = lambda: _direct_batched(model, pairs, pad_id, 4)
        modes[f"transformers, {len(pairs)} batched"] = lambda: _direct_batched(model, pairs, pad_id, len(pairs))
        gateway_modes = _server_modes("gateway", client, f"{base}/v1", headers, "local", pairs)
        modes.update(gateway_modes)
        if vllm is not None:
            modes.update(_server_modes("vLLM", client, vllm_url, {}, vllm_model, pairs))

        # warm every path once and check its numbers before timing anything
        want = _direct_one(model, pairs)
        for name, run in modes.items():
            worst = max(abs(a - b) for a, b in zip(run(), want))
            if worst > 1e-4:
                raise SystemExit(f"{name}: loglikelihoods differ from transformers by {worst:.2e}")
        coalescer = app.state.model_routing.score_coalescer("local")
        seconds: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.rounds):
            for name, run in modes.items():
                calls = len(coalescer.batch_seconds) if coalescer is not None else 0
                started = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - started)
                if name in gateway_modes and coalescer is not None:
                    new = len(coalescer.batch_seconds) - calls
                    model_seconds.setdefault(name, []).append(sum(list(coalescer.batch_seconds)[-new:]) if new else 0.0)
                    batch_sizes.setdefault(name, []).extend(list(coalescer.batch_sizes)[-new:] if new else [])
    if vllm is not None:
        vllm.close()
    kernel.close()

    rates = {name: len(pairs) / statistics.median(values) for name, values in seconds.items()}
    direct = [n for n in rates if n.startswith("transformers")]
    baseline_name = max(direct, key=lambda n: rates[n])
    baseline = rates[baseline_name]
    model_share = {
        name: statistics.median(m / s for m, s in zip(model_seconds[name], seconds[name])) for name in model_seconds
    }
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"loglikelihoods/s, {len(pairs)} per round, median of {args.rounds} rounds, {args.threads} thread(s)")
    for column in ("mode", "loglikelihoods/s", f"vs {baseline_name}", "model share", "scoring batch sizes"):
        table.add_column(column)
    for name, rate in rates.items():
        sizes = sorted(set(batch_sizes.get(name, [])))
        table.add_row(
            name,
            f"{rate:.1f}",
            f"{rate / baseline:.2f}x",
            f"{model_share[name]:.0%}" if name in model_share else "",
            ",".join(map(str, sizes)),
        )
    Console().print(table)
    out = {
        "benchmark": "serving_score",
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "loglikelihoods_per_round": len(pairs),
        "rounds": args.rounds,
        "in_flight": IN_FLIGHT,
        "vllm": None if vllm is None else {"eager": args.vllm_eager, "attached": bool(args.vllm_url), "startup_s": vllm_startup_s},
        "seconds": seconds,
        "rates": rates,
        "baseline": baseline_name,
        "ratios": {name: rate / baseline for name, rate in rates.items()},
        "gateway_model_share": model_share,
        "gateway_scoring_batch_sizes": batch_sizes,
        "target": "gateway >= 0.8x of the strongest transformers mode",
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
