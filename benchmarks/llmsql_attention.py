"""CPU speedup of cascade (prefix-sharing) attention over attention per sequence.

A group of G sequences shares a prefix of P tokens; each has its own suffix of L tokens and M query
tokens at its end (M = 1: decode; M = 16: a short prefill). Heads are SmolLM2-135M's: 9 q heads,
3 kv heads, head_dim 64, float32. Methods, all computing the same (out, lse) or out:

* ``cascade``: ``skyplex._C.cascade_attention`` (C++, OpenMP): the group's queries meet the shared
  prefix once, as one matrix product per kv head, then each sequence its own suffix, merged by lse;
* ``C++ per-seq`` (the baseline that isolates the algorithm): the *same* compiled kernels with no
  shared prefix: every sequence's keys/values are its own copy of [prefix || suffix] (what an
  HF DynamicCache holds after the local backend copies the prefix into each row), one call;
* ``SDPA per-seq``: ``torch.nn.functional.scaled_dot_product_attention`` once per sequence on its
  own [prefix || suffix] (GQA via ``enable_gqa``; an explicit bottom-right causal mask for M > 1);
* ``SDPA batched``: one SDPA call on the [G, heads, P + L, head_dim] batch with the prefix copied
  into each row: what HF transformers' Llama does in the local backend's decode.
  (torch columns only when torch is importable.)

Each time is the minimum over at least ``--repeats`` rounds (more, up to 200, while a case has run
for less than half a second), the methods interleaved within a round, so other work on the (shared,
2-core) machine skews them alike. The naive NumPy reference is not timed (it
computes in float64 and is 10-100x slower; it is the ground truth in tests/test_cascade_attention.py).
Prints a rich table and writes JSON (``--out``). Usage::

    .venv/bin/python benchmarks/llmsql_attention.py --decode-share            # 1 thread
    .venv/bin/python benchmarks/llmsql_attention.py --threads 2 --out benchmarks/results/llmsql_attention_2threads.json
    .venv/bin/python benchmarks/llmsql_attention.py --cuda                     # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "llmsql_attention.json"

Q_HEADS, KV_HEADS, HEAD_DIM = 9, 3, 64  # SmolLM2-135M
SUFFIX_LEN = 64
RATIOS = (1, 4, 16, 32)  # prefix : suffix
DECODE_GROUPS = (4, 16, 64)
PREFILL_GROUPS = (4, 16)
PREFILL_QUERIES = 16
MIN_SECONDS_PER_CASE = 0.5


def _machine(threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "load_average_1m": os.getloadavg()[0],  # other work on the machine skews timings
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def make_case(rng: np.random.Generator, groups: int, prefix_len: int, suffix_len: int, queries: int) -> dict[str, Any]:
    """Inputs in cascade layout plus the per-sequence copies the baselines need."""

    def rand(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    q = rand(groups * queries, Q_HEADS, HEAD_DIM)
    k_prefix, v_prefix = rand(prefix_len, KV_HEADS, HEAD_DIM, scale=2.0), rand(prefix_len, KV_HEADS, HEAD_DIM)
    k_suffix = rand(groups * suffix_len, KV_HEADS, HEAD_DIM, scale=2.0)
    v_suffix = rand(groups * suffix_len, KV_HEADS, HEAD_DIM)
    per_seq_k = [np.concatenate([k_prefix, k_suffix[i * suffix_len : (i + 1) * suffix_len]]) for i in range(groups)]
    per_seq_v = [np.concatenate([v_prefix, v_suffix[i * suffix_len : (i + 1) * suffix_len]]) for i in range(groups)]
    return {
        "cascade": (
            q,
            k_prefix,
            v_prefix,
            k_suffix,
            v_suffix,
            np.arange(groups + 1, dtype=np.int64) * queries,
            np.arange(groups + 1, dtype=np.int64) * suffix_len,
        ),
        "per_seq": (
            q,
            np.zeros((0, KV_HEADS, HEAD_DIM), np.float32),
            np.zeros((0, KV_HEADS, HEAD_DIM), np.float32),
            np.concatenate(per_seq_k),
            np.concatenate(per_seq_v),
            np.arange(groups + 1, dtype=np.int64) * queries,
            np.arange(groups + 1, dtype=np.int64) * (prefix_len + suffix_len),
        ),
        "per_seq_k": per_seq_k,
        "per_seq_v": per_seq_v,
    }


def torch_methods(case: dict[str, Any], groups: int, queries: int) -> dict[str, Any]:
    """SDPA per sequence and batched, on torch tensors built once (outside the timed calls)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return {}
    q = torch.from_numpy(case["cascade"][0]).view(groups, queries, Q_HEADS, HEAD_DIM).transpose(1, 2).contiguous()
    ks = [torch.from_numpy(k).transpose(0, 1).unsqueeze(0).contiguous() for k in case["per_seq_k"]]
    vs = [torch.from_numpy(v).transpose(0, 1).unsqueeze(0).contiguous() for v in case["per_seq_v"]]
    keys = ks[0].shape[2]
    mask = None
    if queries > 1:  # the queries are the last tokens: query j sees keys 0 .. keys - queries + j
        mask = torch.arange(keys)[None, :] <= (keys - queries + torch.arange(queries))[:, None]
    k_batch, v_batch = torch.cat(ks), torch.cat(vs)

    def per_seq() -> Any:
        with torch.inference_mode():
            return [
                F.scaled_dot_product_attention(q[i : i + 1], ks[i], vs[i], attn_mask=mask, enable_gqa=True)
                for i in range(groups)
            ]

    def batched() -> Any:
        with torch.inference_mode():
            return F.scaled_dot_product_attention(q, k_batch, v_batch, attn_mask=mask, enable_gqa=True)

    def as_packed(out: Any) -> np.ndarray:  # [G, heads, M, D] -> [G * M, heads, D]
        out = torch.cat(out) if isinstance(out, list) else out
        return out.transpose(1, 2).reshape(groups * queries, Q_HEADS, HEAD_DIM).numpy()

    return {"sdpa_per_seq": (per_seq, as_packed), "sdpa_batched": (batched, as_packed)}


