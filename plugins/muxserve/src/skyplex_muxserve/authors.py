"""The authors' placement greedy, re-implemented with its defects, as a baseline to compare against.

Kept on purpose: hard-coded lengths (prompt 161, output 337), step lookups in file key order with
the decode index reused for the prefill list, KV sized from the whole model, mesh memory from a
fixed 40% utilisation, a per-mesh gain table indexed by positions in a list that is re-sorted after
every placement, and empty meshes dropped from the result (so GPUs may stay idle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalogue import shape_of
from .estimator import PREFILL_SM
from .fidelity import AuthorsEstimator, AuthorsLLM
from .placement import authors_kv_fraction, cluster_cuts
from .profiles import LatencyProfile
from .workload import Mesh, MeshLLM, MuxWorkload, PlacementPlan

SCALE = {"llama-7b": 1, "llama-13b": 2, "llama-30b": 4, "llama-65b": 8}
BASE = {"llama-30b": 2, "llama-65b": 4}


@dataclass
class _LLM:
    info: AuthorsLLM
    base: int
    scale: int
    cands: dict = field(default_factory=dict)  # ngpus -> (mps, bs, tpt)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def model(self) -> str:
        return self.info.model

    @property
    def rate(self) -> float:
        return self.info.rate

    @property
    def size_gb(self) -> float:
        return self.info.size_gb


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
            self.llms.append(_LLM(AuthorsLLM.of(m), BASE.get(s.name, 1), SCALE.get(s.name, 8)))
        used = sum(x.size_gb for x in self.llms) + 6 * len(self.llms)
        self.est = AuthorsEstimator(profile, util=used / (80.0 * wl.total_gpus))
        for x in self.llms:
            for g in (1, 2, 4, 8):
                if g >= x.base and self.profile.has(x.model, g):
                    mps, bs, tpt = self.est.estimate_mps(x.info, g)
                    if mps:
                        x.cands[g] = (mps, bs, tpt)

    def mesh_tpt(self, key: tuple) -> float:
        ngpus, members = key
        return self.est.mesh(tuple(self.llms[i].info for i, _ in members), ngpus, tuple(m for _, m in members))[0]

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
