"""What the local backend hands back: streamed text pieces of one completion, and finished completions.

torch is never imported here: importing skyplex stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..interfaces.model import Completion, Usage
from ._local_decode import SequenceState, streamable_text
from ._local_requests import PendingGeneration


class TokenStream(Iterator[str]):
    """Iterator over the text pieces of one streamed completion; :meth:`cancel` stops its generation.

    ``cancel`` may be called from any thread (the gateway calls it when the client disconnects,
    while another thread may be blocked in ``next``).
    """

    def __init__(self, pending: PendingGeneration, stops: list[str]) -> None:
        self._pending = pending
        (self._request,) = pending.requests
        self._stops = stops
        self._sent = ""
        self._ended = False

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> str:
        updates = self._request.updates
        assert updates is not None
        while not self._ended:
            if self._request.cancelled:  # pieces queued before the cancel are not sent after it
                self._ended = True
                break
            item = updates.get()
            if not isinstance(item, tuple):  # the end marker
                self._ended = True
                break
            text, finished = item
            ready = text if finished else streamable_text(text, self._stops)
            if len(ready) > len(self._sent) and ready.startswith(self._sent):
                piece, self._sent = ready[len(self._sent) :], ready
                return piece
        request = self._request
        if request.error is not None:
            raise request.error
        if request.cancelled:
            raise StopIteration
        final = request.seq.text
        if final != self._sent and final.startswith(self._sent):  # defensive: send what is missing
            piece, self._sent = final[len(self._sent) :], final
            return piece
        raise StopIteration

    def completion(self) -> Completion | None:
        """The finished completion (exact usage, finish reason) once the stream has ended, else None."""
        request = self._request
        if not request.done.is_set() or request.cancelled or request.error is not None:
            return None
        return completion_of(request.seq)

    def cancel(self) -> None:
        """Stop generating this completion; a blocked ``next`` returns soon after."""
        self._pending.cancel()

    def close(self) -> None:
        """Same as :meth:`cancel` (generator-style name, so ``contextlib.closing`` works)."""
        self.cancel()

    def __del__(self) -> None:  # an abandoned stream must not keep its row decoding
        if not self._request.done.is_set():
            self._pending.cancel()


def completion_of(seq: SequenceState) -> Completion:
    return Completion(
        text=seq.text,
        finish_reason=seq.finish_reason or "length",
        usage=Usage(
            prompt_tokens=len(seq.prompt_ids),
            completion_tokens=len(seq.token_ids),
            cached_prompt_tokens=seq.cached_tokens,
        ),
        logprobs=seq.logprobs,
    )
