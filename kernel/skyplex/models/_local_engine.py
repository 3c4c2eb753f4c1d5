"""Continuous batching for the local backend: one running batch, scheduled between decode steps.

A single scheduler thread owns decoding. Before every decode step it

- drops the rows that finished or whose caller cancelled (a client that went away),
- admits waiting requests while the batch has room: they are prefilled together and their
  keys/values merged into the running batch,

then runs one decode step for every running row. A request therefore joins the batch as soon as
there is room and leaves it the step it finishes: a short request is never held until a long one ends.

Layout of the running batch (``mask`` is the 2-D attention mask, one row per request)::

    row 0: [ 0 0 0 | cached prefix | 0 0 | own prompt tokens | generated ... ]
    row 1: [ cached prefix (longer)       | own prompt tokens (longest)  | generated ... ]

Padding (zeros in the mask) can sit anywhere; position ids are each row's count of real tokens, so
every row computes exactly what it would compute alone, up to float rounding. The rows' keys/values
live in preallocated buffers, one slot per row, reused across requests (:mod:`._local_kv`): a decode
step writes one column in place, a joining request fills free slots, a leaving one frees its slot.

Chunked prefill: newly admitted prompts are prefilled in chunks, with one decode step of the running
rows between chunks, so a long prompt does not stall the requests already decoding (their next token
waits for one chunk, not for the whole prompt). Chunks are ``busy_prefill_chunk_tokens`` while rows
are decoding (small: each costs a few decode steps) and ``prefill_chunk_tokens`` otherwise.

Fair queue: when the batch is full, waiting requests are admitted by the tokens they may still
generate (``max_tokens``), shortest first, each decode step spent waiting counting as one token
less, so a long request is delayed by short ones but never starved. Prefill work admitted per
step is capped (``prefill_token_budget``) so a burst of long prompts does not stall the running rows.

Prefix cache: prompt keys/values are kept (least recently used first out, ``capacity_tokens`` in
all). A new request reuses the longest cached prefix of its prompt, so repeated system prompts
and few-shot headers are prefilled once across requests; requests admitted together that share a
prefix have it prefilled once (batch size 1) first. Reused keys/values are copied into each row.
The cascade attention kernel (``skyplex.ops.cascade_attention``, which reads a shared prefix once
for a whole group) is not used here: see docs/serving-vllm.md for the measurement behind that.

torch is imported inside functions so that importing skyplex stays cheap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SkyplexError
from ._local_decode import MIN_SHARED_PREFIX, DecodeEngine, SequenceState, shared_prefix_length
from ._local_prefix import DEFAULT_PREFIX_CACHE_TOKENS, PrefixCache, PrefixEntry, prefix_rows, row_layers
from ._local_requests import END, GenerationCancelled, PendingGeneration, Request

#: what other modules and tests import from here (the pieces live in the modules above)
__all__ = [
    "DEFAULT_PREFIX_CACHE_TOKENS",
    "BatchScheduler",
    "GenerationCancelled",
    "PendingGeneration",
    "PrefillJob",
    "PrefixCache",
    "PrefixEntry",
    "Request",
]

log = logging.getLogger(__name__)

#: default cap on prompt tokens admitted for prefill in one round (one prompt is always admitted)
DEFAULT_PREFILL_TOKEN_BUDGET = 2048
#: default prompt tokens per prefill chunk while no row is decoding (nobody waits between chunks)
DEFAULT_PREFILL_CHUNK_TOKENS = 256
#: default prompt tokens per prefill chunk while rows are decoding: one model call of about this many
#: tokens sits between two of their decode steps. On one CPU thread a 32-token chunk costs about 2.5
#: decode steps and a 256-token one about 14, so a short request decoding beside a 1,800-token prefill
#: waits a few decode steps' time per token, not a quarter of the prefill.
DEFAULT_BUSY_PREFILL_CHUNK_TOKENS = 32


# --- scheduler ----------------------------------------------------------------------------------
@dataclass
class PrefillJob:
    """Requests being prefilled together, a chunk of columns per scheduling round."""

    requests: list[Request]
    input_ids: Any  # [rows, suffix columns], left-padded
    mask: Any  # [rows, prefix + suffix columns]
    positions: Any  # [rows, suffix columns]
    cache: Any  # DynamicCache, growing chunk by chunk
    prefix: int  # columns of reused prefix keys/values before the suffix
    done: int = 0  # suffix columns prefilled so far

    def work_left(self) -> int:
        """Prompt tokens still to prefill (rows x columns)."""
        return len(self.requests) * (self.input_ids.shape[1] - self.done)


class BatchScheduler:
    """Iteration-level scheduler over one running batch; see the module docstring."""

    def __init__(
        self,
        engine: DecodeEngine,
        *,
        max_batch_size: Callable[[], int],
        prefix_cache: PrefixCache | None = None,
        prefill_token_budget: int = DEFAULT_PREFILL_TOKEN_BUDGET,
        prefill_chunk_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS,
        busy_prefill_chunk_tokens: int = DEFAULT_BUSY_PREFILL_CHUNK_TOKENS,
        threads: int | None = None,
    ) -> None:
        self.engine = engine
        self.threads = threads
        self.max_batch_size = max_batch_size
        self.prefix_cache = prefix_cache
        self.prefill_token_budget = prefill_token_budget
        #: prompt tokens prefilled per scheduling round (0: a whole prompt at once); a decode step of
        #: the running rows runs between chunks
        self.prefill_chunk_tokens = prefill_chunk_tokens
        #: the same while rows are decoding (0: as ``prefill_chunk_tokens``); smaller, so that the
        #: decoding rows' next token waits for a cheap chunk
        self.busy_prefill_chunk_tokens = busy_prefill_chunk_tokens
        #: prompts being prefilled, a chunk per round, the job with the least work left first
        self._prefilling: list[PrefillJob] = []
        self._cond = threading.Condition()
        self._waiting: list[Request] = []
        self._running: list[Request] = []  # only the scheduler thread changes this and the slots below
        #: the running rows' keys/values and mask, in buffers reused across requests (``SlotBatch``)
        self._slots: Any = None
        self._last: list[int] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        #: decode steps run so far (one model call for the whole running batch each)
        self.steps = 0
        #: prefill rounds run so far (newly admitted requests, prefilled together)
        self.prefills = 0
        #: model calls spent on prefill chunks so far (at least one per prefill round)
        self.prefill_chunks = 0
        #: the largest number of rows decoded together
        self.peak_batch = 0

    # caller side ---------------------------------------------------------------------------
    def submit(
        self, seqs: Sequence[SequenceState], finish: Callable[[SequenceState], Any] | None = None
    ) -> PendingGeneration:
        """Queue ``seqs`` for decoding; they join the running batch at the next step with room.
        ``finish`` turns a finished sequence into what :meth:`PendingGeneration.result` returns."""
        requests = [Request(s) for s in seqs]
        with self._cond:
            if self._closed:
                raise SkyplexError("the local model's scheduler is closed")
            self._waiting.extend(requests)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="skyplex-local-decode", daemon=True)
                self._thread.start()
            self._cond.notify()
        return PendingGeneration(self, requests, finish)

    def cancel(self, request: Request) -> None:
        """Mark ``request`` cancelled; the scheduler drops it before its next step."""
        if request.done.is_set():
            return
        request.cancelled = True
        with self._cond:
            self._cond.notify()

    def running(self) -> int:
        """Rows in the running batch now."""
        return len(self._running)

    def waiting(self) -> int:
        """Requests queued for a row now."""
        with self._cond:
            return len(self._waiting)

    def close(self) -> None:
        """Stop the scheduler thread; requests not finished end with an error."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=60)

    # scheduler thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        if self.threads:
            import torch

            # OpenMP's thread count is per calling thread: this one does the decoding, so set it here
            torch.set_num_threads(self.threads)
        while True:
            with self._cond:
                while not self._waiting and not self._running and not self._prefilling and not self._closed:
                    self._cond.wait()
                if self._closed:
                    leftovers = self._waiting + self._running + [r for job in self._prefilling for r in job.requests]
                    self._waiting, self._prefilling = [], []
                    break
                admitted = self._admit()
            try:
                if admitted:
                    self._prefilling.append(self._start_prefill(admitted))
                if self._prefilling:
                    # one chunk, then a decode step: a long prompt never stalls the batch; the job with
                    # the least left goes first, so a short prompt arriving mid-way is not queued behind it
                    self._prefill_chunk(min(self._prefilling, key=PrefillJob.work_left))
                if self._running:
                    self._step()
            except BaseException as exc:  # noqa: BLE001 - the thread must outlive a failed batch
                log.exception("local decode step failed; failing the %d requests in the batch", len(self._running))
                jobs, self._prefilling = self._prefilling, []
                for r in {id(r): r for r in admitted + self._running + [r for j in jobs for r in j.requests]}.values():
                    if not r.done.is_set():
                        r.error = exc
                        self._finish(r)
                self._reset(drop_buffers=True)
        for r in leftovers:
            if not r.done.is_set():
                r.error = SkyplexError("the local model was closed while this request was generating")
                self._finish(r)
        self._reset(drop_buffers=True)

    def _admit(self) -> list[Request]:
        """Pick waiting requests for the free rows (under the lock); drops cancelled ones."""
        for r in [r for r in self._waiting if r.cancelled]:
            self._waiting.remove(r)
            self._finish(r)
        room = max(self.max_batch_size(), 1) - len(self._running) - sum(len(j.requests) for j in self._prefilling)
        picked: list[Request] = []
        budget = self.prefill_token_budget
        if room > 0:
            for r in sorted(self._waiting, key=Request.priority):
                if len(picked) == room:
                    break
                tokens = len(r.seq.prompt_ids) - (r.seq.cached_tokens or 0)
                if picked and tokens > budget:
                    continue
                picked.append(r)
                budget -= tokens
        for r in picked:
            self._waiting.remove(r)
        if self._running or picked:
            for r in self._waiting:
                r.waited_steps += 1
        return picked

    def _start_prefill(self, admitted: list[Request]) -> PrefillJob:
        """Lay out newly admitted requests for prefill together (left-padded, after any cached prefix)."""
        import torch
        from transformers import DynamicCache

        hits = self._prefix_hits(admitted)
        plens = [n for n, _ in hits]
        pmax = max(plens)
        suffixes = [r.seq.prompt_ids[n:] for r, n in zip(admitted, plens)]
        smax = max(len(s) for s in suffixes)
        rows = len(admitted)
        with torch.inference_mode():
            input_ids = torch.full((rows, smax), self.engine.pad_token_id, dtype=torch.long)
            mask = torch.zeros((rows, pmax + smax), dtype=torch.long)
            for row, (suffix, n) in enumerate(zip(suffixes, plens)):
                input_ids[row, smax - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
                mask[row, pmax - n : pmax] = 1
                mask[row, pmax + smax - len(suffix) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, pmax:]
            if pmax:
                cache = DynamicCache(ddp_cache_data=prefix_rows(hits, pmax))
            else:
                cache = DynamicCache()
        for r, n in zip(admitted, plens):
            r.seq.cached_tokens = n
        return PrefillJob(admitted, input_ids, mask, positions, cache, pmax)

    def _prefill_chunk(self, job: PrefillJob) -> None:
        """Prefill the next chunk of ``job``; its last chunk picks first tokens and merges the rows."""
        if all(r.cancelled for r in job.requests):  # nobody is waiting for this prompt any more
            self._prefilling.remove(job)
            for r in job.requests:
                self._finish(r)
            return
        columns = job.input_ids.shape[1]
        budget = self.chunk_budget()
        chunk = max(1, budget // len(job.requests)) if budget else columns
        stop = min(columns, job.done + chunk)
        logits = self.engine.forward(
            job.input_ids[:, job.done : stop], job.mask[:, : job.prefix + stop], job.positions[:, job.done : stop], job.cache
        )
        self.prefill_chunks += 1
        job.done = stop
        if stop < columns:
            return
        self._prefilling.remove(job)
        self._finish_prefill(job, logits)

    def chunk_budget(self) -> int:
        """Prompt tokens (all rows of a job together) the next prefill chunk may cover; 0: no limit."""
        if self._running and self.busy_prefill_chunk_tokens:
            if not self.prefill_chunk_tokens:
                return self.busy_prefill_chunk_tokens
            return min(self.prefill_chunk_tokens, self.busy_prefill_chunk_tokens)
        return self.prefill_chunk_tokens

    def _finish_prefill(self, job: PrefillJob, logits: Any) -> None:
        """Keep the prompts' keys/values for reuse, choose first tokens, write the rows into the batch."""
        import torch

        admitted, cache, mask = job.requests, job.cache, job.mask
        self.prefills += 1
        for r in admitted:
            r.joined_step = self.steps
        if self.prefix_cache is not None:
            with torch.inference_mode():
                for row, r in enumerate(admitted):
                    if r.seq.params.prefix_reuse:
                        self.prefix_cache.add(r.seq.prompt_ids, lambda row=row: row_layers(cache, mask, row))
        tokens = self.engine.choose(logits, [r.seq for r in admitted])
        keep = [row for row, (r, t) in enumerate(zip(admitted, tokens)) if not self._advance(r, t)]
        if not keep:
            return
        with torch.inference_mode():
            if len(keep) < len(admitted):
                index = torch.tensor(keep, dtype=torch.long)
                cache.batch_select_indices(index)
                mask = mask[index]
            self._merge([admitted[i] for i in keep], cache, mask, [tokens[i] for i in keep])

    def _prefix_hits(self, admitted: list[Request]) -> list[tuple[int, Any]]:
        """Per request, the cached prefix length and entry it reuses ((0, None) for none)."""
        if self.prefix_cache is None:
            return [(0, None)] * len(admitted)
        cache = self.prefix_cache
        # requests admitted together that share a prefix not cached yet get it prefilled once
        groups: dict[tuple[int, ...], list[Request]] = {}
        for r in admitted:
            if r.seq.params.prefix_reuse and len(r.seq.prompt_ids) > MIN_SHARED_PREFIX:
                groups.setdefault(tuple(r.seq.prompt_ids[:MIN_SHARED_PREFIX]), []).append(r)
        for group in groups.values():
            if len(group) < 2:
                continue
            shared = shared_prefix_length([r.seq.prompt_ids for r in group])
            if shared >= MIN_SHARED_PREFIX and shared > cache.peek(group[0].seq.prompt_ids)[0]:
                prefix = self.engine.prefill_prefix(group[0].seq.prompt_ids[:shared])
                cache.add(group[0].seq.prompt_ids[:shared], lambda prefix=prefix: prefix.layers)
        return [cache.lookup(r.seq.prompt_ids) if r.seq.params.prefix_reuse else (0, None) for r in admitted]

    def _step(self) -> None:
        """One decode step for every running row (dropping cancelled rows first)."""
        import torch

        cancelled = [row for row, r in enumerate(self._running) if r.cancelled]
        if cancelled:
            self._remove(cancelled)
            if not self._running:
                return
        slots = self._slots
        with torch.inference_mode():
            positions = slots.mask().sum(-1, keepdim=True)  # each row's count of real tokens so far
            input_ids = torch.tensor(self._last, dtype=torch.long).unsqueeze(-1)
            slots.open_column()
        logits = self.engine.forward(input_ids, slots.mask_with_next(), positions, slots.cache)
        slots.close_column()
        self.steps += 1
        self.peak_batch = max(self.peak_batch, len(self._running))
        tokens = self.engine.choose(logits, [r.seq for r in self._running])
        self._last = tokens
        finished = [row for row, (r, t) in enumerate(zip(self._running, tokens)) if self._advance(r, t)]
        if finished:
            self._remove(finished)

    def _advance(self, request: Request, token: int) -> bool:
        """Apply one token to ``request``; finishes it (and tells its waiter) when it ends."""
        ended = self.engine.advance(request.seq, token)
        if request.updates is not None:
            request.updates.put((request.seq.text, ended))
        if ended:
            self._finish(request)
        return ended

    def _finish(self, request: Request) -> None:
        request.finished_step = self.steps
        if request.updates is not None:
            request.updates.put(END)
        request.done.set()

    def _merge(self, requests: list[Request], cache: Any, mask: Any, last: list[int]) -> None:
        """Write prefilled rows into free slots of the running batch (no copy of the rows already there)."""
        import torch

        from ._local_kv import SlotBatch

        with torch.inference_mode():
            layers = [(layer.keys, layer.values) for layer in cache.layers]
            if self._slots is None:
                k0 = layers[0][0]
                self._slots = SlotBatch(len(layers), k0.shape[1], k0.shape[3], k0.dtype, k0.device)
            self._slots.add_rows(layers, mask)
        self._running.extend(requests)
        self._last.extend(last)

    def _remove(self, rows: list[int]) -> None:
        """Drop ``rows`` from the running batch (finishing any not finished yet); their slots are reused."""
        import torch

        for row in rows:
            r = self._running[row]
            if not r.done.is_set():
                self._finish(r)
        with torch.inference_mode():
            order = self._slots.remove_rows(rows)
        self._running = [self._running[row] for row in order]
        self._last = [self._last[row] for row in order]

    def _reset(self, *, drop_buffers: bool = False) -> None:
        """Empty the running batch; the slot buffers stay for the next requests unless ``drop_buffers``."""
        self._running, self._last = [], []
        if drop_buffers or self._slots is None:
            self._slots = None
        else:
            self._slots.clear()
