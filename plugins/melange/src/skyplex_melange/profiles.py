"""GPU profiles: how many req/s of each request size one GPU sustains within an SLO.

Two sources:

* **Measured** profiles, written by :mod:`skyplex_melange.profiler`. The file is JSON Lines: a header
  line (``format``, ``version``, GPU, model, endpoint) and then one line per measured point
  (input length, output length, offered rate, per-request TTFT and TPOT, achieved throughput).
  Appending one line per finished point is what makes profiling resumable. :func:`max_rate_table`
  turns the points into the table the solver needs for any SLO, after the fact.
* **Roofline estimates** (:func:`roofline_max_rate`) from a GPU's memory, bandwidth and peak FLOP/s and
  a model's size, for planning without measurements. Results carry ``estimate: true``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError
from skyplex.interfaces import SLO, GPUType, ModelSpec

PROFILE_FORMAT = "skyplex-melange-profile"
PROFILE_VERSION = 1

#: a point is saturated (the server fell behind the offered rate) when the latency of the last third
#: of its requests, in send order, exceeds this multiple of the first third's: a queue was building
QUEUE_GROWTH_LIMIT = 1.5


# --- measured profiles ----------------------------------------------------------------------------


@dataclass
class ProfilePoint:
    """One measured point: ``requests`` sent at ``rate`` req/s with these lengths, and what came back."""

    input_tokens: int
    output_tokens: int
    rate: float
    requests: int
    ttft_s: list[float]
    tpot_s: list[float]
    e2e_s: list[float]
    throughput_rps: float
    output_tokens_per_s: float
    errors: int = 0
    duration_s: float = 0.0

    @property
    def key(self) -> tuple[int, int, float]:
        return (self.input_tokens, self.output_tokens, round(self.rate, 9))


@dataclass
class ProfileHeader:
    """What a profile file measured. ``version`` changes when the line format changes."""

    gpu: str
    model: str
    endpoint: str = ""
    format: str = PROFILE_FORMAT
    version: int = PROFILE_VERSION
    created: float = field(default_factory=time.time)
    estimate: bool = False
    notes: str = ""


@dataclass
class Profile:
    header: ProfileHeader
    points: list[ProfilePoint]

    def done(self) -> set[tuple[int, int, float]]:
        return {p.key for p in self.points}


def write_header(path: Path, header: ProfileHeader) -> None:
    """Start a new profile file with its header line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"header": asdict(header)}) + "\n")


def append_point(path: Path, point: ProfilePoint) -> None:
    """Append one finished point (one line, flushed), so an interrupted sweep loses at most one point."""
    with path.open("a") as fh:
        fh.write(json.dumps({"point": asdict(point)}) + "\n")
        fh.flush()


