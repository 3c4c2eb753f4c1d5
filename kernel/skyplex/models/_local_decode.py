"""The local backend's per-step pieces: model calls, token choice, stop rules, prefix prefill.

The loop that drives them, with requests joining and leaving the running batch between steps, is
:mod:`._local_engine`. Every sequence carries its own generation parameters, so one batch can mix
greedy and sampled requests, with and without logprobs or stop strings.

torch is imported inside functions so that importing skyplex stays cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..interfaces.model import GenerationParams, TokenLogprob

if TYPE_CHECKING:
    import torch

#: a shared prefix shorter than this is not worth a separate prefill
MIN_SHARED_PREFIX = 16


@dataclass
class SequenceState:
    """One prompt being decoded: its tokens so far and how it ended."""

    index: int  # position in the caller's batch (also offsets the sampling seed)
    prompt_ids: list[int]
    max_new_tokens: int
    generator: Any = None  # torch.Generator for sampled decoding, None when greedy
    params: GenerationParams = field(default_factory=GenerationParams)
    #: keep ``text`` current after every token (streaming), not only when stop strings need it
    live_text: bool = False
    #: ``(seq, logits[vocab]) -> logits`` applied before the token is chosen (constrained decoding)
    logits_processor: Callable[[SequenceState, Any], Any] | None = None
    cached_tokens: int = 0
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None
    text: str = ""
    finish_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class SharedPrefix:
    """Keys/values of a token prefix common to a whole batch, prefilled once with batch size 1."""

    length: int
    layers: list[tuple[Any, Any]]  # per layer (keys, values), each [1, kv_heads, length, head_dim]


def shared_prefix_length(token_lists: Sequence[Sequence[int]]) -> int:
    """Tokens the lists share at the start, leaving every list at least one token of its own.

    The last prompt token must go through the suffix prefill: its logits pick the first new token.
    """
    if len(token_lists) < 2:
        return 0
    shortest = min(len(t) for t in token_lists)
    first = token_lists[0]
    n = 0
    while n < shortest - 1 and all(t[n] == first[n] for t in token_lists):
        n += 1
    return n


def stop_index(text: str, stops: Sequence[str]) -> int:
    """Where the earliest stop string starts in ``text``, or -1."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else -1


def streamable_text(text: str, stops: Sequence[str]) -> str:
    """The part of an unfinished completion that can be sent without ever being taken back.

    Holds back a trailing replacement character (a multi-byte character split across tokens) and any
    tail that could be the start of a stop string (it would be cut if the stop string completes).
    """
    safe = text.rstrip("\ufffd")
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(safe)), 0, -1):
            if safe.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return safe[: len(safe) - hold] if hold else safe


class DecodeEngine:
    """Model calls and per-token rules for a causal LM with an explicit KV cache.

    ``forward_lock`` is held for each model call only, so other users of the model (scoring) can
    interleave with decode steps.
    """

    def __init__(
        self,
        model: Any,
        *,
        pad_token_id: int,
        end_token_ids: set[int],
        decode: Callable[[list[int]], str],
        token_text: Callable[[int], str],
        forward_lock: threading.Lock,
    ) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.end_token_ids = end_token_ids
        self.decode = decode
        self.token_text = token_text
        self.forward_lock = forward_lock

    # model calls ---------------------------------------------------------------------------
    def forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any
    ) -> torch.Tensor:
        import torch

        with self.forward_lock, torch.inference_mode():
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,  # only the last position's logits choose the next token
            )
            return out.logits[:, -1, :].float()

    def prefill_prefix(self, prefix_ids: Sequence[int]) -> SharedPrefix:
        """Run the shared prefix once (batch size 1) and keep its keys/values."""
        import torch
        from transformers import DynamicCache

        cache = DynamicCache()
        with torch.inference_mode():
            ids = torch.tensor([list(prefix_ids)], dtype=torch.long)
            mask = torch.ones_like(ids)
            positions = torch.arange(ids.shape[1]).unsqueeze(0)
        self.forward(ids, mask, positions, cache)
        return SharedPrefix(len(prefix_ids), [(layer.keys, layer.values) for layer in cache.layers])

    # per step ------------------------------------------------------------------------------
    def choose(self, logits: torch.Tensor, seqs: Sequence[SequenceState]) -> list[int]:
        """Next token per row, each by its own sequence's parameters; records logprobs (of the raw
        logits, before temperature or any logits processor) for the sequences that ask for them."""
        import torch

        chosen: list[int] = []
        greedy = logits.argmax(-1).tolist()
        want_logprobs = any(s.params.logprobs for s in seqs)
        logprobs = torch.log_softmax(logits, dim=-1) if want_logprobs else None
        for row, seq in enumerate(seqs):
            params = seq.params
            row_logits = logits[row]
            if seq.logits_processor is not None:
                row_logits = seq.logits_processor(seq, row_logits)
            if params.temperature == 0.0:
                token = greedy[row] if seq.logits_processor is None else int(row_logits.argmax())
            else:
                probs = torch.softmax(row_logits / params.temperature, dim=-1)
                if params.top_p < 1.0:
                    sorted_probs, sorted_ids = probs.sort(descending=True)
                    # keep the smallest set of most likely tokens whose mass reaches top_p
                    outside = (sorted_probs.cumsum(0) - sorted_probs) >= params.top_p
                    sorted_probs = sorted_probs.masked_fill(outside, 0.0)
                    token = int(sorted_ids[torch.multinomial(sorted_probs, 1, generator=seq.generator)])
                else:
                    token = int(torch.multinomial(probs, 1, generator=seq.generator))
            chosen.append(token)
            if params.logprobs:
                assert logprobs is not None
                self._record_logprob(seq, logprobs[row], token, params.top_logprobs)
        return chosen

    def _record_logprob(self, seq: SequenceState, logprobs: torch.Tensor, token_id: int, top_n: int) -> None:
        alternatives: dict[str, float] = {}
        if top_n:
            top = logprobs.topk(top_n)
            for value, alt in zip(top.values.tolist(), top.indices.tolist()):
                alternatives.setdefault(self.token_text(alt), value)  # two ids may print alike
        if seq.logprobs is None:
            seq.logprobs = []
        seq.logprobs.append(
            TokenLogprob(
                token=self.token_text(token_id), token_id=token_id, logprob=float(logprobs[token_id]), top=alternatives
            )
        )

    def advance(self, seq: SequenceState, token_id: int) -> bool:
        """Append one token to ``seq`` and apply the stop rules; True when ``seq`` is finished."""
        seq.token_ids.append(token_id)
        if token_id in self.end_token_ids:
            seq.text = self.decode(seq.token_ids[:-1])  # the end token itself is not text
            seq.finish_reason = "stop"
            return True
        stops = [s for s in seq.params.stop if s]
        at_limit = len(seq.token_ids) >= seq.max_new_tokens
        if seq.live_text or stops or at_limit:
            text = self.decode(seq.token_ids)
            cut = stop_index(text, stops)
            if cut >= 0:
                seq.text = text[:cut]
                seq.finish_reason = "stop"
                return True
            seq.text = text
        if at_limit:
            if not (seq.live_text or stops):
                seq.text = self.decode(seq.token_ids)
            seq.finish_reason = "length"
            return True
        return False
