"""The local backend's decode loop: batched prefill, token choice, stop rules, prefix KV reuse.

Layout of one batch in the KV cache (``P`` = shared prefix length, 0 without reuse)::

    row 0: [ prefix (P) ][ pad pad ][ suffix 0      ] -> generated tokens ...
    row 1: [ prefix (P) ][ suffix 1 (longest)       ] -> generated tokens ...

Padding sits between the prefix and each suffix (plain left padding when ``P == 0``). It is hidden by
zeros in the 2-D attention mask, and position ids come from the mask's cumulative sum, so every row
sees exactly the positions it would see alone. The prefix is prefilled once with batch size 1 and its
keys/values copied to every row, which is what makes shared-prefix batches cheap.

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
    """Runs batches through a causal LM with an explicit KV cache.

    ``forward_lock`` is held for each model call only (never across a ``yield``), so one slow stream
    consumer does not hold the model while other requests wait.
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
    def _forward(
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
        self._forward(ids, mask, positions, cache)
        return SharedPrefix(len(prefix_ids), [(layer.keys, layer.values) for layer in cache.layers])

    # the loop ------------------------------------------------------------------------------
    def run(
        self,
        seqs: list[SequenceState],
        params: GenerationParams,
        *,
        prefix: SharedPrefix | None = None,
        live_text: bool = False,
    ) -> Iterator[None]:
        """Decode ``seqs`` together, updating them in place; yields after every token step.

        ``live_text`` keeps each sequence's ``text`` current at every step (streaming); otherwise
        text is decoded only when needed for stop strings and when a sequence finishes.
        """
        import torch
        from transformers import DynamicCache

        stops = [s for s in params.stop if s]
        plen = prefix.length if prefix is not None else 0
        with torch.inference_mode():
            suffixes = [s.prompt_ids[plen:] for s in seqs]
            width = max(len(s) for s in suffixes)
            batch = len(seqs)
            input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((batch, plen + width), dtype=torch.long)
            mask[:, :plen] = 1
            for row, suffix in enumerate(suffixes):
                input_ids[row, width - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
                mask[row, plen + width - len(suffix) :] = 1
            # a row's positions count only its real tokens, so padding shifts nothing
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, plen:]
            if prefix is not None:
                # expand() is a view; DynamicCache concatenates it into a fresh tensor per batch
                copies = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in prefix.layers]
                cache = DynamicCache(ddp_cache_data=copies)
            else:
                cache = DynamicCache()
        for s in seqs:
            s.cached_tokens = plen
            if params.logprobs:
                s.logprobs = []
        logits = self._forward(input_ids, mask, positions, cache)
        with torch.inference_mode():
            next_position = mask.sum(-1)
        active = list(range(batch))  # indices into seqs of the rows still in the tensors

        while True:
            with torch.inference_mode():
                chosen = self._choose(logits, [seqs[i] for i in active], params)
                keep = [
                    row
                    for row, i in enumerate(active)
                    if not self._advance(seqs[i], int(chosen[row]), stops, live_text)
                ]
            yield
            if not keep:
                return
            with torch.inference_mode():
                if len(keep) < len(active):
                    # drop finished rows so later steps compute only what is still running
                    index = torch.tensor(keep, dtype=torch.long)
                    cache.batch_select_indices(index)
                    mask, next_position, chosen = mask[index], next_position[index], chosen[index]
                    active = [active[row] for row in keep]
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
                step_ids, step_positions = chosen.unsqueeze(-1), next_position.unsqueeze(-1)
                next_position = next_position + 1
            logits = self._forward(step_ids, mask, step_positions, cache)

    # per step ------------------------------------------------------------------------------
    def _choose(self, logits: torch.Tensor, seqs: list[SequenceState], params: GenerationParams) -> torch.Tensor:
        """Next token per row; records logprobs (of the raw logits, before temperature) when asked."""
        import torch

        if params.temperature == 0.0:
            chosen = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / params.temperature, dim=-1)
            picks = []
            for row, seq in enumerate(seqs):
                if params.top_p < 1.0:
                    sorted_probs, sorted_ids = probs[row].sort(descending=True)
                    # keep the smallest set of most likely tokens whose mass reaches top_p
                    outside = (sorted_probs.cumsum(0) - sorted_probs) >= params.top_p
                    sorted_probs = sorted_probs.masked_fill(outside, 0.0)
                    k = torch.multinomial(sorted_probs, 1, generator=seq.generator)
                    picks.append(sorted_ids[k])
                else:
                    picks.append(torch.multinomial(probs[row], 1, generator=seq.generator))
            chosen = torch.cat(picks)
        if params.logprobs:
            logprobs = torch.log_softmax(logits, dim=-1)
            top = logprobs.topk(params.top_logprobs, dim=-1) if params.top_logprobs else None
            for row, seq in enumerate(seqs):
                token_id = int(chosen[row])
                alternatives: dict[str, float] = {}
                if top is not None:
                    for value, alt in zip(top.values[row].tolist(), top.indices[row].tolist()):
                        alternatives.setdefault(self.token_text(alt), value)  # two ids may print alike
                assert seq.logprobs is not None
                seq.logprobs.append(
                    TokenLogprob(
                        token=self.token_text(token_id),
                        token_id=token_id,
                        logprob=float(logprobs[row, token_id]),
                        top=alternatives,
                    )
                )
        return chosen

    def _advance(self, seq: SequenceState, token_id: int, stops: list[str], live_text: bool) -> bool:
        """Append one token to ``seq`` and apply the stop rules; True when ``seq`` is finished."""
        seq.token_ids.append(token_id)
        if token_id in self.end_token_ids:
            seq.finish_reason = "stop"
            seq.text = self.decode(seq.token_ids[:-1])  # the end token itself is not text
            return True
        at_limit = len(seq.token_ids) >= seq.max_new_tokens
        if live_text or stops or at_limit:
            seq.text = self.decode(seq.token_ids)
            cut = stop_index(seq.text, stops)
            if cut >= 0:
                seq.text = seq.text[:cut]
                seq.finish_reason = "stop"
                return True
        if at_limit:
            seq.finish_reason = "length"
            return True
        return False
