"""Throughput of LLMs colocated on a mesh, estimated from the latency profile (no simulation).

The paper's model: while LLM *i* finishes a batch of ``b_i`` requests in ``S_out`` decode steps,
every LLM on the mesh runs one prefill batch, one at a time, so

    throughput_i = b_i / (S_out * T_decode_i(b_i) + sum_j T_prefill_j(b_j)).

Each LLM takes the smallest batch that meets its rate, capped by its share of the mesh's KV memory
(split by rate x KV bytes per token). Two modes:

* ``fidelity`` is the authors' estimator itself (module ``fidelity``): hard-coded lengths (prompt
  161, output 337), step lookups in JSON key order, the decode index reused for the prefill list,
  KV sized from the full model, their per-sequence overheads and their batch-growing mesh loop.
* ``default`` fixes those: the workload's own lengths, interpolation in batch, length and SM share,
  consistent indices, TP- and GQA-aware KV sizes, and SM oversubscription slowing the decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skyplex.errors import InvalidInputError

from .catalogue import GIB, shape_of
from .fidelity import FIDELITY_OUTPUT, FIDELITY_PROMPT, AuthorsEstimator, AuthorsLLM, overhead_s
from .profiles import LatencyProfile
from .workload import LLM

MODES = ("default", "fidelity")
PREFILL_SM = {"llama-7b": 80, "llama-13b": 90}  # the authors' prefill shares; 100 for larger models
DECODE_SMS = (30, 40, 50, 60, 70, 80, 90)
GPU_GIB = 80.0


def prefill_share(model: str) -> int:
    return PREFILL_SM.get(shape_of(model).name, 100)


@dataclass(frozen=True)
class MeshEstimate:
    """Estimated per-LLM throughput (req/s), chosen batch sizes, and the mesh's served rate."""

    throughput: tuple[float, ...]
    batches: tuple[int, ...]
    served: float  # sum of min(throughput, rate): requests per second the mesh keeps up with
    weighted: float  # the authors' figure: rate-weighted mean throughput


