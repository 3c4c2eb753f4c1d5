"""Request coalescing: HTTP requests that arrive together become one batched backend call.

A model backend is fastest when handed a whole batch, but HTTP clients send one prompt per request.
Each backend gets one worker thread per kind of call (:class:`RequestCoalescer` for ``generate``,
:class:`ScoreCoalescer` for ``prompt_logprobs``, the echo + logprobs requests evaluation clients
send). A batch closes when no new request has arrived for ``window_s`` (each arrival re-opens the
window, so a burst that trickles in over a busy event loop still lands in one batch), when
``max_wait_s`` has passed since its first request, or when it holds ``max_batch`` prompts; then
every queued request with the same parameters is handled in one call. While a batch runs, new
arrivals queue up and form the next batch, so under load the batch size follows the load without
any extra waiting.

Requests are only coalesced when that cannot change their output: greedy decoding is per-prompt
deterministic, and sampled decoding without a seed promises no particular sample. A sampled request
with a ``seed`` is generated on its own, because sharing a random stream with other prompts would
make its output depend on its neighbours. Scoring is deterministic: a prompt's logprobs do not
depend on the prompts scored beside it (beyond float rounding, which the tests bound at 1e-5).

When a batched call fails, each of its requests is retried on its own, so one bad request (say, a
prompt over the context length) gets the error and its neighbours do not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import SkyplexError
from ..interfaces import GenerationParams, ModelBackend, Prompt

log = logging.getLogger(__name__)


def can_coalesce(params: GenerationParams) -> bool:
    """Whether batching this request with others leaves its output unchanged."""
    return params.temperature == 0.0 or params.seed is None


@dataclass
class _Request:
    items: list[Any]
    options: Any  # what the backend call takes besides the items (the same for a whole batch)
    key: str
    future: Future = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class _Coalescer:
    """One worker thread batching requests for one backend call; subclasses say which call."""

    call_name = "call"

    def __init__(
        self,
        backend: ModelBackend,
        *,
        window_s: float = 0.005,
        max_wait_s: float | None = None,
        max_batch: int = 32,
        name: str = "",
    ) -> None:
        if window_s < 0 or max_batch < 1:
            raise ValueError("window_s must be >= 0 and max_batch >= 1")
        self.backend = backend
        self.window_s = window_s
        self.max_wait_s = max(window_s, max_wait_s if max_wait_s is not None else 10 * window_s)
        self._last_arrival = 0.0
        self.max_batch = max_batch
        self.name = name or getattr(backend, "name", "backend")
        self._queue: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: sizes (in prompts) of the backend calls made, newest last; for tests and metrics
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        #: seconds each of those calls took, so callers can tell model time from gateway time
        self.batch_seconds: deque[float] = deque(maxlen=1000)

    def _call(self, items: list[Any], options: Any) -> list[Any]:
        raise NotImplementedError

    def _enqueue(self, items: Sequence[Any], options: Any, key: str) -> Future:
        request = _Request(list(items), options, key)
        with self._cond:
            if self._closed:
                raise RuntimeError(f"the request batcher for {self.name!r} is closed")
            self._queue.append(request)
            self._last_arrival = request.arrived
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=f"skyplex-{self.call_name}-batcher-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return request.future

    def close(self) -> None:
        """Finish what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    # worker ----------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                # wait while requests keep arriving (each one re-opens the window), up to max_wait_s
                # after the oldest, unless the batch is already full
                hard_deadline = self._queue[0].arrived + self.max_wait_s
                while not self._closed and self._batchable_prompts() < self.max_batch:
                    deadline = min(self._last_arrival + self.window_s, hard_deadline)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch = self._take_batch()
            try:
                self._run(batch)
            except Exception:  # the worker must outlive any one batch, or later requests would hang
                log.exception("request batcher for %r failed on a batch", self.name)
                for req in batch:
                    if not req.future.done():
                        req.future.set_exception(SkyplexError("the request batcher failed; see the server log"))

    def _batchable_prompts(self) -> int:
        """Prompts queued that could join the oldest request's batch (same options).

        Requests with other options do not count: a batch is full only when it could really hold
        ``max_batch`` prompts, not when unrelated requests happen to be waiting beside it.
        """
        key = self._queue[0].key
        return sum(len(r.items) for r in self._queue if r.key == key)

    def _take_batch(self) -> list[_Request]:
        """The oldest request plus every later one with the same key that still fits, in order."""
        first = self._queue.popleft()
        batch, size, keep = [first], len(first.items), deque()
        while self._queue:
            req = self._queue.popleft()
            if req.key == first.key and size + len(req.items) <= self.max_batch:
                batch.append(req)
                size += len(req.items)
            else:
                keep.append(req)
        self._queue = keep
        return batch

    def _run(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        items = [p for r in live for p in r.items]
        self.batch_sizes.append(len(items))
        started = time.perf_counter()
        try:
            outputs = self._call(items, live[0].options)
            self.batch_seconds.append(time.perf_counter() - started)
            if len(outputs) != len(items):
                raise SkyplexError(
                    f"model backend {self.name!r} returned {len(outputs)} results of {self.call_name} for {len(items)} prompts"
                )
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            # one bad request must not fail its neighbours: retry each on its own so only the culprit gets the error
            log.info("batched %s on %r failed (%s); retrying its %d requests one by one", self.call_name, self.name, exc, len(live))
            for req in live:
                try:
                    self.batch_sizes.append(len(req.items))
                    req.future.set_result(self._call(req.items, req.options))
                except BaseException as one_exc:  # noqa: BLE001
                    req.future.set_exception(one_exc)
            return
        start = 0
        for req in live:
            req.future.set_result(list(outputs[start : start + len(req.items)]))
            start += len(req.items)


class RequestCoalescer(_Coalescer):
    """Batches concurrent ``generate`` requests for one backend; see the module docstring."""

    call_name = "generate"

    def submit(self, prompts: Sequence[Prompt], params: GenerationParams) -> Future:
        """Queue ``prompts``; the future resolves to their completions, in order."""
        return self._enqueue(prompts, params, params.model_dump_json())

    def _call(self, items: list[Any], options: Any) -> list[Any]:
        return self.backend.generate(items, options)


class ScoreCoalescer(_Coalescer):
    """Batches concurrent ``prompt_logprobs`` requests (echo + logprobs) for one backend.

    Requests asking for the same number of alternatives and the same next-token flag share one
    call, in which the backend runs prompts with a common prefix (one question, several answer
    choices) over a single pass of that prefix.
    """

    call_name = "score"

    def submit(self, prompts: Sequence[str | list[int]], top_logprobs: int = 0, next_token: bool = False) -> Future:
        """Queue ``prompts`` for scoring; the future resolves to their ``PromptLogprobs``, in order."""
        options = (int(top_logprobs), bool(next_token))
        return self._enqueue(prompts, options, repr(options))

    def _call(self, items: list[Any], options: Any) -> list[Any]:
        top_logprobs, next_token = options
        return self.backend.prompt_logprobs(items, top_logprobs=top_logprobs, next_token=next_token)
