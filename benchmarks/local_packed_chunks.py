"""The local backend with and without its packed weights and small busy-time prefill chunks.

Two local backends in one process, same weights, one thread each: ``after`` as shipped, ``before``
with the oneDNN weight packing skipped and 256-token prefill chunks whether or not rows are decoding
(the scheduler before those two changes). The workloads are those of ``serving_vs_vllm.py`` (decode
at batch 1 and 8, a short request alone, beside a long decode, and while a ~1,800-token prompt is
prefilled), run on both in turn each round (interleaved), medians over rounds, reported as ratios::

    .venv/bin/python benchmarks/local_packed_chunks.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving_vs_vllm as workloads  # noqa: E402 - the benchmark beside this one

from skyplex.interfaces import GenerationParams  # noqa: E402
from skyplex.models import _local_linear as linear  # noqa: E402
from skyplex.models.local import LocalBackend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def backends(data_dir: Path, threads: int) -> dict[str, LocalBackend]:
    after = LocalBackend(data_dir=data_dir, threads=threads)
    after.generate(["warm up"], GenerationParams(max_tokens=2))
    packing = linear.pack_linears
    linear.pack_linears = lambda model: 0  # the model loads with torch's default matmul
    try:
        before = LocalBackend(data_dir=data_dir, threads=threads)
        before.generate(["warm up"], GenerationParams(max_tokens=2))
    finally:
        linear.pack_linears = packing
    before._scheduler_loaded().busy_prefill_chunk_tokens = 0  # 256-token chunks even while rows decode
    return {"after": after, "before": before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--long-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "test")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "local_packed_chunks.json")
    args = parser.parse_args()

    load_start = os.getloadavg()
    targets = backends(args.data_dir, args.threads)
    raw: dict[str, dict[str, list[float]]] = {}

    def record(work: str, name: str, value: float) -> None:
        raw.setdefault(work, {}).setdefault(name, []).append(value)

    for rnd in range(args.rounds):
        print(f"round {rnd + 1}/{args.rounds}", file=sys.stderr)
        for name, backend in targets.items():
            record("decode b1 (tok/s)", name, workloads.decode_rate(backend, 1, args.max_tokens))
            record("decode b8 (tok/s)", name, workloads.decode_rate(backend, 8, args.max_tokens))
            alone, loaded = workloads.short_under_long(backend, args.long_tokens)
            record("short alone (s)", name, alone)
            record("short beside a long decode (s)", name, loaded)
            record("short under a long prefill (s)", name, workloads.short_under_long_prompt(backend))
    for backend in targets.values():
        backend.close()

    med = {w: {n: statistics.median(v) for n, v in by.items()} for w, by in raw.items()}
    table = Table(title=f"local backend before / after packed weights and busy chunks, medians of {args.rounds} rounds")
    for col in ("work", "before", "after", "after / before"):
        table.add_column(col)
    for work, by in med.items():
        table.add_row(work, f"{by['before']:.2f}", f"{by['after']:.2f}", f"{by['after'] / by['before']:.2f}")
    for name in ("before", "after"):
        alone = med["short alone (s)"][name]
        table.add_row(
            f"{name}: short beside long decode | under long prefill, x alone",
            "", "", f"{med['short beside a long decode (s)'][name] / alone:.2f} | {med['short under a long prefill (s)'][name] / alone:.2f}",
        )
    Console().print(table)
    load_end = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {load_start}, at end {load_end}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "load_start": load_start,
                                    "load_end": load_end, "raw": raw, "medians": med}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