def measure(groups: int, prefix_len: int, queries: int, repeats: int, use_torch: bool) -> dict[str, Any]:
    from skyplex import _C

    case = make_case(np.random.default_rng(groups * 100003 + prefix_len), groups, prefix_len, SUFFIX_LEN, queries)
    methods: dict[str, tuple[Any, Any]] = {
        "cascade": (lambda: _C.cascade_attention(*case["cascade"]), lambda r: r[0]),
        "cpp_per_seq": (lambda: _C.cascade_attention(*case["per_seq"]), lambda r: r[0]),
    }
    if use_torch:
        methods.update(torch_methods(case, groups, queries))
    times: dict[str, list[float]] = {name: [] for name in methods}
    outputs = {name: unpack(fn()) for name, (fn, unpack) in methods.items()}  # warm-up, and the results
    started = time.perf_counter()
    # at least `repeats` rounds, more (up to 200) while the case is cheap: the minimum of many short
    # runs is what survives other processes taking the CPU now and then
    rounds = 0
    while rounds < repeats or (rounds < 200 and time.perf_counter() - started < MIN_SECONDS_PER_CASE):
        for name, (fn, _unpack) in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        rounds += 1
    best = {name: min(t) for name, t in times.items()}
    reference = outputs["cpp_per_seq"]
    row: dict[str, Any] = {
        "groups": groups,
        "prefix_len": prefix_len,
        "suffix_len": SUFFIX_LEN,
        "ratio": f"{prefix_len // SUFFIX_LEN}:1",
        "queries_per_seq": queries,
        "rounds": rounds,
        "time_ms": {name: t * 1e3 for name, t in best.items()},
        "speedup_vs": {name: best[name] / best["cascade"] for name in methods if name != "cascade"},
        "max_abs_diff_vs_cpp_per_seq": {
            name: float(np.abs(out - reference).max()) for name, out in outputs.items() if name != "cpp_per_seq"
        },
        # multiply-adds of attention proper, to read the times as throughput
        "gflop": 4.0 * groups * queries * Q_HEADS * HEAD_DIM * (prefix_len + SUFFIX_LEN) / 1e9,
    }
    return row


