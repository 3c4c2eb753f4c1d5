"""Workloads for Mélange: bucket histograms from request traces or from a kernel ``Workload``.

A histogram splits requests by (input length, output length) into buckets given by edges; each
bucket gets the share of requests that fell in it. With a total rate ``R`` each bucket becomes a
``RequestClass`` whose rate is ``share * R``. Its token lengths are the longest request seen in the
bucket, so a throughput looked up for it is never optimistic.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from skyplex.errors import InvalidInputError
from skyplex.interfaces import RequestClass, Workload

#: default bucket edges (tokens), roughly doubling, like the paper's buckets
DEFAULT_INPUT_EDGES = (0, 128, 512, 1024, 2048, 4096, 8192)
DEFAULT_OUTPUT_EDGES = (0, 64, 128, 256, 512, 1024, 2048)
HISTOGRAM_TOLERANCE = 1e-6


@dataclass
class TraceRequest:
    input_tokens: int
    output_tokens: int
    timestamp: float | None = None
    slo_tier: str | None = None


def _trace_text(p: Path) -> str:
    """The trace file's text, gunzipped when it ends in ``.gz``; a corrupt, truncated or non-UTF-8
    file is an error naming it (not a crash, not an 'interrupted')."""
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix.lower() == ".gz" else p.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInputError(f"trace {p} is not a valid gzip file, or it is truncated ({exc}); "
                                "give the whole .gz file or the uncompressed trace", field="trace") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"trace {p} is not UTF-8 text ({exc.reason} at byte {exc.start}); give a CSV or "
                                "JSONL file (optionally .gz)", field="trace") from None


def read_trace(path: str | Path) -> list[TraceRequest]:
    """Read a CSV or JSONL trace (optionally gzipped, ``.csv.gz``/``.jsonl.gz``) with ``input_tokens``, ``output_tokens`` and optional ``timestamp``
    (seconds) and ``slo_tier`` columns. Rows with bad numbers are errors naming the row."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"trace file {p} does not exist", field="trace")
    rows: list[dict] = []
    text = _trace_text(p)
    kind = p.suffix.lower() if p.suffix.lower() != ".gz" else Path(p.stem).suffix.lower()
    if kind in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"trace {p} line {n} is not JSON: {exc}", field="trace") from exc
    else:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    out = []
    for n, row in enumerate(rows, start=1):
        try:
            i, o = int(float(row["input_tokens"])), int(float(row["output_tokens"]))
            ts = row.get("timestamp")
            ts = float(ts) if ts not in (None, "") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"trace {p} row {n} needs numeric input_tokens and output_tokens (got {row!r})", field="trace"
            ) from exc
        if i < 0 or o < 1:
            raise InvalidInputError(f"trace {p} row {n}: input_tokens >= 0 and output_tokens >= 1 required", field="trace")
        tier = row.get("slo_tier") or None
        out.append(TraceRequest(i, o, ts, tier))
    if not out:
        raise InvalidInputError(f"trace {p} has no requests", field="trace")
    return out


def _bucket_index(value: int, edges: Sequence[int]) -> int:
    """Index of the bucket (edges[k], edges[k+1]] holding value; the last bucket is open-ended."""
    for k in range(1, len(edges)):
        if value <= edges[k]:
            return k - 1
    return len(edges) - 2


def _check_edges(edges: Sequence[int], name: str) -> None:
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise InvalidInputError(f"{name} must be at least two strictly increasing numbers, got {list(edges)}", field=name)


