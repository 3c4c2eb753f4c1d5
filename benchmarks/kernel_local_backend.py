"""Throughput of the built-in ``local`` backend and the speedup of prefix KV reuse.

Measures, each as the median of ``--repeats`` runs after one warm-up call (which also loads, and if
needed converts, the weights):

* decode throughput (greedy, ``--new-tokens`` new tokens) at batch size 1 and batch size 8, as
  completion tokens per second end to end (prefill included);
* prefix KV reuse: 8 prompts sharing a ~``--prefix-tokens`` token prefix and a short question each,
  with few new tokens so prefill dominates, end-to-end time with ``prefix_reuse=False`` and ``True``
  in the same run (the order alternates between repeats), and whether the outputs are identical.

Prints a rich table and writes JSON (``--out``). Exit status 1 when reuse changes the outputs.
Usage::

    .venv/bin/python benchmarks/kernel_local_backend.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "kernel_local_backend.json"

#: raw-text openings that keep the model writing (few early end-of-text tokens)
STORY_PROMPTS = [
    "Once upon a time, in a small village by the sea,",
    "The history of the printing press begins",
    "Here is a recipe for a simple tomato soup:",
    "The three laws of thermodynamics state that",
    "In computer science, a hash table is",
    "The old lighthouse keeper looked at the storm and",
    "Photosynthesis is the process by which",
    "My favourite place to visit in the summer is",
]
SHARED_CONTEXT = (
    "The following is a reference note about the city of Lyon. Lyon is a city in France, located at the "
    "confluence of the Rhone and the Saone rivers. It is known for its cuisine, its silk industry, its Roman "
    "theatres on the Fourviere hill, its traboules (covered passageways through buildings), and the Festival "
    "of Lights held every December. The old town, Vieux Lyon, is a UNESCO World Heritage Site. The city has "
    "two large universities, a busy airport, a football club, an opera house, and many museums, including "
    "the Musee des Confluences, which covers natural history and anthropology. Its bouchons are small "
    "restaurants serving traditional local dishes such as quenelles, saucisson and praline tart. "
)
QUESTIONS = [
    "Question: Which rivers meet in Lyon? Answer:",
    "Question: What is Vieux Lyon? Answer:",
    "Question: When is the Festival of Lights? Answer:",
    "Question: What is a traboule? Answer:",
    "Question: Name a museum in Lyon. Answer:",
    "Question: What is a bouchon? Answer:",
    "Question: Which hill has Roman theatres? Answer:",
    "Question: Which industry made Lyon famous? Answer:",
]


def _machine() -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    try:
        info["load_average_1m"] = os.getloadavg()[0]  # other work on the machine skews timings
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def _timed(fn) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure_throughput(backend, prompts: list[str], new_tokens: int, repeats: int) -> dict[str, Any]:
    """Completion tokens per second for one batch of ``prompts`` (greedy), median over repeats."""
    from skyplex.interfaces.model import GenerationParams

    params = GenerationParams(max_tokens=new_tokens, temperature=0.0, prefix_reuse=False)
    rates, times, tokens = [], [], 0
    for _ in range(repeats):
        seconds, outs = _timed(lambda: backend.generate(prompts, params))
        tokens = sum(c.usage.completion_tokens for c in outs)
        rates.append(tokens / seconds)
        times.append(seconds)
    return {
        "batch_size": len(prompts),
        "new_tokens_per_prompt": new_tokens,
        "completion_tokens": tokens,
        "median_s": statistics.median(times),
        "tokens_per_s": statistics.median(rates),
        "samples_tokens_per_s": [round(r, 2) for r in rates],
    }


def shared_prefix_prompts(backend, prefix_tokens: int) -> list[str]:
    """The 8 questions behind a shared context cut to about ``prefix_tokens`` tokens."""
    context = SHARED_CONTEXT
    while backend.count_tokens(context) < prefix_tokens:
        context += SHARED_CONTEXT
    ids = backend._tokenizer_loaded().encode(context, add_special_tokens=False)[:prefix_tokens]
    context = backend._decode(ids)
    return [context + q for q in QUESTIONS]


def measure_prefix_reuse(backend, prompts: list[str], new_tokens: int, repeats: int) -> dict[str, Any]:
    """End-to-end time of one shared-prefix batch without and with prefix reuse."""
    from skyplex.interfaces.model import GenerationParams

    samples: dict[bool, list[float]] = {False: [], True: []}
    outputs: dict[bool, list[str]] = {}
    cached = 0
    for i in range(repeats):
        order = (False, True) if i % 2 == 0 else (True, False)
        for reuse in order:
            params = GenerationParams(max_tokens=new_tokens, temperature=0.0, prefix_reuse=reuse)
            seconds, outs = _timed(lambda: backend.generate(prompts, params))
            samples[reuse].append(seconds)
            outputs[reuse] = [c.text for c in outs]
            if reuse:
                cached = outs[0].usage.cached_prompt_tokens
    without, with_reuse = statistics.median(samples[False]), statistics.median(samples[True])
    return {
        "prompts": len(prompts),
        "prompt_tokens": [backend.count_tokens(p) for p in prompts],
        "cached_prompt_tokens": cached,
        "new_tokens_per_prompt": new_tokens,
        "without_reuse_s": without,
        "with_reuse_s": with_reuse,
        "speedup": without / with_reuse,
        "samples_without_s": [round(s, 4) for s in samples[False]],
        "samples_with_s": [round(s, 4) for s in samples[True]],
        "identical_outputs": outputs[False] == outputs[True],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: settings/torch)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the converted weights are cached")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32, help="new tokens per prompt for throughput")
    parser.add_argument("--prefix-tokens", type=int, default=200, help="length of the shared prefix")
    parser.add_argument("--prefix-new-tokens", type=int, default=4, help="new tokens per prompt, reuse runs")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from skyplex.interfaces.model import GenerationParams
    from skyplex.models.local import LocalBackend

    console = Console()
    backend = LocalBackend(data_dir=args.data_dir, threads=args.threads)
    load_s, _ = _timed(lambda: backend.generate(["Hello"], GenerationParams(max_tokens=2)))  # load + warm up

    batch1 = measure_throughput(backend, STORY_PROMPTS[:1], args.new_tokens, args.repeats)
    batch8 = measure_throughput(backend, STORY_PROMPTS[:8], args.new_tokens, args.repeats)
    prompts = shared_prefix_prompts(backend, args.prefix_tokens)
    reuse = measure_prefix_reuse(backend, prompts, args.prefix_new_tokens, args.repeats)

    result = {
        "benchmark": "kernel_local_backend",
        "model": backend.info().model,
        "threads": args.threads,
        "repeats": args.repeats,
        "first_call_s": load_s,
        "machine": _machine(),
        "throughput": {"batch_1": batch1, "batch_8": batch8},
        "prefix_reuse": reuse,
        "target": {"prefix_reuse_speedup": 2.0, "met": reuse["speedup"] > 2.0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    machine = result["machine"]
    table = Table(title=f"local backend ({result['model']}, torch {machine['torch']}, {machine['torch_threads']} threads)")
    table.add_column("measurement")
    table.add_column("value", justify="right")
    table.add_column("detail")
    for key, row in (("batch 1", batch1), ("batch 8", batch8)):
        table.add_row(
            f"greedy tokens/s, {key}",
            f"{row['tokens_per_s']:.1f}",
            f"{row['completion_tokens']} tokens in {row['median_s']:.2f} s (median of {args.repeats})",
        )
    detail = (
        f"{reuse['prompts']} prompts, {reuse['cached_prompt_tokens']} shared tokens, "
        f"{args.prefix_new_tokens} new each"
    )
    table.add_row("shared prefix, reuse off", f"{reuse['without_reuse_s']:.3f} s", detail)
    table.add_row("shared prefix, reuse on", f"{reuse['with_reuse_s']:.3f} s", detail)
    verdict = "met" if result["target"]["met"] else "NOT met"
    table.add_row("prefix reuse speedup", f"{reuse['speedup']:.2f}x", f"target > 2x: {verdict}")
    table.add_row("identical outputs", str(reuse["identical_outputs"]), "greedy, reuse on vs off")
    console.print(table)
    console.print(f"wrote {args.out}")
    return 0 if reuse["identical_outputs"] else 1


if __name__ == "__main__":
    sys.exit(main())