def measure_cuda(groups: int, prefix_len: int, queries: int, dtype: str, repeats: int) -> dict[str, Any]:
    """The CUDA kernel through its raw-pointer entry on torch tensors, against torch SDPA.

    Times with CUDA events (minimum over ``repeats``): cascade, SDPA once per sequence on its own
    [prefix || suffix], and SDPA on the padded batch with the prefix copied into every row.
    """
    import torch
    import torch.nn.functional as F

    from skyplex import ops

    case = make_case(np.random.default_rng(groups * 7 + prefix_len), groups, prefix_len, SUFFIX_LEN, queries)
    tdtype = getattr(torch, dtype)
    q_np = case["cascade"][0]
    packed = [torch.from_numpy(a).to("cuda", tdtype) for a in case["cascade"][:5]]
    offsets = [torch.from_numpy(a).cuda() for a in case["cascade"][5:]]
    out = torch.empty(q_np.shape, device="cuda", dtype=torch.float32)
    lse = torch.empty(q_np.shape[:2], device="cuda", dtype=torch.float32)
    q = packed[0].view(groups, queries, Q_HEADS, HEAD_DIM).transpose(1, 2).contiguous()
    ks = [torch.from_numpy(k).to("cuda", tdtype).transpose(0, 1).unsqueeze(0).contiguous() for k in case["per_seq_k"]]
    vs = [torch.from_numpy(v).to("cuda", tdtype).transpose(0, 1).unsqueeze(0).contiguous() for v in case["per_seq_v"]]
    k_batch, v_batch = torch.cat(ks), torch.cat(vs)
    keys = prefix_len + SUFFIX_LEN
    mask = None
    if queries > 1:
        mask = (torch.arange(keys)[None, :] <= (keys - queries + torch.arange(queries))[:, None]).cuda()
    stream = torch.cuda.current_stream()

    def cascade() -> None:
        ops.cascade_attention_cuda_ptr(
            *(t.data_ptr() for t in packed + offsets),
            out.data_ptr(),
            lse.data_ptr(),
            num_seqs=groups,
            total_q=groups * queries,
            prefix_len=prefix_len,
            q_heads=Q_HEADS,
            kv_heads=KV_HEADS,
            head_dim=HEAD_DIM,
            max_queries_per_seq=queries,
            dtype=dtype,
            stream=stream.cuda_stream,
        )

    def per_seq() -> None:
        for i in range(groups):
            F.scaled_dot_product_attention(q[i : i + 1], ks[i], vs[i], attn_mask=mask, enable_gqa=True)

    def batched() -> Any:
        return F.scaled_dot_product_attention(q, k_batch, v_batch, attn_mask=mask, enable_gqa=True)

    times = {}
    with torch.inference_mode():
        for name, fn in (("cascade", cascade), ("sdpa_per_seq", per_seq), ("sdpa_batched", batched)):
            fn()
            samples = []
            for _ in range(repeats):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                samples.append(start.elapsed_time(end))
            times[name] = min(samples)
        cascade()
        reference = batched().float().transpose(1, 2).reshape(out.shape)
        torch.cuda.synchronize()
    return {
        "groups": groups,
        "prefix_len": prefix_len,
        "ratio": f"{prefix_len // SUFFIX_LEN}:1",
        "queries_per_seq": queries,
        "dtype": dtype,
        "time_ms": times,
        "speedup_vs": {name: times[name] / times["cascade"] for name in times if name != "cascade"},
        "max_abs_diff_vs_sdpa": float((out - reference).abs().max()),
    }


