"""Simulate a placement serving a workload: per-LLM throughput, latency percentiles, SLO attainment.

Meshes do not share anything, so each is simulated on its own (``engine.MeshEngine``) and the
results are merged. Throughput is reported both ways the data set uses it: per LLM, requests over
the time of that LLM's last completion (drain included, the authors' definition), and the
request-weighted mean of those (the top-level figure of the authors' merged results); the plain
aggregate (all requests over the last completion) is reported too.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

from functools import lru_cache

import numpy as np
from skyplex.errors import InvalidInputError

from .arrivals import Stream, make_stream
from .catalogue import GIB, shape_of
from .engine import LLMState, MeshEngine
from .fidelity import overhead_s
from .profiles import LatencyProfile
from .workload import Mesh, MuxWorkload, PlacementPlan, check_plan_covers

MODES = ("flexsm", "temporal", "spatial")
KV_POLICIES = ("adbs", "fixed", "elastic")


@dataclass
class SimConfig:
    """Knobs of a simulation run; defaults are the ones validated against the measured runs."""

    seed: int = 0
    duration_s: float = 60.0  # arrivals stop after this many seconds (unless ``counts`` is given)
    counts: dict[str, int] | None = None  # exact requests per LLM (the measured runs' request_num)
    arrival_cv: float = 1.0  # 1 = Poisson; > 1 bursty Gamma
    length_cv: float = 1.0
    max_len: int = 2048
    kv_policy: str = "adbs"
    adbs_period_s: float = 2.0
    contention: float = 1.0
    max_prefill_tokens: int = 4096
    gpu_memory_gib: float = 80.0
    step_overhead: bool = True  # per-sequence scheduling cost per decode step (the authors' constants)
    # serving runtime's decode step / the profiled kernel time, on one GPU and on a tensor-parallel
    # mesh; (1, 1) = the profile as measured (what the validation uses; see benchmarks/muxserve_request_latency.py)
    decode_scale: tuple[float, float] = (1.0, 1.0)
    # host seconds the serving runtime adds to every decode step (scheduling pass, hand-over between
    # processes), on one GPU and on a tensor-parallel mesh; (0, 0) in the validated default
    decode_host_s: tuple[float, float] = (0.0, 0.0)
    switch_s: float = 0.0015  # temporal mode: seconds lost whenever the mesh switches to another LLM
    # temporal mode: the measured time-slicing runs decode batches well beyond the per-LLM caps of
    # their files (e.g. 19.8 on average against a cap of 5), so there the mesh-wide cap applies
    temporal_batch_cap: int | None = 256
    batch_cap: int | None = None  # replaces every LLM's max_num_seqs (e.g. 256, so KV quotas bind)
    slo_scale: float = 8.0  # SLO: latency <= slo_scale x the request's latency alone on its mesh
    rate_schedule: dict[str, list[tuple[float, float]]] | None = None  # per LLM [(until_s, rate), ...]
    unavailable_s: dict[str, float] | None = None  # per LLM: seconds before it can serve (being moved/loaded)
    max_requests: int = 500_000  # refuse runs asking for more requests than this (all LLMs together)


@dataclass
class LLMResult:
    """Per-LLM figures of one run."""

    name: str
    mesh: int
    requests: int
    finished: int
    throughput: float  # requests / time of last completion (drain included)
    ttft_mean: float
    tpot_mean: float
    latency_mean: float
    percentiles: dict[str, float]
    slo_attainment: float
    goodput: float  # requests meeting the SLO / time of the last completion
    preemptions: int
    avg_decode_batch: float
    prefill_batches: int = 0  # prefill calls (the measured files' prefill_batch_times)
    avg_prefill_batch: float = 0.0  # requests per prefill call (their prefill_avg_batches)


@dataclass
class SimResult:
    """A whole run: per-LLM results and cluster-level figures."""

    llms: dict[str, LLMResult]
    throughput: float  # request-weighted mean of per-LLM throughput (the authors' top-level figure)
    aggregate_throughput: float  # all finished requests / last completion
    goodput: float  # sum over LLMs of requests meeting the SLO / that LLM's last completion
    slo_attainment: float
    unfinished: int
    gaps: list = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def mesh_pool_bytes(mesh: Mesh, wl: MuxWorkload, gpu_memory_gib: float) -> float:
    """KV bytes of a mesh: the file's KV fraction when given, else what weights and reserves leave."""
    if mesh.kv_fraction is not None:
        return mesh.kv_fraction * gpu_memory_gib * mesh.ngpus * GIB
    weights = sum(shape_of(x.model).weight_gib for x in mesh.llms)
    free = 0.9 * gpu_memory_gib * mesh.ngpus - weights - 6.0 * len(mesh.llms)
    if free <= 0:
        names = [x.name for x in mesh.llms]
        raise InvalidInputError(f"LLMs {names} do not fit in the memory of a {mesh.ngpus}-GPU mesh", field="placement")
    return free * GIB