def workload_from_trace(
    trace: Sequence[TraceRequest] | str | Path,
    *,
    total_rate: float | None = None,
    input_edges: Sequence[int] = DEFAULT_INPUT_EDGES,
    output_edges: Sequence[int] = DEFAULT_OUTPUT_EDGES,
) -> Workload:
    """A bucketed workload from a trace.

    The rate is ``total_rate`` when given, else requests / (last - first timestamp). SLO tiers in the
    trace become separate buckets per tier, listed in ``metadata['request_tiers']``.
    """
    reqs = read_trace(trace) if isinstance(trace, (str, Path)) else list(trace)
    if not reqs:
        raise InvalidInputError("the trace has no requests", field="trace")
    _check_edges(input_edges, "input_edges")
    _check_edges(output_edges, "output_edges")
    if total_rate is None:
        stamps = [r.timestamp for r in reqs if r.timestamp is not None]
        span = (max(stamps) - min(stamps)) if len(stamps) >= 2 else 0.0
        if span <= 0:
            raise InvalidInputError(
                "give total_rate: the trace has no timestamps spanning a positive time to derive it from",
                field="total_rate",
            )
        total_rate = len(reqs) / span
    if not math.isfinite(total_rate) or total_rate <= 0:
        raise InvalidInputError(f"total_rate must be > 0 req/s, got {total_rate!r}", field="total_rate")
    counts: dict[tuple[str | None, int, int], list[TraceRequest]] = {}
    for r in reqs:
        key = (r.slo_tier, _bucket_index(r.input_tokens, input_edges), _bucket_index(r.output_tokens, output_edges))
        counts.setdefault(key, []).append(r)
    classes, tiers = [], {}
    for (tier, i, k), members in sorted(counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][2])):
        name = f"in{input_edges[i]}-{input_edges[i + 1]}/out{output_edges[k]}-{output_edges[k + 1]}"
        if tier:
            name = f"{tier}:{name}"
            tiers[name] = tier
        classes.append(
            RequestClass(
                name=name,
                input_tokens=max(m.input_tokens for m in members),
                output_tokens=max(m.output_tokens for m in members),
                rate=total_rate * len(members) / len(reqs),
            )
        )
    meta = {"source": "trace", "requests": len(reqs), "input_edges": list(input_edges), "output_edges": list(output_edges)}
    if tiers:
        meta["request_tiers"] = tiers
    return Workload(name="trace", requests=classes, metadata=meta)


def hourly_rates(trace: Sequence[TraceRequest] | str | Path, period_s: float = 3600.0) -> list[float]:
    """Requests per second in each period (default: hour) of a timestamped trace, from the first request."""
    reqs = read_trace(trace) if isinstance(trace, (str, Path)) else list(trace)
    stamps = [r.timestamp for r in reqs if r.timestamp is not None]
    if not stamps:
        raise InvalidInputError("the trace has no timestamps, so it has no per-period rates", field="trace")
    if period_s <= 0:
        raise InvalidInputError(f"period_s must be > 0, got {period_s}", field="period_s")
    t0 = min(stamps)
    n = int((max(stamps) - t0) // period_s) + 1
    counts = [0] * n
    for t in stamps:
        counts[int((t - t0) // period_s)] += 1
    return [c / period_s for c in counts]


def histogram_workload(
    fractions: Sequence[Sequence[float]],
    total_rate: float,
    *,
    input_lengths: Sequence[int] | None = None,
    output_lengths: Sequence[int] | None = None,
) -> Workload:
    """The paper's input form: a matrix ``fractions[i][k]`` over (input bucket, output bucket) that sums
    to 1, and a total rate. Lengths default to the bucket indices (fine when tables are given directly).
    """
    if not fractions or not all(len(row) for row in fractions):
        raise InvalidInputError("the histogram is empty", field="workload_distribution")
    width = len(fractions[0])
    total = 0.0
    for i, row in enumerate(fractions):
        if len(row) != width:
            raise InvalidInputError(f"histogram row {i} has {len(row)} entries, row 0 has {width}", field="workload_distribution")
        for k, f in enumerate(row):
            if not isinstance(f, (int, float)) or not math.isfinite(f) or f < 0:
                raise InvalidInputError(f"histogram entry [{i}][{k}] is {f!r}; shares are >= 0",
                                        field=f"workload_distribution[{i}][{k}]")
            total += f
    if abs(total - 1.0) > HISTOGRAM_TOLERANCE:
        raise InvalidInputError(
            f"histogram shares sum to {total:.6g}, not 1; normalise it (divide each entry by the sum)",
            field="workload_distribution",
        )
    if not math.isfinite(total_rate) or total_rate <= 0:
        raise InvalidInputError(f"total rate must be > 0 req/s, got {total_rate!r}", field="total_request_rate")
    ins = list(input_lengths) if input_lengths is not None else list(range(len(fractions)))
    outs = list(output_lengths) if output_lengths is not None else list(range(1, width + 1))
    if len(ins) != len(fractions) or len(outs) != width:
        raise InvalidInputError("bucket lengths do not match the histogram's shape", field="workload_distribution")
    classes = [
        RequestClass(name=f"in{ins[i]}/out{outs[k]}", input_tokens=ins[i], output_tokens=outs[k], rate=f * total_rate)
        for i, row in enumerate(fractions)
        for k, f in enumerate(row)
    ]
    return Workload(name="histogram", requests=classes, metadata={"source": "histogram"})


def scale_workload(workload: Workload, total_rate: float) -> Workload:
    """The same mix of request sizes at another total rate."""
    current = workload.total_rate
    if current <= 0:
        raise InvalidInputError("the workload's total rate is 0, so its mix cannot be scaled", field="workload.requests")
    factor = total_rate / current
    return workload.model_copy(update={"requests": [r.model_copy(update={"rate": r.rate * factor}) for r in workload.requests]})
