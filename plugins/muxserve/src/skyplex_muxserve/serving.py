"""Serve several model backends from one device, with ADBS or per-model FCFS choosing the next batch.

This is the local counterpart of MuxServe's runtime: one worker (here the CPU; on a GPU host, one
device shared by several engines) runs one batch at a time; requests for several named models
arrive over time; the policy decides whose batch runs next.

* ``fcfs``: the model whose oldest waiting request arrived first runs next (each model's queue is
  FCFS; the device goes to whoever has waited longest).
* ``adbs``: :class:`~skyplex_muxserve.scheduler.ADBSDispatcher`: weighted turns by request rate,
  token quotas per batch, idle models' share flowing to busy ones.

Latency is measured on the wall clock from a request's (scheduled) arrival to the end of the batch
that served it; the SLO is ``slo_scale`` x the model's latency for one request alone, measured first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from skyplex.errors import InvalidInputError
from skyplex.interfaces import GenerationParams, ModelBackend

from .scheduler import ADBSDispatcher

POLICIES = ("fcfs", "adbs")


@dataclass
class TraceRequest:
    """One request of a trace: when it arrives (s from start), for which model, what to generate."""

    id: int
    arrival: float
    model: str
    prompt: str
    max_tokens: int


@dataclass
class ServedModel:
    """A named backend and its request rate (the ADBS weight) and generation length."""

    name: str
    backend: ModelBackend
    rate: float
    max_tokens: int = 16
    prompts: list[str] = field(default_factory=lambda: ["Say hello.", "List three colours.", "Name a fruit."])


def make_trace(models: list[ServedModel], duration_s: float, seed: int = 0) -> list[TraceRequest]:
    """Poisson arrivals per model at its rate over ``duration_s`` seconds, merged in time order."""
    if duration_s <= 0:
        raise InvalidInputError("duration must be > 0 seconds", field="duration_s")
    rng = np.random.default_rng(seed)
    out = []
    for m in models:
        if m.rate <= 0:
            raise InvalidInputError(f"model {m.name!r}: rate must be > 0, got {m.rate}", field=f"models[{m.name}].rate")
        t = rng.exponential(1.0 / m.rate)
        while t < duration_s:
            out.append(TraceRequest(0, float(t), m.name, m.prompts[len(out) % len(m.prompts)], m.max_tokens))
            t += rng.exponential(1.0 / m.rate)
    out.sort(key=lambda r: (r.arrival, r.model))
    for i, r in enumerate(out):
        r.id = i
    return out


def isolated_latency(models: list[ServedModel]) -> dict[str, float]:
    """Each model's latency for one request alone (best of two, after a warm-up call)."""
    out = {}
    for m in models:
        params = GenerationParams(max_tokens=m.max_tokens, temperature=0.0)
        m.backend.generate([m.prompts[0]], params)
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            m.backend.generate([m.prompts[0]], params)
            best = min(best, time.perf_counter() - t0)
        out[m.name] = best
    return out


def serve(models: list[ServedModel], trace: list[TraceRequest], policy: str, alone: dict[str, float],
          slo_scale: float = 8.0, max_batch: int = 8) -> dict[str, Any]:
    """Replay ``trace`` on the backends under ``policy``; per-model latency percentiles, goodput, SLO attainment."""
    if policy not in POLICIES:
        raise InvalidInputError(f"unknown policy {policy!r}; one of {POLICIES}", field="policy")
    by_name = {m.name: m for m in models}
    unknown = sorted({r.model for r in trace} - set(by_name))
    if unknown:
        raise InvalidInputError(f"trace names model(s) {unknown} that are not served", field="trace")
    queues: OrderedDict[str, deque] = OrderedDict((m.name, deque()) for m in models)
    dispatcher = ADBSDispatcher({m.name: m.rate for m in models}, max_batch=max_batch,
                                token_budget=max_batch * max(m.max_tokens for m in models))
    finish: dict[int, float] = {}
    pending = deque(trace)
    start = time.perf_counter()
    batches = 0
    while pending or any(queues.values()):
        now = time.perf_counter() - start
        while pending and pending[0].arrival <= now:
            r = pending.popleft()
            queues[r.model].append(r)
        if not any(queues.values()):
            time.sleep(max(0.0, pending[0].arrival - now))
            continue
        if policy == "adbs":
            model, batch = dispatcher.next_batch(queues, tokens=lambda r: r.max_tokens)
        else:
            model = min((m for m in queues if queues[m]), key=lambda m: queues[m][0].arrival)
            batch = [queues[model].popleft() for _ in range(min(max_batch, len(queues[model])))]
        m = by_name[model]
        m.backend.generate([r.prompt for r in batch], GenerationParams(max_tokens=m.max_tokens, temperature=0.0))
        done = time.perf_counter() - start
        batches += 1
        for r in batch:
            finish[r.id] = done
    makespan = max(finish.values()) if finish else 0.0
    per: dict[str, Any] = {}
    good_total = 0
    for m in models:
        reqs = [r for r in trace if r.model == m.name]
        lat = np.array([finish[r.id] - r.arrival for r in reqs])
        good = int((lat <= slo_scale * alone[m.name]).sum()) if len(lat) else 0
        good_total += good
        per[m.name] = {"requests": len(reqs), "p50_latency": float(np.percentile(lat, 50)) if len(lat) else None,
                       "p99_latency": float(np.percentile(lat, 99)) if len(lat) else None,
                       "slo_attainment": good / len(reqs) if reqs else None}
    all_lat = np.array([finish[r.id] - r.arrival for r in trace]) if trace else np.zeros(0)
    return {"policy": policy, "requests": len(trace), "served": len(finish), "batches": batches,
            "makespan_s": makespan, "goodput": good_total / makespan if makespan else 0.0,
            "slo_attainment": good_total / max(len(trace), 1),
            "p99_latency": float(np.percentile(all_lat, 99)) if len(all_lat) else None, "per_model": per}