def _check_config(cfg: SimConfig) -> None:
    """Refuse knobs a run cannot use (NaN, infinity, negative seeds), naming the knob."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {cfg.seed!r}", field="seed")
    # (knob, lowest, highest): CVs below 0.01 overflow the gamma shape 1/cv^2
    for knob, lo, hi in (("duration_s", 1e-6, 7 * 86400.0), ("arrival_cv", 0.01, 100.0), ("length_cv", 0.01, 100.0),
                         ("slo_scale", 1e-6, 1e6), ("adbs_period_s", 1e-3, 86400.0), ("switch_s", 0.0, 60.0)):
        v = getattr(cfg, knob)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise InvalidInputError(f"{knob} must be a finite number between {lo:g} and {hi:g}, got {v!r}", field=knob)


def _request_count(m, cfg: SimConfig) -> int:
    sched = (cfg.rate_schedule or {}).get(m.name)
    if cfg.counts is not None:
        return int(cfg.counts.get(m.name, 0))
    if sched:
        n, prev = 0, 0.0
        for until, r in sched:
            n += int(round((until - prev) * r))
            prev = until
        return n
    return int(round(m.rate * cfg.duration_s))


def _streams(wl: MuxWorkload, cfg: SimConfig) -> dict[str, Stream]:
    counts = {m.name: _request_count(m, cfg) for m in wl.llms}
    if sum(counts.values()) > cfg.max_requests:
        top = max(counts, key=counts.get)
        raise InvalidInputError(
            f"the run would simulate {sum(counts.values())} requests (LLM {top!r} alone {counts[top]}), more than the "
            f"limit of {cfg.max_requests}; lower the rates or the duration", field=f"models[{top}].rate")
    out = {}
    for m in wl.llms:
        rng = _rng(cfg.seed, m.name)
        sched = (cfg.rate_schedule or {}).get(m.name)
        n = counts[m.name]
        st = make_stream(rng, m.rate, n, m.avg_prompt_len, m.avg_output_len, cfg.arrival_cv,
                         cfg.length_cv, cfg.max_len, sched)
        wait = (cfg.unavailable_s or {}).get(m.name, 0.0)
        if wait > 0:  # requests queue until the model is loaded; latency still counts from arrival
            st = Stream(np.maximum(st.arrivals, wait), st.prompts, st.outputs, origin=st.arrivals)
        out[m.name] = st
    return out


def isolated_latency(profile: LatencyProfile, model: str, ngpus: int, prompts: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Each request's latency alone on the mesh at the full GPU: a prefill plus its decode steps."""
    pre, _ = profile.table(model, ngpus, "prefill", 100, np.array([1.0]), np.maximum(prompts, 1))
    mid = prompts + outputs / 2.0
    dec, _ = profile.table(model, ngpus, "decode", 100, np.array([1.0]), np.maximum(mid, 1))
    return pre[0] + np.maximum(outputs - 1, 0) * dec[0]