class Estimator:
    """Estimates for one profile in one mode; memoises every table it builds."""

    def __init__(self, profile: LatencyProfile, mode: str = "default", gpu_memory_gib: float = GPU_GIB,
                 headroom: float = 1.0) -> None:
        if mode not in MODES:
            raise InvalidInputError(f"unknown estimator mode {mode!r}; one of {MODES}", field="mode")
        self.profile = profile
        self.mode = mode
        self.gpu_memory_gib = gpu_memory_gib
        self.headroom = headroom
        self.authors = AuthorsEstimator(profile) if mode == "fidelity" else None
        self._tables = lru_cache(maxsize=None)(self._latency_tables)

    # --------------------------------------------------------------------------- latency vectors
    def lengths(self, llm: LLM) -> tuple[float, float]:
        if self.mode == "fidelity":
            return FIDELITY_PROMPT, FIDELITY_OUTPUT
        return llm.avg_prompt_len, llm.avg_output_len

    def _latency_tables(self, model: str, ngpus: int, p_sm: int, d_sm: int, prompt: float, output: float):
        """(prefill[b], decode[b]) for b = 0..max profiled batch, in seconds."""
        grid = self.profile.grid(model, ngpus)
        bmax = grid.max_batch
        b = np.arange(0, bmax + 1, dtype=float)
        pre, _ = self.profile.table(model, ngpus, "prefill", p_sm, b, np.array([prompt]))
        dec, _ = self.profile.table(model, ngpus, "decode", d_sm, b, np.array([prompt + output / 2.0]))
        dec = dec[:, 0] + overhead_s(model) * b
        return pre[:, 0], dec

    def kv_bytes_per_token(self, model: str, ngpus: int) -> float:
        return shape_of(model).kv_bytes_per_token_mesh(ngpus)

    def kv_pool_bytes(self, ngpus: int, models: list[str]) -> float:
        weights = sum(shape_of(m).weight_gib for m in models)
        return max(0.0, self.gpu_memory_gib * ngpus * 0.98 - weights - 6.0 * len(models)) * GIB

    # --------------------------------------------------------------------------------- a mesh
    def mesh(self, llms: list[LLM], ngpus: int, decode_sms: list[int], prefill_sms: list[int] | None = None) -> MeshEstimate:
        """Throughput of ``llms`` sharing a ``ngpus`` mesh at the given decode (and prefill) SM shares."""
        key = (tuple(llms), ngpus, tuple(decode_sms), tuple(prefill_sms or ()))
        return self._mesh(key)

    @lru_cache(maxsize=200_000)  # noqa: B019 - the estimator lives as long as its caches are useful
    def _mesh(self, key) -> MeshEstimate:
        llms, ngpus, d_sms, p_sms = key
        if self.authors is not None:  # the authors' own computation (their prefill share is 100)
            _, batches, tpts = self.authors.mesh(tuple(AuthorsLLM.of(m) for m in llms), ngpus, d_sms)
            served = sum(min(t * self.headroom, m.rate) for t, m in zip(tpts, llms))
            weighted = sum(t * m.rate for t, m in zip(tpts, llms)) / sum(m.rate for m in llms)
            return MeshEstimate(tuple(tpts), tuple(int(b) for b in batches), served, weighted)
        p_sms = p_sms or tuple(prefill_share(m.model) for m in llms)
        pool = self.kv_pool_bytes(ngpus, [m.model for m in llms])
        tok = [self.kv_bytes_per_token(m.model, ngpus) for m in llms]
        base = sum(m.rate * t for m, t in zip(llms, tok))
        tables, caps = [], []
        oversub = max(1.0, (max(p_sms) + sum(d_sms)) / 100.0) if len(llms) > 1 else 1.0
        for m, t, p, d in zip(llms, tok, p_sms, d_sms):
            prompt, output = self.lengths(m)
            pre, dec = self._tables(m.model, ngpus, int(p), int(d), float(prompt), float(output))
            # while a prefill runs, decodes share the SMs with it: slow them by the oversubscription
            dec = dec * oversub
            tables.append((pre, dec, output))
            quota = pool * m.rate * t / base if base > 0 else 0.0
            caps.append(int(min(len(dec) - 1, quota // (t * (prompt + output)))))
        if any(c < 1 for c in caps):
            return MeshEstimate(tuple(0.0 for _ in llms), tuple(0 for _ in llms), 0.0, 0.0)
        batches = [1] * len(llms)
        for _ in range(6):  # fixed point: each LLM's batch depends on the others' prefills
            changed = False
            for i, m in enumerate(llms):
                pre, dec, output = tables[i]
                others = sum(tables[j][0][batches[j]] for j in range(len(llms)) if j != i)
                b = np.arange(1, caps[i] + 1)
                tpt = b / (output * dec[1:caps[i] + 1] + pre[1:caps[i] + 1] + others)
                ok = np.flatnonzero(tpt >= m.rate)
                nb = int(b[ok[0]]) if len(ok) else int(b[int(np.argmax(tpt))])
                if nb != batches[i]:
                    batches[i], changed = nb, True
            if not changed:
                break
        tpts = []
        for i, m in enumerate(llms):
            pre, dec, output = tables[i]
            prefills = sum(tables[j][0][batches[j]] for j in range(len(llms)))
            tpts.append(float(batches[i] / (output * dec[batches[i]] + prefills)))
        # an LLM run near its capacity queues without bound: only capacity kept below `headroom` counts
        served = sum(min(t * self.headroom, m.rate) for t, m in zip(tpts, llms))
        weighted = sum(t * m.rate for t, m in zip(tpts, llms)) / sum(m.rate for m in llms)
        return MeshEstimate(tuple(tpts), tuple(batches), served, weighted)

    def standalone(self, llm: LLM, ngpus: int, d_sm: int) -> float:
        """Throughput of ``llm`` alone on a mesh at decode share ``d_sm`` (used to pick shares)."""
        return self.mesh([llm], ngpus, [d_sm]).throughput[0]

    def pick_share(self, llm: LLM, ngpus: int) -> tuple[int, float]:
        """The smallest decode SM share whose standalone throughput meets the LLM's rate (else the best)."""
        if self.authors is not None:
            mps, _, tpt = self.authors.estimate_mps(AuthorsLLM.of(llm), ngpus)
            return mps, tpt
        best = (0, 0.0)
        for d in DECODE_SMS:
            t = self.standalone(llm, ngpus, d)
            if t + min(0.5, 0.1 * t) >= llm.rate:
                return d, t
            if t > best[1]:
                best = (d, t)
        return best
