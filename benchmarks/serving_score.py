"""Loglikelihood requests per second: through the gateway (as lm-evaluation-harness sends them) vs
transformers direct, on a 4-choice task; optionally a vLLM server's OpenAI API as a third column.

The task: 8 questions with 4 answer choices each (32 loglikelihoods per round). Each round times, in
turn (interleaved, so load on a shared machine hits every mode alike):

* ``transformers, 1 at a time``: one forward pass of context + choice per loglikelihood (what a
  plain evaluation loop does, batch size 1);
* ``transformers, 4 choices batched``: one padded forward pass per question;
* ``gateway, lm-eval shape``: one ``/v1/completions`` request per loglikelihood, token-id prompt,
  ``echo``, ``logprobs=1``, ``max_tokens=1`` (lm-eval's ``local-completions`` default, batch size 1);
* ``gateway, 4 prompts per request``: one request per question with its 4 token-id prompts and
  ``max_tokens=0`` (lm-eval with ``batch_size=4``): the local backend shares the question's prefix;
* ``vLLM (prompt logprobs)``: the lm-eval shape against ``--vllm-url`` (skipped without it).

Every mode's loglikelihoods are checked against the direct ones (1e-4) before any timing counts.
The table shows medians and the ratio to the strongest transformers baseline; target >= 0.8x.

    .venv/bin/python benchmarks/serving_score.py --rounds 3 [--vllm-url http://127.0.0.1:8001/v1 --vllm-model NAME]
"""

from __future__ import annotations

import argparse
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


def _direct_batched(model, pairs, pad_id: int) -> list[float]:
    import torch

    lls = []
    with torch.inference_mode():
        for start in range(0, len(pairs), 4):
            group = pairs[start : start + 4]
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


def _gateway_lm_eval(client: httpx.Client, url: str, model: str, pairs) -> list[float]:
    lls = []
    for ctx, cont in pairs:
        body = {"model": model, "prompt": ctx + cont, "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0}
        choice = client.post(f"{url}/completions", json=body).raise_for_status().json()["choices"][0]
        lls.append(sum(choice["logprobs"]["token_logprobs"][len(ctx) : len(ctx) + len(cont)]))
    return lls


def _gateway_batched(client: httpx.Client, url: str, model: str, pairs) -> list[float]:
    lls = []
    for start in range(0, len(pairs), 4):
        group = pairs[start : start + 4]
        body = {"model": model, "prompt": [c + k for c, k in group], "echo": True, "logprobs": 1, "max_tokens": 0}
        choices = client.post(f"{url}/completions", json=body).raise_for_status().json()["choices"]
        for (ctx, cont), choice in zip(group, sorted(choices, key=lambda c: c["index"])):
            lls.append(sum(choice["logprobs"]["token_logprobs"][len(ctx) : len(ctx) + len(cont)]))
    return lls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SKYPLEX_THREADS", "1")))
    parser.add_argument("--vllm-url", help="base URL of a vLLM OpenAI server serving the same weights (…/v1)")
    parser.add_argument("--vllm-model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--data-dir", default=str(REPO / ".data" / "test"))
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

    app = create_app(kernel, api_key=KEY)
    modes: dict[str, Any] = {}
    with background_server(app) as base, httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=300) as client:
        url = f"{base}/v1"
        modes["transformers, 1 at a time"] = lambda: _direct_one(model, pairs)
        modes["transformers, 4 choices batched"] = lambda: _direct_batched(model, pairs, pad_id)
        modes["gateway, lm-eval shape"] = lambda: _gateway_lm_eval(client, url, "local", pairs)
        modes["gateway, 4 prompts per request"] = lambda: _gateway_batched(client, url, "local", pairs)
        vllm_client = None
        if args.vllm_url:
            vllm_client = httpx.Client(timeout=300)
            modes["vLLM (prompt logprobs)"] = lambda: _gateway_lm_eval(vllm_client, args.vllm_url.rstrip("/"), args.vllm_model, pairs)

        # warm every path once and check its numbers before timing anything
        want = _direct_one(model, pairs)
        for name, run in modes.items():
            got = run()
            worst = max(abs(a - b) for a, b in zip(got, want))
            if worst > 1e-4:
                raise SystemExit(f"{name}: loglikelihoods differ from transformers by {worst:.2e}")
        seconds: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.rounds):
            for name, run in modes.items():
                started = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - started)
        if vllm_client is not None:
            vllm_client.close()
    kernel.close()

    rates = {name: len(pairs) / statistics.median(values) for name, values in seconds.items()}
    baseline_name = max(("transformers, 1 at a time", "transformers, 4 choices batched"), key=lambda n: rates[n])
    baseline = rates[baseline_name]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"loglikelihoods/s, {len(pairs)} per round, median of {args.rounds} rounds, {args.threads} thread(s)")
    for column in ("mode", "loglikelihoods/s", f"vs {baseline_name}"):
        table.add_column(column)
    for name, rate in rates.items():
        table.add_row(name, f"{rate:.1f}", f"{rate / baseline:.2f}x")
    Console().print(table)
    out = {
        "benchmark": "serving_score",
        "machine": platform.platform(),
        "threads": args.threads,
        "loglikelihoods_per_round": len(pairs),
        "rounds": args.rounds,
        "seconds": seconds,
        "rates": rates,
        "baseline": baseline_name,
        "ratios": {name: rate / baseline for name, rate in rates.items()},
        "target": "gateway >= 0.8x of the strongest transformers baseline",
    }
    path = REPO / "benchmarks" / "results" / "serving_score.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
