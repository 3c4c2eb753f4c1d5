"""Sampling throughput for voting: K answers per query from the local SmolLM2-135M backend.

What a voting system pays for is K samples of the same prompt. Four ways of getting them, measured
in the same run, interleaved (the order rotates every round), each on fresh prompts so that no
method finds another's prompt in the backend's prefix cache:

* ``sequential``: the loop a user would write, K calls ``backend.generate([prompt], params)`` with a
  seed each (default parameters, so calls 2..K may reuse the prompt's keys/values cached by call 1);
* ``sequential, no reuse``: the same with ``prefix_reuse=False`` (every call prefills the prompt);
* ``batched``: ``sampling.sample_task`` (the prompt repeated K times in one ``generate`` batch: one
  prefill of the shared prompt, K rows decoded together);
* ``batched, no reuse``: the same batch with ``prefix_reuse=False`` (K prefills, decoded together).

With vLLM's CPU build installed (``.venv-vllm``; ``--no-vllm`` skips it), three more methods join the
same rotation, each against a vLLM server serving the same SmolLM2 weights:

* ``vllm n=K, prefix cache``: one completion request per query with ``n = K`` (vLLM fans it out
  into K sequences) on a server with prefix caching (the K sequences share the prompt's blocks);
* ``vllm n=K, no prefix cache``: the same requests on a second server started with
  ``--no-enable-prefix-caching`` (every sequence prefills the prompt);
* ``vllm K requests``: ``sampling.sample_task`` through the kernel's vLLM backend (K concurrent
  single completions of the same prompt, prefix caching on), the plugin's own path.

The vLLM baseline is ``vllm n=K, no prefix cache``; its ratios are printed beside the local ones.

Prompts are few-shot single-digit arithmetic (``tasks.digit_arithmetic``) with 3 shots (short) and
24 shots (long); answers are 4 tokens at temperature 1. The baseline is the faster sequential
variant; ratios are its seconds over each method's.

    .venv/bin/python benchmarks/voting_sampling.py [--k 8] [--queries 4] [--rounds 3] [--threads 2] [--no-vllm]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from skyplex.interfaces.model import GenerationParams
from skyplex_voting.sampling import Query, sample_task
from skyplex_voting.tasks import digit_arithmetic

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "voting_sampling.json"
METHODS = ("sequential", "sequential, no reuse", "batched", "batched, no reuse")
VLLM_METHODS = ("vllm n=K, prefix cache", "vllm n=K, no prefix cache", "vllm K requests")
MAX_TOKENS = 4


def vllm_n(base_url: str, model: str, prompt: str, k: int, seed: int) -> list[str]:
    """K samples of one prompt in one vLLM completion request (``n = K``)."""
    import httpx

    body = {"model": model, "prompt": prompt, "n": k, "max_tokens": MAX_TOKENS, "temperature": 1.0, "seed": seed}
    response = httpx.post(f"{base_url.rstrip('/')}/completions", json=body, timeout=600)
    response.raise_for_status()
    return [c["text"] for c in sorted(response.json()["choices"], key=lambda c: c["index"])]


def run(backend, method: str, queries: list[Query], k: int, seed: int,
        servers: dict | None = None) -> tuple[float, int, list[list[str]]]:
    """Seconds for K samples of every query, samples drawn, and the texts (to check they vary)."""
    t0 = time.perf_counter()
    texts: list[list[str]] = []
    if method.startswith("vllm n=K"):
        server = servers["cache" if method.endswith(", prefix cache") else "no cache"]
        texts = [vllm_n(server.base_url, server.model, q.prompt, k, seed + 1000 * qi) for qi, q in enumerate(queries)]
    elif method == "vllm K requests":
        records = sample_task(servers["cache"], queries, k, temperature=1.0, max_tokens=MAX_TOKENS, seed=seed,
                              answer_kind="number")
        texts = [r["texts"] for r in records]
    elif method.startswith("sequential"):
        reuse = method == "sequential"
        for qi, q in enumerate(queries):
            row = []
            for i in range(k):
                params = GenerationParams(max_tokens=MAX_TOKENS, temperature=1.0, seed=seed + 1000 * qi + i,
                                          prefix_reuse=reuse)
                row.append(backend.generate([q.prompt], params)[0].text)
            texts.append(row)
    else:
        records = sample_task(backend, queries, k, temperature=1.0, max_tokens=MAX_TOKENS, seed=seed,
                              answer_kind="number", prefix_reuse=method == "batched")
        texts = [r["texts"] for r in records]
    return time.perf_counter() - t0, sum(len(t) for t in texts), texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=8, help="samples per query")
    ap.add_argument("--queries", type=int, default=4, help="queries per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (each method once per round)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-vllm", action="store_true", help="only the local backend")
    args = ap.parse_args()

    from skyplex.models.local import LocalBackend
    from skyplex.models.vllm_backend import VLLMBackend, vllm_available

    backend = LocalBackend(data_dir=ROOT / ".data" / "test", threads=args.threads, max_batch_size=max(16, args.k))
    backend.generate(["1 + 1 = "], GenerationParams(max_tokens=2))  # load the weights outside the timing
    servers: dict = {}
    methods = METHODS
    if not args.no_vllm and vllm_available():
        for key, extra in (("cache", ()), ("no cache", ("--no-enable-prefix-caching",))):
            servers[key] = VLLMBackend(data_dir=ROOT / ".data" / "test", enforce_eager=True, startup_timeout_s=900,
                                       server_args=extra)
            servers[key].ensure_server()
            servers[key].generate(["1 + 1 = "], GenerationParams(max_tokens=2))  # warm, outside the timing
        methods = METHODS + VLLM_METHODS
    elif not args.no_vllm:
        print("vLLM is not installed here (make install-vllm builds .venv-vllm): local backend only")
    try:
        rows = measure(backend, servers, methods, args)
    finally:
        for server in servers.values():
            server.close()
    report(rows, methods, args, vllm=bool(servers))


def measure(backend, servers: dict, methods: tuple[str, ...], args: argparse.Namespace) -> list[dict]:
    """Every method once per round, in a rotating order, on fresh prompts."""
    rows = []
    fresh = 0
    for shots, label in ((3, "short (3-shot)"), (24, "long (24-shot)")):
        for rnd in range(args.rounds):
            order = methods[rnd % len(methods):] + methods[: rnd % len(methods)]
            for method in order:
                fresh += 1  # new prompts for every measurement: nothing cached from another method
                qs = [Query(id=r["id"], prompt=r["prompt"], answer=r["answer"])
                      for r in digit_arithmetic(args.queries, seed=10_000 + fresh, shots=shots)]
                tokens = backend.count_tokens(qs[0].prompt)
                secs, n, texts = run(backend, method, qs, args.k, seed=fresh, servers=servers)
                distinct = sum(len(set(t)) for t in texts) / len(texts)
                rows.append({"prompt": label, "shots": shots, "prompt_tokens": tokens, "method": method, "round": rnd,
                             "seconds": secs, "samples": n, "samples_per_second": n / secs,
                             "distinct_texts_per_query": distinct})
                print(f"{label:>15} round {rnd} {method:>21}: {secs:6.2f} s for {n} samples "
                      f"({n / secs:5.1f}/s, {distinct:.1f} distinct texts per query)", flush=True)
    return rows


def report(rows: list[dict], methods: tuple[str, ...], args: argparse.Namespace, *, vllm: bool) -> None:
    """The table (medians, ratios against each backend's baseline) and the JSON."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"K = {args.k} samples per query, {args.queries} queries, {MAX_TOKENS} tokens each, "
                        f"median of {args.rounds} interleaved rounds ({args.threads} threads)")
    for col in ("prompt", "method", "seconds", "samples/s", "distinct/query", "speed-up vs baseline", "baseline"):
        table.add_column(col)
    summary = []
    for label in dict.fromkeys(r["prompt"] for r in rows):
        sel = [r for r in rows if r["prompt"] == label]
        med = {m: statistics.median(r["seconds"] for r in sel if r["method"] == m) for m in methods}
        distinct = {m: statistics.mean(r["distinct_texts_per_query"] for r in sel if r["method"] == m) for m in methods}
        local_base = min(med["sequential"], med["sequential, no reuse"])
        for m in methods:
            n = args.k * args.queries
            base, base_name = ((med["vllm n=K, no prefix cache"], "vllm n=K, no prefix cache") if m.startswith("vllm")
                               else (local_base, "best sequential (local)"))
            table.add_row(label, m, f"{med[m]:.2f}", f"{n / med[m]:.1f}", f"{distinct[m]:.1f}", f"{base / med[m]:.2f}x",
                          base_name)
            summary.append({"prompt": label, "method": m, "median_seconds": med[m], "samples_per_second": n / med[m],
                            "distinct_texts_per_query": distinct[m], "baseline": base_name,
                            "speedup_vs_baseline": base / med[m]})
    Console(width=140).print(table)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "k": args.k,
                               "queries": args.queries, "rounds": args.rounds, "threads": args.threads, "vllm": vllm,
                               "max_tokens": MAX_TOKENS, "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