def run_cuda(repeats: int, out_path: Path) -> int:
    """The GPU half of the benchmark (``--cuda``): needs a device and torch with CUDA."""
    from rich.console import Console
    from rich.table import Table

    from skyplex import ops

    try:
        import torch
    except ImportError:
        print("--cuda needs torch with CUDA support", file=sys.stderr)
        return 2
    if "cuda" not in ops.available_backends() or not torch.cuda.is_available():
        print(f"--cuda needs a CUDA device (skyplex backends here: {ops.available_backends()})", file=sys.stderr)
        return 2
    rows = [
        measure_cuda(groups, ratio * SUFFIX_LEN, queries, dtype, repeats)
        for dtype in ("bfloat16", "float32")
        for queries, groups_list in ((1, DECODE_GROUPS), (PREFILL_QUERIES, PREFILL_GROUPS))
        for groups in groups_list
        for ratio in RATIOS
    ]
    result = {"benchmark": "llmsql_attention_cuda", "device": torch.cuda.get_device_name(), "rows": rows}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    table = Table(title=f"cascade attention on {result['device']} ({Q_HEADS} q / {KV_HEADS} kv heads, d {HEAD_DIM})")
    for col in ("dtype", "M", "G", "P:L", "cascade ms", "SDPA per-seq ms", "x", "SDPA batch ms", "x", "max |diff|"):
        table.add_column(col, justify="right")
    for r in rows:
        t, x = r["time_ms"], r["speedup_vs"]
        table.add_row(
            r["dtype"],
            str(r["queries_per_seq"]),
            str(r["groups"]),
            r["ratio"],
            f"{t['cascade']:.3f}",
            f"{t['sdpa_per_seq']:.3f}",
            f"{x['sdpa_per_seq']:.2f}",
            f"{t['sdpa_batched']:.3f}",
            f"{x['sdpa_batched']:.2f}",
            f"{r['max_abs_diff_vs_sdpa']:.1e}",
        )
    Console(width=150).print(table)
    # bfloat16 inputs and SDPA's own bfloat16 output: agreement to a few bfloat16 ulps
    worst = max(r["max_abs_diff_vs_sdpa"] for r in rows)
    return 0 if worst < 3e-2 else 1


SHARE_CONTEXT = (
    "Beer review database. Each row lists a beer's name, brewery, style, alcohol by volume, and a short "
    "review scoring aroma, appearance, palate and taste from one to five. "
)