def simulate(plan: PlacementPlan, wl: MuxWorkload, profile: LatencyProfile, cfg: SimConfig | None = None) -> SimResult:
    """Run ``plan`` on ``wl``'s requests and measure it."""
    cfg = cfg or SimConfig()
    if plan.mode not in MODES:
        raise InvalidInputError(f"unknown mode {plan.mode!r}; one of {MODES}", field="mode")
    if cfg.kv_policy not in KV_POLICIES:
        raise InvalidInputError(f"unknown KV policy {cfg.kv_policy!r}; one of {KV_POLICIES}", field="kv_policy")
    if len(cfg.decode_scale) != 2 or not all(float(x) > 0 for x in cfg.decode_scale):
        raise InvalidInputError(f"decode_scale must be two factors > 0, got {cfg.decode_scale!r}", field="decode_scale")
    if len(cfg.decode_host_s) != 2 or not all(float(x) >= 0 for x in cfg.decode_host_s):
        raise InvalidInputError(f"decode_host_s must be two times >= 0 s, got {cfg.decode_host_s!r}", field="decode_host_s")
    _check_config(cfg)
    check_plan_covers(plan, wl)
    if plan.mode == "spatial":  # spatial means one LLM per mesh; several would silently be time-sliced
        shared = next((i for i, m in enumerate(plan.meshes) if len(m.llms) > 1), None)
        if shared is not None:
            raise InvalidInputError(f"mode 'spatial' runs one LLM per mesh but mesh {shared} runs "
                                    f"{[x.name for x in plan.meshes[shared].llms]}; use mode 'flexsm' or 'temporal'",
                                    field="mode")
    llm_of = wl.by_name()
    streams = _streams(wl, cfg)
    results: dict[str, LLMResult] = {}
    t_end, slo_ok, n_all, n_fin = 0.0, 0, 0, 0
    gaps: list = []
    for mi, mesh in enumerate(plan.meshes):
        pool = mesh_pool_bytes(mesh, wl, cfg.gpu_memory_gib)
        weights = {x.name: llm_of[x.name].rate * shape_of(x.model).kv_bytes_per_token_mesh(mesh.ngpus) for x in mesh.llms}
        wsum = sum(weights.values())
        states = []
        for x in mesh.llms:
            shape = shape_of(x.model)
            profile.grid(x.model, mesh.ngpus)  # a clear error when this mesh size was never profiled
            llm = llm_of[x.name]
            typical = (llm.avg_prompt_len + llm.avg_output_len + 8) * shape.kv_bytes_per_token_mesh(mesh.ngpus)
            if pool < typical:  # not even a request of mean length fits: the LLM would serve (nearly) nothing
                raise InvalidInputError(
                    f"mesh {mi}'s KV pool ({pool / GIB:.3f} GiB) cannot hold one request of mean length of LLM "
                    f"{x.name!r} ({typical / GIB:.3f} GiB); raise gpu_memory_utilization", field=f"placement[{mi}]")
            cap = cfg.batch_cap or (cfg.temporal_batch_cap if plan.mode == "temporal" else None)
            bmax = max(1, cap or x.max_num_seqs)
            exclusive = plan.mode != "flexsm"
            d_sm = 100 if exclusive else x.decode_sm
            p_sm = 100 if exclusive else x.prefill_sm
            table, gapmask = _decode_table(profile, x.model, mesh.ngpus, d_sm, bmax, cfg.max_len)
            if cfg.step_overhead:
                table = table + step_overhead_s(x.model) * np.arange(bmax + 1)[:, None]
            scale = cfg.decode_scale[1 if mesh.ngpus > 1 else 0]
            if scale != 1.0:
                table = table * scale
            host = cfg.decode_host_s[1 if mesh.ngpus > 1 else 0]
            if host:
                table = table + host
            states.append(LLMState(
                name=x.name, stream=streams[x.name], prefill_s=_prefill_fn(profile, x.model, mesh.ngpus, float(p_sm), bmax, cfg.max_len),
                decode_table=table, decode_gaps=gapmask, prefill_sm=x.prefill_sm, decode_sm=x.decode_sm,
                max_num_seqs=bmax, token_bytes=shape.kv_bytes_per_token_mesh(mesh.ngpus),
                quota_bytes=pool * weights[x.name] / wsum))
        MeshEngine(states, plan.mode, cfg.kv_policy, pool, cfg.adbs_period_s, cfg.contention,
                   cfg.max_prefill_tokens, cfg.switch_s).run()
        for s, x in zip(states, mesh.llms):
            if s.gap_cells:
                for b, ln in sorted(s.gap_cells):
                    profile.note_gaps(x.model, mesh.ngpus, "decode", f"batch {b}, context {ln}")
            r = _llm_result(s, mi, profile, x.model, mesh.ngpus, cfg.slo_scale)
            results[x.name] = r
            fin = s.finish[~np.isnan(s.finish)]
            if len(fin):
                t_end = max(t_end, float(fin.max()))
            slo_ok += round(r.slo_attainment * r.requests)
            n_all += r.requests
            n_fin += r.finished
    gaps = sorted(profile.gaps_touched)
    top = sum(r.throughput * r.requests for r in results.values()) / max(n_all, 1)
    goodput = sum(r.goodput for r in results.values())
    return SimResult(results, top, n_fin / t_end if t_end else 0.0, goodput,
                     slo_ok / max(n_all, 1), n_all - n_fin, [list(g) for g in gaps])