def read_profile(path: str | Path) -> Profile:
    """Read a profile file, checking its format and version; a truncated last line is ignored."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except FileNotFoundError:
        raise InvalidInputError(f"profile file {p} does not exist", field="options.profile") from None
    if not lines:
        raise InvalidInputError(f"profile file {p} is empty", field="options.profile")
    try:
        head = json.loads(lines[0])["header"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InvalidInputError(f"profile file {p} does not start with a header line", field="options.profile") from None
    if head.get("format") != PROFILE_FORMAT:
        raise InvalidInputError(f"{p} is not a Mélange profile (format {head.get('format')!r})", field="options.profile")
    if head.get("version") != PROFILE_VERSION:
        raise InvalidInputError(
            f"profile {p} has version {head.get('version')}; this plugin reads version {PROFILE_VERSION}. "
            "Re-run the profiler.",
            field="options.profile",
        )
    header = ProfileHeader(**head)
    points = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            points.append(ProfilePoint(**json.loads(line)["point"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            if n == len(lines):  # a sweep killed mid-write leaves a partial last line: skip it
                continue
            raise InvalidInputError(f"profile {p} line {n} is malformed: {exc}", field="options.profile") from exc
    return Profile(header, points)


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def is_saturated(point: ProfilePoint) -> bool:
    """Whether latency grew over the point's requests (send order), i.e. the server fell behind.

    Comparing achieved with offered throughput would misjudge short bursts (a few requests' span is
    dominated by their latency), so the test is on queue growth instead.
    """
    e2e = point.e2e_s
    if len(e2e) < 3:
        return False
    third = max(1, len(e2e) // 3)
    first, last = float(np.median(e2e[:third])), float(np.median(e2e[-third:]))
    return first > 0 and last > QUEUE_GROWTH_LIMIT * first


def point_meets_slo(point: ProfilePoint, slo: SLO) -> bool:
    """Whether the point met every bound of ``slo`` at its percentile, without errors or saturation."""
    if point.errors or not point.e2e_s or is_saturated(point):
        return False
    for bound, values in ((slo.ttft_s, point.ttft_s), (slo.tpot_s, point.tpot_s), (slo.e2e_s, point.e2e_s)):
        if bound is None:
            continue
        measured = _percentile(values, slo.percentile)
        if measured is None or measured > bound:
            return False
    return True


def max_rate_table(profile: Profile, slo: SLO) -> dict[tuple[int, int], float | None]:
    """Per (input, output) bucket: the highest measured rate that met the SLO (None: none did).

    Only rates up to the first failing one count, so a lucky point above a failure is not trusted.
    """
    by_bucket: dict[tuple[int, int], list[ProfilePoint]] = {}
    for p in profile.points:
        by_bucket.setdefault((p.input_tokens, p.output_tokens), []).append(p)
    table: dict[tuple[int, int], float | None] = {}
    for key, pts in sorted(by_bucket.items()):
        best = None
        for p in sorted(pts, key=lambda q: q.rate):
            if not point_meets_slo(p, slo):
                break
            best = p.rate
        table[key] = best
    return table


def lookup_rate(table: dict[tuple[int, int], float | None], input_tokens: int, output_tokens: int) -> float | None:
    """The table's rate for a request size: the exact bucket, else the smallest profiled bucket at
    least as long in both lengths (conservative: longer requests are never faster).

    Raises when the request is longer than everything profiled, rather than guessing.
    """
    if (input_tokens, output_tokens) in table:
        return table[(input_tokens, output_tokens)]
    covering = [k for k in table if k[0] >= input_tokens and k[1] >= output_tokens]
    if not covering:
        raise InvalidInputError(
            f"no profiled bucket covers requests of {input_tokens} input / {output_tokens} output tokens; "
            f"profiled sizes are {sorted(table)}. Profile longer lengths.",
            field="options.profile",
        )
    return table[min(covering, key=lambda k: (k[0] * k[1], k))]


# --- roofline estimate -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RooflineAssumptions:
    """Knobs of the estimate. Defaults are typical of vLLM-style serving; change them to taste."""

    memory_utilisation: float = 0.9  # share of device memory the server may use (vLLM's default)
    bandwidth_efficiency: float = 0.8  # achievable share of peak memory bandwidth
    flops_efficiency: float = 0.5  # achievable share of peak tensor FLOP/s
    activation_overhead_gb: float = 1.0  # per GPU, for activations, CUDA graphs, fragmentation
    max_batch: int = 1024  # servers cap concurrent sequences (vLLM: 256 by default; generous here)
    tensor_parallel_efficiency: float = 0.9  # bandwidth/FLOP/s kept per doubling of the group (all-reduce cost)


@dataclass
class RooflineEstimate:
    """The estimate for one bucket on one GPU (group): ``max_rate`` None means it cannot serve."""

    max_rate: float | None
    batch: int = 0
    tpot_s: float | None = None
    ttft_s: float | None = None
    reason: str = ""
    estimate: bool = True


def _kv_bytes_per_token(model: ModelSpec) -> float:
    if model.kv_bytes_per_token:
        return model.kv_bytes_per_token
    if model.num_layers and model.hidden_size:  # multi-head attention without GQA: K and V of width hidden
        return 2.0 * model.num_layers * model.hidden_size * model.dtype_bytes
    raise InvalidInputError(
        f"model {model.name!r} needs kv_bytes_per_token (or num_layers with num_kv_heads and head_dim, "
        "or hidden_size) for a roofline estimate",
        field="model",
    )


def roofline_max_rate(
    gpu: GPUType,
    model: ModelSpec,
    input_tokens: int,
    output_tokens: int,
    slo: SLO,
    *,
    tensor_parallel: int = 1,
    assumptions: RooflineAssumptions | None = None,
) -> RooflineEstimate:
    """Estimate the max req/s one group of ``tensor_parallel`` GPUs sustains for one bucket within ``slo``.

    The model, per decode step at batch ``B`` (all quantities for the whole group):

    * memory: weights ``W = params * dtype_bytes``; KV cache per request at its lengths
      ``kv * (input + output)``; ``B`` is at most ``(usable memory - W) / (kv * (input + output))``;
    * decode step time ``t(B) = max((W + B * kv * (input + output/2)) / bandwidth, 2 * params * B / flops)``:
      each step reads every weight once plus each sequence's KV cache (average context), and does
      two FLOPs per parameter per sequence; whichever is slower bounds the step;
    * prefill: ``c = 2 * params * input / flops`` of compute per prompt. Waiting prompts are
      prefilled together in one forward pass between decode steps (continuous batching), so the
      pass reads the weights once however many prompts it holds: a pass of ``k`` prompts takes
      ``p(k) = max(k * c, W / bandwidth)``;
    * in steady state ``B / output`` requests finish, and as many start, per decode step. With at
      least one arrival per step (``B >= output``) every step is followed by one pass of ``k = B /
      output`` prompts; with fewer, a one-prompt pass follows every ``output / B``-th step. Spread
      over the steps, the per-token time a user sees is ``tpot(B) = t(B) + min(1, B / output) *
      p(max(1, B / output))``; time to first token ``ttft = p(max(1, B / output)) + t(B)``;
    * Little's law: ``rate(B) = B / (ttft + output * tpot(B))``.

    The answer is the best ``rate(B)`` over batches meeting every SLO bound. Bandwidth and FLOP/s are
    derated by the ``assumptions``. Queueing, scheduling and kernel overheads are ignored, so treat
    the figure as an optimistic estimate and measure with the profiler before buying.
    """
    a = assumptions or RooflineAssumptions()
    if gpu.bandwidth_gbps is None or gpu.peak_tflops is None:
        raise InvalidInputError(
            f"GPU type {gpu.name!r} needs bandwidth_gbps and peak_tflops for a roofline estimate",
            field=f"gpu_types.{gpu.name}",
        )
    if output_tokens < 1 or input_tokens < 0:
        raise InvalidInputError(f"bad bucket lengths {input_tokens} in / {output_tokens} out", field="workload.requests")
    tp = tensor_parallel
    weights = model.weight_bytes
    kv = _kv_bytes_per_token(model)
    usable = tp * (gpu.memory_gb * 2**30 * a.memory_utilisation - a.activation_overhead_gb * 2**30)
    free = usable - weights
    per_request = kv * (input_tokens + output_tokens)
    if free < per_request:
        need = (weights + per_request) / 2**30 / a.memory_utilisation
        return RooflineEstimate(
            None,
            reason=f"model ({weights / 2**30:.1f} GiB) plus one request's KV cache does not fit in "
            f"{tp} x {gpu.memory_gb:g} GiB (needs about {need:.0f} GiB)",
        )
    b_max = int(min(free // per_request, a.max_batch))
    scale = tp * a.tensor_parallel_efficiency ** math.log2(tp)
    bandwidth = scale * gpu.bandwidth_gbps * 1e9 * a.bandwidth_efficiency
    flops = scale * gpu.peak_tflops * 1e12 * a.flops_efficiency
    params = model.params_b * 1e9
    B = np.arange(1, b_max + 1, dtype=float)
    step = np.maximum((weights + B * kv * (input_tokens + output_tokens / 2)) / bandwidth, 2 * params * B / flops)
    # Prefills are batched: one pass reads the weights once for all the prompts it holds. Charging
    # every prompt its own weight read (max(c, W/bw) per request) overstated the prefill cost of
    # short prompts by up to W/bw each -- 28 ms per 64-token prompt on an A10G -- which mostly
    # penalised small-memory-bandwidth GPUs on short requests, the very case Mélange exploits.
    arrivals = B / output_tokens  # prompts to prefill per decode step, in steady state
    per_pass = np.maximum(arrivals, 1.0)  # prompts in one prefill pass
    prefill_pass = np.maximum(per_pass * 2 * params * input_tokens / flops, weights / bandwidth)
    tpot = step + np.minimum(arrivals, 1.0) * prefill_pass
    ttft = prefill_pass + step
    latency = ttft + output_tokens * tpot
    rate = B / latency
    ok = np.ones_like(B, dtype=bool)
    for bound, values in ((slo.tpot_s, tpot), (slo.ttft_s, ttft), (slo.e2e_s, latency)):
        if bound is not None:
            ok &= values <= bound
    if not ok.any():
        bounds = []
        if slo.tpot_s is not None:
            bounds.append(f"TPOT {tpot[0] * 1e3:.1f} ms vs SLO {slo.tpot_s * 1e3:g} ms")
        if slo.ttft_s is not None:
            bounds.append(f"TTFT {ttft[0] * 1e3:.1f} ms vs SLO {slo.ttft_s * 1e3:g} ms")
        if slo.e2e_s is not None:
            bounds.append(f"latency {latency[0]:.2f} s vs SLO {slo.e2e_s:g} s")
        return RooflineEstimate(None, reason="misses the SLO even at batch 1 (" + ", ".join(bounds) + ")")
    best = int(np.argmax(np.where(ok, rate, -1.0)))
    return RooflineEstimate(
        float(rate[best]), batch=int(B[best]), tpot_s=float(tpot[best]), ttft_s=float(ttft[best])
    )


def min_tensor_parallel(gpu: GPUType, model: ModelSpec, assumptions: RooflineAssumptions | None = None) -> int | None:
    """The smallest power-of-two group (1..8) whose memory holds the weights; None if even 8 cannot."""
    a = assumptions or RooflineAssumptions()
    for tp in (1, 2, 4, 8):
        if tp * (gpu.memory_gb * 2**30 * a.memory_utilisation - a.activation_overhead_gb * 2**30) > model.weight_bytes:
            return tp
    return None


def profile_summary(table: dict[tuple[int, int], float | None]) -> list[dict[str, Any]]:
    """A table as JSON-friendly rows."""
    return [{"input_tokens": k[0], "output_tokens": k[1], "max_rate": v} for k, v in sorted(table.items())]


def is_finite_positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0
