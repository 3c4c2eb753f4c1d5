"""Discrete-event engine of one GPU mesh serving several LLMs at once.

Compute model. Every running kernel (a prefill batch or a decode step) has a length taken from the
profile at its own SM share. When the shares of the kernels running together add up to more than
100%, all of them slow down by ``(total / 100) ** contention`` (contention=1: the SMs are shared in
proportion). Modes:

* ``flexsm`` (MuxServe): one prefill at a time on the mesh, LLMs taking turns (round robin), while
  every LLM's decode steps run concurrently on their own SM shares.
* ``temporal``: one kernel at a time on the mesh, LLMs taking turns, each at the full GPU.
* ``spatial`` is ``temporal`` with one LLM per mesh (vLLM-like: prefill first, then decode).

Memory model. The mesh's KV pool is counted in blocks of ``block`` tokens per LLM (a block of a big
model holds more bytes than one of a small model; quotas are kept in bytes). A request is admitted
to prefill only if its prompt fits the LLM's quota; when decoding outgrows the quota the newest
request is preempted and recomputed later. Quota policies: ``adbs`` (initial quota by rate x KV
bytes per token, re-balanced every ``period`` seconds from under-used LLMs to full ones with a
queue), ``fixed`` (initial quotas forever), ``elastic`` (one shared pool, no quotas).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .arrivals import Stream


@dataclass
class LLMState:
    """What the engine tracks for one LLM on the mesh."""

    name: str
    stream: Stream
    prefill_s: object  # callable(n, mean_len) -> seconds at its prefill share
    decode_table: np.ndarray  # [batch, ctx // 16] seconds at its decode share
    prefill_sm: float
    decode_sm: float
    max_num_seqs: int
    token_bytes: float  # KV bytes per token over the mesh
    quota_bytes: float
    next_arrival: int = 0
    waiting: deque = field(default_factory=deque)
    running: dict = field(default_factory=dict)  # rid -> (join_step, ctx_at_join, out_left_at_join)
    # prefilled requests waiting for the decode step in flight to end: a step that started without
    # them does not produce their tokens (the authors' runtime adds them to the next decode call)
    joining: list = field(default_factory=list)  # (rid, ctx, out_left)
    finish_heap: list = field(default_factory=list)  # (finish_step, rid)
    step: int = 0
    sum_ctx: int = 0
    decoding: bool = False
    # per-request results
    first_token: np.ndarray | None = None
    finish: np.ndarray | None = None
    prompt_eff: np.ndarray | None = None  # prompt + tokens to recompute after a preemption
    out_left: np.ndarray | None = None
    preemptions: int = 0
    prefill_batches: int = 0
    decode_steps: int = 0
    decode_batch_sum: int = 0
    decode_gaps: np.ndarray | None = None  # cells of decode_table interpolated from missing entries
    gap_cells: set = field(default_factory=set)
    decode_rows: list | None = None
    gap_rows: list | None = None

    @property
    def used_bytes(self) -> float:
        # half a block of internal fragmentation per running sequence
        return (self.sum_ctx + 8 * (len(self.running) + len(self.joining))) * self.token_bytes


BLOCK = 16


class MeshEngine:
    """Simulates one mesh until every request of its LLMs has finished."""

    def __init__(self, llms: list[LLMState], mode: str = "flexsm", kv_policy: str = "adbs", pool_bytes: float = 0.0,
                 period: float = 2.0, contention: float = 1.0, max_prefill_tokens: int = 4096,
                 switch_s: float = 0.0) -> None:
        self.llms = llms
        self.mode = mode
        self.kv_policy = kv_policy
        self.pool_bytes = pool_bytes
        self.period = period
        self.contention = contention
        self.max_prefill_tokens = max_prefill_tokens
        self.switch_s = switch_s
        self.last_llm = -1  # temporal mode: whose kernel ran last, to charge a switch
        for s in llms:
            n = len(s.stream)
            s.first_token = np.full(n, np.nan)
            s.finish = np.full(n, np.nan)
            s.prompt_eff = s.stream.prompts.astype(np.int64).copy()
            s.out_left = s.stream.outputs.astype(np.int64).copy()
        self.rr = 0  # round-robin pointer for the prefill slot / the temporal turn

    # -------------------------------------------------------------------------------------------
    def _fits(self, s: LLMState, extra_tokens: int, extra_seqs: int) -> bool:
        need = (s.sum_ctx + extra_tokens + 8 * (len(s.running) + len(s.joining) + extra_seqs)) * s.token_bytes
        if self.kv_policy == "elastic":
            others = sum(o.used_bytes for o in self.llms if o is not s)
            return need + others <= self.pool_bytes
        return need <= s.quota_bytes

    def _take_prefill(self, s: LLMState) -> list[int]:
        """Waiting requests that fit the batch-token, batch-size and KV limits, oldest first."""
        batch, tokens = [], 0
        while s.waiting:
            rid = s.waiting[0]
            p = int(s.prompt_eff[rid])
            if batch and tokens + p > self.max_prefill_tokens:
                break
            if len(s.running) + len(s.joining) + len(batch) + 1 > s.max_num_seqs:
                break
            if not self._fits(s, tokens + p, len(batch) + 1):
                break
            s.waiting.popleft()
            batch.append(rid)
            tokens += p
        return batch

    def _decode_len(self, s: LLMState) -> float:
        if s.decode_rows is None:  # plain lists: indexing them is much cheaper than numpy scalars
            s.decode_rows = s.decode_table.tolist()
            s.gap_rows = s.decode_gaps.tolist() if s.decode_gaps is not None else None
        rows = s.decode_rows
        b = len(s.running)
        bi = min(b, len(rows) - 1)
        row = rows[bi]
        li = min(int(s.sum_ctx / max(b, 1)) // BLOCK, len(row) - 1)
        t = row[li]
        if s.gap_rows is not None and s.gap_rows[bi][li]:
            s.gap_cells.add((bi, li * BLOCK))
        if b > bi:  # beyond the table: linear in batch
            t = t * b / bi
        return float(t)

    def _grow_or_preempt(self, s: LLMState) -> None:
        """Before a decode step: every sequence grows by a token; preempt the newest until it fits."""
        while s.running and not self._fits(s, len(s.running), 0):
            rid = max(s.running, key=lambda r: (s.running[r][0], r))
            self._preempt(s, rid)

    def _preempt(self, s: LLMState, rid: int) -> None:
        join, ctx0, left0 = s.running.pop(rid)
        done = s.step - join
        s.sum_ctx -= ctx0 + done
        s.prompt_eff[rid] = ctx0 + done  # recompute prompt and generated tokens
        s.out_left[rid] = max(left0 - done, 1)
        s.waiting.appendleft(rid)
        s.preemptions += 1
        # its heap entry goes stale; _finish_due skips ids that are no longer running at that step

    def _finish_due(self, s: LLMState, now: float) -> None:
        heap = s.finish_heap
        while heap and heap[0][0] <= s.step:
            fstep, rid = heapq.heappop(heap)
            entry = s.running.get(rid)
            if entry is None or entry[0] + entry[2] != fstep:
                continue
            join, ctx0, left0 = s.running.pop(rid)
            s.sum_ctx -= ctx0 + (s.step - join)
            s.finish[rid] = now

    def _join(self, s: LLMState, batch: list[int], now: float) -> None:
        """Prefilled requests produce their first token and join the decode batch."""
        for rid in batch:
            if np.isnan(s.first_token[rid]):
                s.first_token[rid] = now
            left = int(s.out_left[rid]) - 1
            if left <= 0:
                s.finish[rid] = now
                continue
            ctx = int(s.prompt_eff[rid]) + 1
            s.joining.append((rid, ctx, left))
            s.sum_ctx += ctx  # its KV is held from now on

    def _admit_joining(self, s: LLMState) -> None:
        """At a decode step's start, the prefilled requests join the batch."""
        for rid, ctx, left in s.joining:
            s.running[rid] = (s.step, ctx, left)
            heapq.heappush(s.finish_heap, (s.step + left, rid))
        s.joining.clear()

    # -------------------------------------------------------------------------------------------
    def _rebalance(self) -> None:
        """ADBS: move unused quota from LLMs well under it to LLMs at it with a queue."""
        needy = [s for s in self.llms if s.waiting and s.used_bytes >= 0.9 * s.quota_bytes]
        # spare quota: under half used, and not wanted (no queue, or the batch is at its size cap)
        donors = [s for s in self.llms if s.used_bytes < 0.5 * s.quota_bytes
                  and (not s.waiting or len(s.running) >= s.max_num_seqs)]
        if not needy or not donors:
            return
        freed = 0.0
        for d in donors:
            give = (d.quota_bytes - d.used_bytes) / 2
            give -= give % (BLOCK * d.token_bytes)  # whole blocks only
            d.quota_bytes -= give
            freed += give
        weight = sum(len(s.waiting) for s in needy)
        for s in needy:
            s.quota_bytes += freed * len(s.waiting) / weight

    def run(self) -> None:
        llms, k = self.llms, len(self.llms)
        now = 0.0
        jobs: list[list] = []  # [work_left, llm_index, kind, payload, share]
        prefill_busy = False
        next_tick = self.period if self.kv_policy == "adbs" and k > 1 else float("inf")
        exclusive = self.mode in ("temporal", "spatial")
        pending = sum(len(s.stream) for s in llms)

        # every arrival on the mesh in time order, merged once
        times = np.concatenate([s.stream.arrivals for s in llms]) if k else np.zeros(0)
        owners = np.concatenate([np.full(len(s.stream), i) for i, s in enumerate(llms)]) if k else np.zeros(0, int)
        by_time = np.argsort(times, kind="stable")
        arr_t, arr_who = times[by_time].tolist(), owners[by_time].tolist()
        arr_t.append(float("inf"))
        arr_who.append(-1)
        cursor = 0

        def next_arrival_time() -> tuple[float, int]:
            return arr_t[cursor], arr_who[cursor]

        def start_prefill() -> bool:
            for off in range(k):
                i = (self.rr + off) % k
                s = llms[i]
                if not s.waiting:
                    continue
                batch = self._take_prefill(s)
                if not batch:
                    continue
                toks = int(sum(int(s.prompt_eff[r]) for r in batch))
                work = s.prefill_s(len(batch), toks / len(batch))
                jobs.append([work, i, "prefill", batch, 100.0 if exclusive else s.prefill_sm])
                s.prefill_batches += 1
                self.rr = (i + 1) % k
                return True
            return False

        def start_decode(i: int) -> None:
            s = llms[i]
            self._admit_joining(s)
            self._grow_or_preempt(s)
            if not s.running:
                s.decoding = False
                return
            s.decoding = True
            s.decode_steps += 1
            s.decode_batch_sum += len(s.running)
            jobs.append([self._decode_len(s), i, "decode", None, 100.0 if exclusive else s.decode_sm])

        def start_exclusive() -> None:
            # one kernel on the mesh; LLMs take turns; within an LLM, prefill first
            n_before = len(jobs)
            start_turn()
            if len(jobs) > n_before:
                j = jobs[-1]
                if self.last_llm not in (-1, j[1]):
                    j[0] += self.switch_s
                self.last_llm = j[1]

        def start_turn() -> None:
            for off in range(k):
                i = (self.rr + off) % k
                s = llms[i]
                if s.waiting:
                    batch = self._take_prefill(s)
                    if batch:
                        toks = int(sum(int(s.prompt_eff[r]) for r in batch))
                        jobs.append([s.prefill_s(len(batch), toks / len(batch)), i, "prefill", batch, 100.0])
                        s.prefill_batches += 1
                        self.rr = (i + 1) % k
                        return
                if s.running or s.joining:
                    start_decode(i)
                    if jobs:
                        self.rr = (i + 1) % k
                        return

        while pending > 0 or jobs:
            t_arr, who = next_arrival_time()
            total = sum(j[4] for j in jobs)
            speed = 1.0 if total <= 100.0 else (100.0 / total) ** self.contention
            t_job, ji = float("inf"), -1
            for idx, j in enumerate(jobs):
                t = now + j[0] / speed
                if t < t_job:
                    t_job, ji = t, idx
            t_next = min(t_arr, t_job, next_tick)
            if t_next == float("inf"):
                break  # nothing can ever run (e.g. a prompt larger than its KV quota)
            dt = t_next - now
            if dt > 0 and jobs:
                for j in jobs:
                    j[0] -= dt * speed
            now = t_next
            if t_next == t_job:
                work, i, kind, batch, _ = jobs.pop(ji)
                s = llms[i]
                if kind == "prefill":
                    self._join(s, batch, now)
                    prefill_busy = False
                    pending -= sum(1 for r in batch if not np.isnan(s.finish[r]))
                    if not exclusive and not s.decoding and (s.running or s.joining):
                        start_decode(i)
                else:
                    s.step += 1
                    s.sum_ctx += len(s.running)
                    before = len(s.running)
                    self._finish_due(s, now)
                    pending -= before - len(s.running)
                    s.decoding = False
                    if not exclusive:
                        start_decode(i)
            elif t_next == t_arr:
                s = llms[who]
                s.waiting.append(s.next_arrival)
                s.next_arrival += 1
                cursor += 1
            else:
                self._rebalance()
                live = any(s.next_arrival < len(s.stream) or s.waiting or s.running or s.joining for s in llms)
                next_tick = now + self.period if live else float("inf")
            if exclusive:
                if not jobs:
                    start_exclusive()
            else:
                if not prefill_busy and any(s.waiting for s in llms) and start_prefill():
                    prefill_busy = True
                for i, s in enumerate(llms):
                    if (s.running or s.joining) and not s.decoding:
                        start_decode(i)
            if not jobs and all(s.next_arrival >= len(s.stream) for s in llms):
                # nothing runs and nothing will arrive: a last re-balance, else what waits never fits
                self._rebalance()
                if exclusive:
                    start_exclusive()
                elif start_prefill():
                    prefill_busy = True
                if not jobs:
                    break
