"""Measure an OpenAI-compatible endpoint (vLLM, the skyplex gateway, ...) for a Mélange profile.

For every (input length, output length, request rate) point of the sweep it sends a burst of
streamed ``/v1/completions`` requests with Poisson arrivals at that rate, and records each request's
time to first token (TTFT), time per output token after the first (TPOT) and end-to-end latency,
plus the achieved throughput. Each finished point is appended to the profile file at once, so an
interrupted sweep resumes where it stopped (points already in the file are skipped).
:func:`skyplex_melange.profiles.max_rate_table` later turns the points into per-bucket max rates
for any SLO.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyplex.errors import InvalidInputError

from .profiles import ProfileHeader, ProfilePoint, append_point, read_profile, write_header

log = logging.getLogger(__name__)

#: progress(done, total, point or None): called after each point (None for a skipped, already-done point)
ProgressCallback = Callable[[int, int, "ProfilePoint | None"], None]

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "far")


def synthetic_prompt(tokens: int, seed: int = 0) -> str:
    """About ``tokens`` tokens of text: common short English words are one token in most tokenizers."""
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(max(tokens, 1)))


@dataclass
class SweepSpec:
    """The grid to measure and how hard to measure each point."""

    input_lengths: Sequence[int]
    output_lengths: Sequence[int]
    rates: Sequence[float]
    requests_per_point: int = 32
    timeout_s: float = 120.0
    seed: int = 0

    def validate(self) -> None:
        for name, values in (("input_lengths", self.input_lengths), ("output_lengths", self.output_lengths),
                             ("rates", self.rates)):
            if not values:
                raise InvalidInputError(f"{name} is empty; give at least one value", field=name)
        if any(i < 1 for i in self.input_lengths) or any(o < 1 for o in self.output_lengths):
            raise InvalidInputError("lengths must be >= 1 token", field="input_lengths")
        if any(r <= 0 for r in self.rates):
            raise InvalidInputError("rates must be > 0 req/s", field="rates")
        if self.requests_per_point < 1:
            raise InvalidInputError("requests_per_point must be >= 1", field="requests_per_point")

    def points(self) -> list[tuple[int, int, float]]:
        # rates ascending within a bucket: max_rate_table stops at the first failing rate
        return [(i, o, float(r)) for i in self.input_lengths for o in self.output_lengths for r in sorted(self.rates)]


async def _one_request(client: Any, url: str, body: dict[str, Any], headers: dict[str, str],
                       send_at: float) -> dict[str, Any]:
    """Send one streamed completion at ``send_at`` (loop time); time its first and last tokens."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, send_at - loop.time()))
    start = time.perf_counter()
    first = None
    chunks = 0
    usage_tokens = None
    try:
        async with client.stream("POST", url, json=body, headers=headers) as resp:
            if resp.status_code >= 400:
                text = (await resp.aread()).decode(errors="replace")[:300]
                return {"error": f"HTTP {resp.status_code}: {text}", "start": start}
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                except json.JSONDecodeError:
                    continue
                if event.get("usage") and event["usage"].get("completion_tokens"):
                    usage_tokens = int(event["usage"]["completion_tokens"])
                choices = event.get("choices") or []
                if choices and (choices[0].get("text") or (choices[0].get("delta") or {}).get("content")):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    except Exception as exc:  # network errors count against the point, they do not stop the sweep
        return {"error": f"{type(exc).__name__}: {exc}", "start": start}
    end = time.perf_counter()
    if first is None:
        return {"error": "no tokens streamed", "start": start}
    tokens = usage_tokens or chunks
    tpot = (end - first) / (tokens - 1) if tokens > 1 else 0.0
    return {"ttft": first - start, "tpot": tpot, "e2e": end - start, "tokens": tokens, "start": start, "end": end}


async def _measure_point(base_url: str, model: str, api_key: str | None, input_tokens: int, output_tokens: int,
                         rate: float, spec: SweepSpec, extra_body: dict[str, Any]) -> ProfilePoint:
    import httpx

    url = base_url.rstrip("/") + "/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    rng = random.Random(hash((spec.seed, input_tokens, output_tokens, rate)) & 0xFFFFFFFF)
    body = {"model": model, "prompt": synthetic_prompt(input_tokens, spec.seed), "max_tokens": output_tokens,
            "temperature": 0.0, "stream": True, "stream_options": {"include_usage": True}, **extra_body}
    loop = asyncio.get_running_loop()
    t = loop.time()
    send_times = []
    for _ in range(spec.requests_per_point):
        send_times.append(t)
        t += rng.expovariate(rate)  # Poisson arrivals
    limits = httpx.Limits(max_connections=spec.requests_per_point + 4)
    async with httpx.AsyncClient(timeout=spec.timeout_s, limits=limits) as client:
        results = await asyncio.gather(*(_one_request(client, url, body, headers, s) for s in send_times))
    ok = [r for r in results if "error" not in r]
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        log.warning("%d of %d requests failed at %s in/%s out/%s req/s; first: %s",
                    len(errors), len(results), input_tokens, output_tokens, rate, errors[0])
    span = (max(r["end"] for r in ok) - min(r["start"] for r in results)) if ok else 0.0
    return ProfilePoint(
        input_tokens=input_tokens, output_tokens=output_tokens, rate=rate, requests=len(results),
        ttft_s=[round(r["ttft"], 6) for r in ok], tpot_s=[round(r["tpot"], 6) for r in ok],
        e2e_s=[round(r["e2e"], 6) for r in ok],
        throughput_rps=(len(ok) / span) if span > 0 else 0.0,
        output_tokens_per_s=(sum(r["tokens"] for r in ok) / span) if span > 0 else 0.0,
        errors=len(errors), duration_s=round(span, 6),
    )


def run_sweep(
    base_url: str,
    model: str,
    gpu: str,
    out_path: str | Path,
    spec: SweepSpec,
    *,
    api_key: str | None = None,
    extra_body: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Measure every point of ``spec`` not already in ``out_path`` and append it there.

    ``base_url`` is the OpenAI base (ending in ``/v1``). ``extra_body`` is merged into every request
    (e.g. ``{"ignore_eos": true}`` for vLLM, so outputs run to ``max_tokens``). Returns the file.
    """
    spec.validate()
    path = Path(out_path)
    if path.exists() and path.stat().st_size > 0:
        existing = read_profile(path)
        if existing.header.gpu != gpu or existing.header.model != model:
            raise InvalidInputError(
                f"profile {path} was measured for model {existing.header.model!r} on {existing.header.gpu!r}, "
                f"not {model!r} on {gpu!r}; write to another file", field="out")
        done = existing.done()
        log.info("resuming %s: %d points already measured", path, len(done))
    else:
        write_header(path, ProfileHeader(gpu=gpu, model=model, endpoint=base_url))
        done = set()
    points = spec.points()
    for n, (i, o, r) in enumerate(points, start=1):
        if (i, o, round(r, 9)) in done:
            if progress:
                progress(n, len(points), None)
            continue
        point = asyncio.run(_measure_point(base_url, model, api_key, i, o, r, spec, extra_body or {}))
        append_point(path, point)
        if progress:
            progress(n, len(points), point)
    return path