def measure_decode_share(threads: int, groups: int, prefix_tokens: int, new_tokens: int) -> dict[str, Any]:
    """Where the local backend's decode time goes for one grouped batch (prefix reuse on).

    Loads SmolLM2-135M through the ``local`` backend and times, during the decode steps only (one
    new token per row), the whole forward pass, the attention calls (HF's SDPA attention function),
    and the KV-cache appends (``DynamicLayer.update``: ``torch.cat`` of every row's keys and values,
    prefix copies included). Then times the cascade kernel on the same shapes, to bound what wiring
    it in could save: at most the attention time minus the cascade time.
    """
    import torch
    import transformers.cache_utils as cache_utils
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from skyplex import _C
    from skyplex.interfaces.model import GenerationParams
    from skyplex.models.local import LocalBackend

    backend = LocalBackend(threads=threads, max_batch_size=groups)
    backend.generate(["Hello"], GenerationParams(max_tokens=2))  # load and warm up
    tokenizer = backend._tokenizer_loaded()
    context = SHARE_CONTEXT * (prefix_tokens // 20 + 2)
    ids = tokenizer.encode(context, add_special_tokens=False)[:prefix_tokens]
    context = tokenizer.decode(ids)
    prompts = [f"{context}Row {i}: name = Ale number {i}, brewery = Brewery {i % 7}. Summarise the row:" for i in range(groups)]

    totals = {"forward": 0.0, "attention": 0.0, "cache_update": 0.0}
    steps = {"decode_forwards": 0, "attention_calls": 0}
    shapes: list[tuple[int, int]] = []  # (batch, kv length) of each decode attention call
    state = {"decoding": False}
    sdpa = ALL_ATTENTION_FUNCTIONS["sdpa"]
    update = cache_utils.DynamicLayer.update
    engine = backend._engine_loaded()
    forward = engine._forward

    def timed_sdpa(module, query, key, value, *args, **kwargs):
        start = time.perf_counter()
        result = sdpa(module, query, key, value, *args, **kwargs)
        if state["decoding"]:
            totals["attention"] += time.perf_counter() - start
            steps["attention_calls"] += 1
            shapes.append((query.shape[0], key.shape[2]))
        return result

    def timed_update(layer, *args, **kwargs):
        start = time.perf_counter()
        result = update(layer, *args, **kwargs)
        if state["decoding"]:
            totals["cache_update"] += time.perf_counter() - start
        return result

    def timed_forward(input_ids, mask, positions, cache):
        state["decoding"] = input_ids.shape[1] == 1
        start = time.perf_counter()
        result = forward(input_ids, mask, positions, cache)
        if state["decoding"]:
            totals["forward"] += time.perf_counter() - start
            steps["decode_forwards"] += 1
        state["decoding"] = False
        return result

    ALL_ATTENTION_FUNCTIONS["sdpa"] = timed_sdpa
    cache_utils.DynamicLayer.update = timed_update
    engine._forward = timed_forward
    try:
        params = GenerationParams(max_tokens=new_tokens, temperature=0.0, prefix_reuse=True)
        completions = backend.generate(prompts, params)
    finally:
        ALL_ATTENTION_FUNCTIONS["sdpa"] = sdpa
        cache_utils.DynamicLayer.update = update
        engine._forward = forward
        backend.close()
    cached = completions[0].usage.cached_prompt_tokens

    # On the decode calls' shapes (shared prefix `cached`, the rest per row): the cascade kernel, and
    # torch SDPA given the padding mask *and* enable_gqa. HF passes a mask here (padding between
    # prefix and suffix) and then repeats the kv heads itself (repeat_kv) instead of enable_gqa.
    rng = np.random.default_rng(0)
    cascade_s = sdpa_gqa_s = 0.0
    for batch, kv_len in sorted(set(shapes)):
        calls = shapes.count((batch, kv_len))
        case = make_case(rng, batch, cached, kv_len - cached, 1)["cascade"]
        cascade_s += calls * min(_timed(lambda: _C.cascade_attention(*case)) for _ in range(20))
        q = torch.randn(batch, Q_HEADS, 1, HEAD_DIM)
        k, v = torch.randn(batch, KV_HEADS, kv_len, HEAD_DIM), torch.randn(batch, KV_HEADS, kv_len, HEAD_DIM)
        mask = torch.ones(batch, 1, 1, kv_len, dtype=torch.bool)
        mask[:, :, :, cached : cached + 4] = False  # some padding, as in the backend's batches
        with torch.inference_mode():
            sdpa_call = lambda: torch.nn.functional.scaled_dot_product_attention(  # noqa: E731
                q, k, v, attn_mask=mask, enable_gqa=True
            )
            sdpa_gqa_s += calls * min(_timed(sdpa_call) for _ in range(20))
    return {
        "model": "SmolLM2-135M (30 layers, 9 q / 3 kv heads, head_dim 64, float32)",
        "torch_threads": torch.get_num_threads(),
        "groups": groups,
        "shared_prefix_tokens": cached,
        "new_tokens": new_tokens,
        **steps,
        "decode_forward_s": totals["forward"],
        "attention_s": totals["attention"],
        "cache_update_s": totals["cache_update"],
        "attention_share": totals["attention"] / totals["forward"],
        "cache_update_share": totals["cache_update"] / totals["forward"],
        "cascade_kernel_s_same_shapes": cascade_s,
        "sdpa_mask_enable_gqa_s_same_shapes": sdpa_gqa_s,
        "best_case_decode_saving_share": max(0.0, totals["attention"] - cascade_s) / totals["forward"],
    }


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="OpenMP and torch threads (default 1: robust on a shared machine)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true", help="skip the torch SDPA columns")
    parser.add_argument(
        "--decode-share",
        action="store_true",
        help="also load SmolLM2-135M and measure the attention share of the local backend's grouped decode",
    )
    parser.add_argument(
        "--cuda",
        action="store_true",
        help="instead: the CUDA kernel against torch SDPA on a GPU (JSON to results/llmsql_attention_cuda.json)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.cuda:
        return run_cuda(max(args.repeats, 20), args.out or DEFAULT_OUT.with_name("llmsql_attention_cuda.json"))
    args.out = args.out or DEFAULT_OUT
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when skyplex._C's OpenMP starts
    use_torch = not args.no_torch
    if use_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            use_torch = False

    from rich.console import Console
    from rich.table import Table

    rows = []
    for queries, groups_list in ((1, DECODE_GROUPS), (PREFILL_QUERIES, PREFILL_GROUPS)):
        for groups in groups_list:
            for ratio in RATIOS:
                rows.append(measure(groups, ratio * SUFFIX_LEN, queries, args.repeats, use_torch))
    result = {
        "benchmark": "llmsql_attention",
        "heads": {"q_heads": Q_HEADS, "kv_heads": KV_HEADS, "head_dim": HEAD_DIM, "dtype": "float32"},
        "repeats": args.repeats,
        "timing": "minimum over rounds (>= repeats), methods interleaved within a round",
        "machine": _machine(args.threads),
        "rows": rows,
    }
    if use_torch:
        import torch

        result["machine"]["torch"] = torch.__version__
    if args.decode_share:
        result["decode_share"] = [
            measure_decode_share(args.threads, groups, prefix_tokens=512, new_tokens=32) for groups in (4, 16)
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    table = Table(
        title=f"cascade attention on CPU ({Q_HEADS} q / {KV_HEADS} kv heads, head_dim {HEAD_DIM}, float32, "
        f"{args.threads} threads, suffix {SUFFIX_LEN} tokens)"
    )
    for col in ("M", "G", "P:L", "cascade ms", "C++ per-seq ms", "x vs C++", "SDPA per-seq ms", "x", "SDPA batch ms", "x"):
        table.add_column(col, justify="right")
    for r in rows:
        t, x = r["time_ms"], r["speedup_vs"]
        torch_cells = []
        for method in ("sdpa_per_seq", "sdpa_batched"):
            torch_cells += [f"{t[method]:.3f}", f"{x[method]:.2f}"] if method in t else ["-", "-"]
        table.add_row(
            str(r["queries_per_seq"]),
            str(r["groups"]),
            r["ratio"],
            f"{t['cascade']:.3f}",
            f"{t['cpp_per_seq']:.3f}",
            f"{x['cpp_per_seq']:.2f}",
            *torch_cells,
        )
    console = Console(width=150)
    console.print(table)
    worst = max(max(r["max_abs_diff_vs_cpp_per_seq"].values()) for r in rows)
    console.print(f"largest |difference| between methods: {worst:.2e}; JSON: {args.out}")
    for share in result.get("decode_share", []):
        console.print(
            f"local backend decode, {share['groups']} sequences sharing {share['shared_prefix_tokens']} tokens, "
            f"{share['decode_forwards']} steps: forward {share['decode_forward_s']:.2f} s, attention "
            f"{share['attention_s']:.2f} s ({share['attention_share']:.0%}), KV-cache appends "
            f"{share['cache_update_s']:.2f} s ({share['cache_update_share']:.0%}); cascade kernel on the same shapes "
            f"{share['cascade_kernel_s_same_shapes']:.2f} s (SDPA with enable_gqa instead of repeat_kv: "
            f"{share['sdpa_mask_enable_gqa_s_same_shapes']:.2f} s), so cascade saves at best "
            f"{share['best_case_decode_saving_share']:.0%} of decode time"
        )
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