def step_overhead_s(model: str) -> float:
    """Host-side cost per sequence per decode step that the kernel timings miss (the authors' values)."""
    return overhead_s(model)


@lru_cache(maxsize=512)
def _decode_table(profile: LatencyProfile, model: str, ngpus: int, sm: float, max_batch: int, max_len: int):
    """Decode tables, memoised: placement search simulates many plans sharing (LLM, mesh, share)."""
    return profile.decode_table(model, ngpus, sm, max_batch, max_len)


@lru_cache(maxsize=512)
def _prefill_table(profile: LatencyProfile, model: str, ngpus: int, sm: float, max_batch: int, max_len: int, step: int):
    return profile.table(model, ngpus, "prefill", sm, np.arange(0, max_batch + 1, dtype=float),
                         np.arange(0, max_len + step, step, dtype=float))


def _prefill_fn(profile: LatencyProfile, model: str, ngpus: int, sm: float, max_batch: int, max_len: int):
    """Prefill seconds for (sequences, mean prompt length), from a dense table built once."""
    step = 8
    table, gaps = _prefill_table(profile, model, ngpus, sm, max_batch, max_len, step)
    rows, cols = table.shape

    def prefill(n: int, mean_len: float) -> float:
        li = min(int(round(mean_len / step)), cols - 1)
        bi = min(n, rows - 1)
        if gaps[bi, li]:
            profile.note_gaps(model, ngpus, "prefill", f"batch {bi}, prompt {li * step}")
        t = float(table[bi, li])
        return t * n / bi if n > bi else t  # beyond the table: linear in batch

    return prefill


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def _llm_result(s: LLMState, mesh: int, profile: LatencyProfile, model: str, ngpus: int, k: float) -> LLMResult:
    st = s.stream
    arrived = st.origin if st.origin is not None else st.arrivals
    done = ~np.isnan(s.finish)
    n, nf = len(st), int(done.sum())
    lat = (s.finish - arrived)[done]
    ttft = (s.first_token - arrived)[done]
    outs = st.outputs[done]
    # the authors' definitions (their scheduler's log_stats): TTFT is arrival to the end of the prefill,
    # TPOT is (end - end of prefill) / output length, the first token included in the count
    tpot = (s.finish[done] - s.first_token[done]) / np.maximum(outs, 1)
    alone = isolated_latency(profile, model, ngpus, st.prompts[done].astype(float), outs.astype(float)) if nf else np.zeros(0)
    good = int((lat <= k * alone).sum()) if nf else 0
    last = float(s.finish[done].max()) if nf else 0.0
    pct = {}
    for name, arr in (("latency", lat), ("ttft", ttft), ("tpot", tpot)):
        for q in (50, 90, 95, 99):
            pct[f"p{q}_{name}"] = _pct(arr, q)
    return LLMResult(
        name=s.name, mesh=mesh, requests=n, finished=nf, throughput=nf / last if last > 0 else 0.0,
        ttft_mean=float(ttft.mean()) if nf else float("nan"), tpot_mean=float(tpot.mean()) if nf else float("nan"),
        latency_mean=float(lat.mean()) if nf else float("nan"), percentiles=pct, slo_attainment=good / max(n, 1),
        goodput=good / last if last > 0 else 0.0,
        preemptions=s.preemptions, avg_decode_batch=s.decode_batch_sum / max(s.decode_steps, 1),
        prefill_batches=s.prefill_batches, avg_prefill_batch=(n + s.preemptions) / max(s.prefill_batches, 1))
