"""The authors' placement greedy, re-implemented with its defects, as a baseline to compare against.

Kept on purpose: hard-coded lengths (prompt 161, output 337), step lookups in file key order with
the decode index reused for the prefill list, KV sized from the whole model, mesh memory from a
fixed 40% utilisation, a per-mesh gain table indexed by positions in a list that is re-sorted after
every placement, and empty meshes dropped from the result (so GPUs may stay idle).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .catalogue import GIB, shape_of
from .estimator import FIDELITY_OUTPUT, FIDELITY_PROMPT, PREFILL_SM, overhead_s
from .placement import authors_kv_fraction, cluster_cuts
from .profiles import LatencyProfile, fidelity_costs
from .workload import Mesh, MeshLLM, MuxWorkload, PlacementPlan

SCALE = {"llama-7b": 1, "llama-13b": 2, "llama-30b": 4, "llama-65b": 8}
BASE = {"llama-30b": 2, "llama-65b": 4}


@dataclass
class _LLM:
    name: str
    model: str
    rate: float
    size_gb: float
    kv_gb: float
    base: int
    scale: int
    layers: int
    cands: dict = field(default_factory=dict)  # ngpus -> (mps, bs, tpt)


@dataclass
class _Mesh:
    ngpus: int
    free: float
    remaining: int = 100
    models: list = field(default_factory=list)


class AuthorsGreedy:
    def __init__(self, wl: MuxWorkload, profile: LatencyProfile) -> None:
        self.wl, self.profile = wl, profile
        self.llms = []
        for m in wl.llms:
            s = shape_of(m.model)
            size = 2.0 * float(s.name.split("-")[-1][:-1])
            self.llms.append(_LLM(m.name, s.name, m.rate, size, s.num_layers * s.hidden_size * 2 * 2 / GIB,
                                  BASE.get(s.name, 1), SCALE.get(s.name, 8), s.num_layers))
        used = sum(x.size_gb for x in self.llms) + 6 * len(self.llms)
        self.util = used / (80.0 * wl.total_gpus)
        self.costs = lru_cache(maxsize=None)(self._costs)
        for x in self.llms:
            for g in (1, 2, 4, 8):
                if g >= x.base and self.profile.has(x.model, g):
                    mps, bs, tpt = self.estimate_mps(x, g)
                    if mps:
                        x.cands[g] = (mps, bs, tpt)

    def _costs(self, model: str, ngpus: int, sm: int, prefill: bool):
        c = fidelity_costs(self.profile, model, ngpus, sm, prefill, FIDELITY_PROMPT if prefill else FIDELITY_OUTPUT)
        return c.batches, c.latencies

    def latency(self, x: _LLM, ngpus: int, d_mps: int, bs: float) -> tuple[float, float]:
        dbs, dl = self.costs(x.model, ngpus, d_mps, False)
        _, pl = self.costs(x.model, ngpus, 100, True)
        i = min(bisect.bisect_left(dbs, bs), len(dbs) - 1)
        t_dec = float(np.interp(bs, dbs[i:i + 2], dl[i:i + 2]))
        k = min(len(dbs[i:i + 2]), len(pl[i:i + 2])) or 1
        t_pre = float(np.interp(bs, dbs[i:i + k], pl[i:i + k])) if pl[i:i + k] else pl[-1]
        return t_pre, t_dec + overhead_s(x.model) * bs

    def estimate(self, x: _LLM, ngpus: int, d_mps: int, cache: float | None = None) -> tuple[bool, float, int]:
        dbs, _ = self.costs(x.model, ngpus, d_mps, False)
        cache = self.util * 80.0 * ngpus if cache is None else cache
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

    def estimate_mps(self, x: _LLM, ngpus: int) -> tuple[int, int, float]:
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

    @lru_cache(maxsize=None)  # noqa: B019
    def mesh_tpt(self, key: tuple) -> float:
        ngpus, members = key
        llms = [self.llms[i] for i, _ in members]
        mps = [m for _, m in members]
        kv = max(0.0, 80.0 * ngpus * 0.98 - sum(x.size_gb for x in llms) - 6 * len(llms))
        base = sum(x.kv_gb * x.rate for x in llms)
        bss, caps = [], []
        for x, d in zip(llms, mps):
            local = x.rate * x.kv_gb / base * kv
            _, _, bs = self.estimate(x, ngpus, d, local)
            dbs, _ = self.costs(x.model, ngpus, d, False)
            bss.append(bs)
            caps.append(min(local // (x.kv_gb * (FIDELITY_OUTPUT + FIDELITY_PROMPT)), max(dbs)))
        best = 0.0
        for _ in range(2048):
            if all(b >= c for b, c in zip(bss, caps)):
                break
            lat = [self.latency(x, ngpus, d, max(b, 1)) for x, d, b in zip(llms, mps, bss)]
            pre = sum(p for p, _ in lat)
            tpts = [b / (t * FIDELITY_OUTPUT + pre) for b, (_, t) in zip(bss, lat)]
            total = sum(t * x.rate for t, x in zip(tpts, llms)) / sum(x.rate for x in llms)
            best = max(best, total)
            worst, ratio = None, 100.0
            for i, (t, x) in enumerate(zip(tpts, llms)):
                if t + min(0.5, t * 0.1) < x.rate and bss[i] < caps[i] and t / x.rate < ratio:
                    worst, ratio = i, t / x.rate
            if worst is None:
                break
            bss[worst] += 1
        return best

    def smart(self, sizes: list[int]) -> tuple[list[_Mesh], float] | None:
        order = sorted(range(len(self.llms)), key=lambda i: (self.llms[i].rate * self.llms[i].scale, self.llms[i].scale),
                       reverse=True)
        tagged = [[_Mesh(s, 0.9 * 0.6 * 80.0 * s), 0.0] for s in sizes]
        tagged.sort(key=lambda t: (t[1], t[0].free), reverse=True)
        gains = {i: 0.0 for i in range(len(sizes))}  # keyed by position: goes stale when re-sorted
        for li in order:
            x = self.llms[li]
            best, best_inc = -1, -100.0
            for i, (mesh, _) in enumerate(tagged):
                cand = x.cands.get(mesh.ngpus)
                if not cand:
                    continue
                mps = cand[0]
                if mesh.free < x.size_gb or (mesh.remaining < mps and mesh.remaining + 20 < mps):
                    continue
                members = tuple(sorted(mesh.models + [(li, mps)]))
                inc = self.mesh_tpt((mesh.ngpus, members)) - gains[i]
                if inc > best_inc or (inc == best_inc and best >= 0 and mesh.ngpus < tagged[best][0].ngpus):
                    best, best_inc = i, inc
            if best < 0:
                return None
            mesh = tagged[best][0]
            mps = x.cands[mesh.ngpus][0]
            tagged[best][1] -= x.rate * x.scale / mesh.ngpus
            mesh.models.append((li, mps))
            mesh.free -= x.size_gb + 1.6 + 6
            mesh.remaining -= mps
            gains[best] += best_inc
            tagged.sort(key=lambda t: (t[1], t[0].free), reverse=True)
        meshes = [t[0] for t in tagged]
        total_rate = sum(x.rate for x in self.llms)
        score = sum(self.mesh_tpt((m.ngpus, tuple(sorted(m.models)))) * sum(self.llms[i].rate for i, _ in m.models)
                    for m in meshes if m.models) / total_rate
        return meshes, score

    def place(self) -> tuple[PlacementPlan, float]:
        need = max(min(x.cands) for x in self.llms)
        best, best_score = None, -1.0
        for sizes in cluster_cuts(self.wl.nnodes, self.wl.gpus_per_node):
            if max(sizes) < need or len(sizes) > len(self.llms):
                continue
            res = self.smart(sizes)
            if res and res[1] > best_score:
                best, best_score = res[0], res[1]
        if best is None:
            raise ValueError("the authors' greedy found no placement")
        meshes = []
        for m in sorted(best, key=lambda m: -m.ngpus):
            if not m.models:
                continue  # their YAML writer skips empty meshes: those GPUs stay idle
            llms = [self.llms[i] for i, _ in m.models]
            meshes.append(Mesh(m.ngpus, [MeshLLM(x.name, x.model, PREFILL_SM.get(x.model, 100), mps,
                                                 max(1, x.cands[m.ngpus][1])) for x, (_, mps) in zip(llms, m.models)],
                               kv_fraction=authors_kv_fraction(m.ngpus, [x.model for x in llms])))
        return PlacementPlan(meshes, "flexsm"), best_score


def authors_greedy(wl: MuxWorkload, profile: LatencyProfile) -> tuple[PlacementPlan, float]:
    """The authors' placement and their estimated throughput for it."""
    return AuthorsGreedy(wl, profile).place()
