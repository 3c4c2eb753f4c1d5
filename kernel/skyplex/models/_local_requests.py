"""Requests handed to the local backend's scheduler, and the handle a caller waits on or cancels.

torch is never imported here: importing skyplex stays cheap.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import SkyplexError
from ._local_decode import SequenceState

if TYPE_CHECKING:
    from ._local_engine import BatchScheduler


class GenerationCancelled(SkyplexError):
    """The caller cancelled the generation before it finished (for instance, the client went away)."""

    status_code = 499
    error_type = "cancelled"


#: put on a streaming request's update queue after its last update
END = object()


class Request:
    """One sequence handed to the scheduler; :attr:`done` is set when it finished, failed or was cancelled."""

    _order = itertools.count()

    def __init__(self, seq: SequenceState) -> None:
        self.seq = seq
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.cancelled = False
        #: streaming requests get ``(text, finished)`` after every token, then ``END``
        self.updates: queue.SimpleQueue | None = queue.SimpleQueue() if seq.live_text else None
        self.order = next(Request._order)
        self.waited_steps = 0
        #: the scheduler's decode-step counter when this request joined the batch and when it left
        self.joined_step: int | None = None
        self.finished_step: int | None = None

    def priority(self) -> tuple[int, int]:
        """Smaller goes first: the tokens it may still generate, less one per decode step waited."""
        return (self.seq.max_new_tokens - self.waited_steps, self.order)


class PendingGeneration:
    """Completions being generated; :meth:`cancel` frees their batch rows at the next decode step."""

    def __init__(
        self, scheduler: BatchScheduler, requests: list[Request], finish: Callable[[SequenceState], Any] | None = None
    ) -> None:
        self._scheduler = scheduler
        self.requests = requests
        self._finish = finish or (lambda seq: seq)

    def result(self) -> list[Any]:
        """What the backend returns for each finished sequence (its Completion), in order."""
        return [self._finish(seq) for seq in self.sequences()]

    def done(self) -> bool:
        return all(r.done.is_set() for r in self.requests)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every request has ended (or ``timeout`` seconds); True when all have."""
        for r in self.requests:
            if not r.done.wait(timeout):
                return False
        return True

    def cancel(self) -> None:
        """Stop generating; waiters get :class:`GenerationCancelled`. Safe from any thread, idempotent."""
        for r in self.requests:
            self._scheduler.cancel(r)

    def sequences(self) -> list[SequenceState]:
        """The finished sequences, in order; raises the first error or :class:`GenerationCancelled`."""
        try:
            self.wait()
        except BaseException:  # interrupted while waiting: nobody will read these rows
            self.cancel()
            raise
        for r in self.requests:
            if r.error is not None:
                raise r.error
        if any(r.cancelled for r in self.requests):
            raise GenerationCancelled("the generation was cancelled before it finished")
        return [r.seq for r in self.requests]
