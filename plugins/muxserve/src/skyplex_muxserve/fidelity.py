"""The authors' throughput estimator, reproduced with its constants and defects (``fidelity`` mode).

Kept as they are: hard-coded lengths (prompt 161, output 337); cost lists built by walking the
profile in file key order, stopping after the first length above the assumed one, with decode
latencies averaged over running means; lookups that round a batch up to a profiled batch and reuse
the decode list's index for the prefill list; a per-sequence overhead per decode step (1e-4 s for
7B, 8e-5 for 13B, 7e-5 otherwise); KV sized from the whole model whatever the tensor parallelism;
model sizes read from the name ('13b' -> 26 GB); 6 GB of activations per model; a binary search
over fractional batch sizes; and the mesh loop that grows the worst-served LLM's batch one by one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .catalogue import GIB, shape_of
from .profiles import LatencyProfile, fidelity_costs
from .workload import LLM

FIDELITY_PROMPT, FIDELITY_OUTPUT = 161, 337
GPU_GB = 80.0


def overhead_s(model: str) -> float:
    """The authors' per-sequence scheduling overhead per decode step."""
    return {"llama-7b": 1e-4, "llama-13b": 8e-5}.get(shape_of(model).name, 7e-5)


@dataclass(frozen=True)
class AuthorsLLM:
    """An LLM as the authors' code sees it."""

    name: str
    model: str
    rate: float
    size_gb: float  # 2 x the number in the name
    kv_gb: float  # KV GB per token, whole model

    @classmethod
    def of(cls, llm: LLM) -> AuthorsLLM:
        s = shape_of(llm.model)
        return cls(llm.name, s.name, llm.rate, 2.0 * float(s.name.split("-")[-1][:-1]),
                   s.num_layers * s.hidden_size * 2 * 2 / GIB)


class AuthorsEstimator:
    """Per-LLM and per-mesh estimates exactly as the authors compute them."""

    def __init__(self, profile: LatencyProfile, util: float = 0.4) -> None:
        self.profile = profile
        self.util = util  # their cluster-wide memory utilisation, used when no cache size is given
        self.costs = lru_cache(maxsize=None)(self._costs)
        self._mesh = lru_cache(maxsize=200_000)(self._mesh_uncached)

    def _costs(self, model: str, ngpus: int, sm: int, prefill: bool):
        c = fidelity_costs(self.profile, model, ngpus, sm, prefill, FIDELITY_PROMPT if prefill else FIDELITY_OUTPUT)
        return c.batches, c.latencies

    def latency(self, x: AuthorsLLM, ngpus: int, d_mps: int, bs: float) -> tuple[float, float]:
        dbs, dl = self.costs(x.model, ngpus, d_mps, False)
        _, pl = self.costs(x.model, ngpus, 100, True)
        i = min(bisect.bisect_left(dbs, bs), len(dbs) - 1)
        t_dec = float(np.interp(bs, dbs[i:i + 2], dl[i:i + 2]))
        k = min(len(dbs[i:i + 2]), len(pl[i:i + 2])) or 1
        t_pre = float(np.interp(bs, dbs[i:i + k], pl[i:i + k])) if pl[i:i + k] else pl[-1]
        return t_pre, t_dec + overhead_s(x.model) * bs

    def estimate(self, x: AuthorsLLM, ngpus: int, d_mps: int, cache: float | None = None) -> tuple[bool, float, int]:
        """(meets its rate, throughput, batch) of one LLM at decode share ``d_mps``."""
        dbs, _ = self.costs(x.model, ngpus, d_mps, False)
        cache = self.util * GPU_GB * ngpus if cache is None else cache
        max_seqs = min(cache // (x.kv_gb * (FIDELITY_OUTPUT + FIDELITY_PROMPT)), max(dbs))
        lo, hi, tpt, cur = 1.0, max(2.0, max_seqs), 0.0, 1.0
        while hi - lo >= 1:
            cur = (lo + hi) / 2
            t_pre, t_dec = self.latency(x, ngpus, d_mps, cur)
            tpt = cur / (t_dec * FIDELITY_OUTPUT + t_pre)
            if tpt >= x.rate:
                hi = cur
            else:
                lo = cur
        ok = tpt + min(0.5, tpt * 0.1) > x.rate
        return ok, (x.rate if ok else tpt), int(cur)

    def estimate_mps(self, x: AuthorsLLM, ngpus: int) -> tuple[int, int, float]:
        """The first decode share (ascending, 100 excluded) that meets the rate, else the best one."""
        best = (0, 0, 0.0)
        for mps in sorted(int(s) for s in self.profile.grid(x.model, ngpus).sms):
            if mps > 90 or mps == 100:
                continue
            ok, tpt, bs = self.estimate(x, ngpus, mps)
            if ok:
                return mps, bs, tpt
            if tpt > best[2]:
                best = (mps, bs, tpt)
        return best

    def mesh(self, llms: tuple[AuthorsLLM, ...], ngpus: int, mps: tuple[int, ...]) -> tuple[float, list[int], list[float]]:
        """(rate-weighted mean throughput, batches, per-LLM throughputs) at the best step of their loop."""
        return self._mesh(tuple(llms), ngpus, tuple(mps))

    def _mesh_uncached(self, llms, ngpus, mps):
        kv = max(0.0, GPU_GB * ngpus * 0.98 - sum(x.size_gb for x in llms) - 6 * len(llms))
        base = sum(x.kv_gb * x.rate for x in llms)
        bss, caps = [], []
        for x, d in zip(llms, mps):
            local = x.rate * x.kv_gb / base * kv
            _, _, bs = self.estimate(x, ngpus, d, local)
            dbs, _ = self.costs(x.model, ngpus, d, False)
            bss.append(bs)
            caps.append(min(local // (x.kv_gb * (FIDELITY_OUTPUT + FIDELITY_PROMPT)), max(dbs)))
        best, best_bs, best_tpts = 0.0, list(bss), [0.0] * len(llms)
        for _ in range(2048):
            if all(b >= c for b, c in zip(bss, caps)):
                break
            lat = [self.latency(x, ngpus, d, max(b, 1)) for x, d, b in zip(llms, mps, bss)]
            pre = sum(p for p, _ in lat)
            tpts = [b / (t * FIDELITY_OUTPUT + pre) for b, (_, t) in zip(bss, lat)]
            total = sum(t * x.rate for t, x in zip(tpts, llms)) / sum(x.rate for x in llms)
            if total > best:
                best, best_bs, best_tpts = total, list(bss), tpts
            worst, ratio = None, 100.0
            for i, (t, x) in enumerate(zip(tpts, llms)):
                if t + min(0.5, t * 0.1) < x.rate and bss[i] < caps[i] and t / x.rate < ratio:
                    worst, ratio = i, t / x.rate
            if worst is None:
                break
            bss[worst] += 1
        return best, best_bs, best_tpts
