"""Scoring for the local backend: logprobs of given tokens, in batched forward passes without sampling.

Each sequence asks for the logprobs of its tokens from position ``start`` on (``start >= 1``: a token
is predicted from the ones before it). Sequences are sorted so that those sharing a long token
prefix (the usual case: one question, four answer choices) land in one group. A group's common
prefix is run once with batch size 1; its keys/values are then shared by every row, and its logits
serve every row's tokens inside the prefix. The rest of each row (its own suffix) runs in one batched
forward pass over that prefix, laid out as in the decode loop::

    row 0: [ prefix (P) ][ pad pad ][ suffix 0      ]
    row 1: [ prefix (P) ][ suffix 1 (longest)       ]

Only the positions whose logits are needed go through the output projection (``logits_to_keep``),
which keeps memory at rows x scored tokens x vocabulary instead of rows x all tokens x vocabulary.

torch is imported inside functions so that importing skyplex stays cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..interfaces.model import TokenLogprob

#: a prefix shorter than this is not worth a separate forward pass
MIN_SHARED_PREFIX = 8
#: cap on rows x kept positions per batched forward (each kept position holds a vocabulary of logits)
MAX_SCORED_POSITIONS = 2048
#: cap on rows x suffix width per batched forward (attention and hidden states)
MAX_BATCH_TOKENS = 16384


@dataclass
class ScoredTokens:
    """Logprobs of one sequence's tokens from its ``start`` on, and which were the greedy choice."""

    logprobs: list[TokenLogprob]
    greedy: list[bool]
    next: TokenLogprob | None = None  # the most likely token after the sequence (with_next only)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def plan_groups(sequences: Sequence[Sequence[int]], starts: Sequence[int]) -> list[tuple[list[int], int]]:
    """Indices of ``sequences`` grouped for scoring, each with the prefix length its rows share.

    Sorting puts sequences with a common prefix next to each other; a group grows while its rows
    still share at least :data:`MIN_SHARED_PREFIX` tokens and fit the batch caps. Every row keeps at
    least one token of its own after the prefix (the prefix cache is shared; the suffix is not).
    """
    order = sorted(range(len(sequences)), key=lambda i: tuple(sequences[i]))
    groups: list[tuple[list[int], int]] = []
    current: list[int] = []
    shared = 0
    for i in order:
        if current:
            first = sequences[current[0]]
            candidate = min(shared, common_prefix(first, sequences[i]), len(sequences[i]) - 1)
            rows = len(current) + 1
            width = max(len(sequences[j]) for j in [*current, i]) - candidate
            scored = max(len(sequences[j]) - max(starts[j], candidate + 1) + 1 for j in [*current, i])
            if (
                candidate >= MIN_SHARED_PREFIX
                and rows * width <= MAX_BATCH_TOKENS
                and rows * max(scored, 1) <= MAX_SCORED_POSITIONS
            ):
                current.append(i)
                shared = candidate
                continue
            groups.append((current, shared))
        current, shared = [i], len(sequences[i]) - 1
    if current:
        groups.append((current, shared if len(current) > 1 else 0))
    # a lone sequence gains nothing from a separate prefix pass; merge lone ones into padded batches
    merged: list[tuple[list[int], int]] = []
    lone: list[int] = []
    for rows, prefix in groups:
        if len(rows) == 1 or prefix < MIN_SHARED_PREFIX:
            lone.extend(rows)
        else:
            merged.append((rows, prefix))
    lone.sort(key=lambda i: len(sequences[i]))
    batch: list[int] = []
    for i in lone:
        rows = len(batch) + 1
        width = max(len(sequences[j]) for j in [*batch, i])
        scored = max(len(sequences[j]) - starts[j] + 1 for j in [*batch, i])
        if batch and (rows * width > MAX_BATCH_TOKENS or rows * scored > MAX_SCORED_POSITIONS):
            merged.append((batch, 0))
            batch = []
        batch.append(i)
    if batch:
        merged.append((batch, 0))
    return merged


class Scorer:
    """Computes token logprobs with the local backend's model (no sampling, no KV kept afterwards)."""

    def __init__(self, model: Any, *, forward_lock: threading.Lock, token_text: Callable[[int], str], pad_token_id: int):
        self.model = model
        self.forward_lock = forward_lock
        self.token_text = token_text
        self.pad_token_id = pad_token_id

    def score(
        self, sequences: Sequence[Sequence[int]], starts: Sequence[int], top_logprobs: int = 0, with_next: bool = False
    ) -> list[ScoredTokens]:
        """Logprobs of ``sequences[i][starts[i]:]`` given everything before, for each ``i``, in order;
        ``with_next`` also records the most likely token after each sequence (from the same pass)."""
        for seq, start in zip(sequences, starts):
            if not 1 <= start <= len(seq):
                raise ValueError(f"start {start} is outside 1..{len(seq)}")
        results: list[ScoredTokens | None] = [None] * len(sequences)
        for rows, prefix in plan_groups(sequences, starts):
            seqs = [list(sequences[i]) for i in rows]
            scored = self._score_group(seqs, [starts[i] for i in rows], prefix, top_logprobs, with_next)
            for i, result in zip(rows, scored):
                results[i] = result
        return [r for r in results if r is not None]

    # one group ---------------------------------------------------------------------------------
    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any, keep: Any) -> Any:
        import torch

        with self.forward_lock, torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=cache is not None,
                logits_to_keep=keep,
            )
            return torch.log_softmax(out.logits.float(), dim=-1)

    def _score_group(
        self, seqs: list[list[int]], starts: list[int], prefix: int, top_logprobs: int, with_next: bool = False
    ) -> list[ScoredTokens]:
        import torch
        from transformers import DynamicCache

        out = [ScoredTokens([], []) for _ in seqs]
        # token i is predicted by the logits at position i - 1; collect (row, position, logprobs) pieces
        cache = None
        if prefix:
            first_needed = max(0, min(starts) - 1)
            cache = DynamicCache()
            with torch.inference_mode():
                ids = torch.tensor([seqs[0][:prefix]], dtype=torch.long)
                positions = torch.arange(prefix).unsqueeze(0)
                keep = torch.arange(min(first_needed, prefix - 1), prefix)
            prefix_logprobs = self._forward(ids, torch.ones_like(ids), positions, cache, keep)[0]
            kept_from = int(keep[0])
            for row, (seq, start) in enumerate(zip(seqs, starts)):
                for pos in range(max(start, 1), prefix + 1):  # tokens 1..prefix come from prefix logits
                    self._record(out[row], prefix_logprobs[pos - 1 - kept_from], seq[pos], top_logprobs)
            layers = [(layer.keys, layer.values) for layer in cache.layers]
        suffixes = [seq[prefix:] for seq in seqs]
        width = max(len(s) for s in suffixes)
        batch = len(seqs)
        # logits needed per row: positions max(start, prefix + 1) - 1 .. len - 2, i.e. the row's last ones
        needed = [len(seq) - max(start, prefix + 1) for seq, start in zip(seqs, starts)]
        keep_last = max(needed) + 1  # the very last position predicts nothing, but keeps rows aligned
        if max(needed) <= 0 and not with_next:
            return out
        with torch.inference_mode():
            input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((batch, prefix + width), dtype=torch.long)
            mask[:, :prefix] = 1
            for row, suffix in enumerate(suffixes):
                input_ids[row, width - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
                mask[row, prefix + width - len(suffix) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix:]
            if prefix:
                copies = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in layers]
                cache = DynamicCache(ddp_cache_data=copies)
        logprobs = self._forward(input_ids, mask, positions, cache, min(keep_last, width))
        kept = logprobs.shape[1]
        for row, (seq, n) in enumerate(zip(seqs, needed)):
            # kept column c holds the logits of the row's position len(seq) - kept + c
            for pos in range(len(seq) - n, len(seq)):
                column = pos - 1 - (len(seq) - kept)
                self._record(out[row], logprobs[row, column], seq[pos], top_logprobs)
            if with_next:  # the last kept column is every row's last position (rows are left-padded)
                best = int(logprobs[row, kept - 1].argmax())
                probe = ScoredTokens([], [])
                self._record(probe, logprobs[row, kept - 1], best, top_logprobs)
                out[row].next = probe.logprobs[0]
        return out

    def _record(self, result: ScoredTokens, logprobs: Any, token_id: int, top_logprobs: int) -> None:
        value = float(logprobs[token_id])
        best = int(logprobs.argmax())
        alternatives: dict[str, float] = {}
        if top_logprobs:
            top = logprobs.topk(top_logprobs)
            for v, alt in zip(top.values.tolist(), top.indices.tolist()):
                alternatives.setdefault(self.token_text(alt), v)
        # the greedy test compares ids; a tie with the argmax still counts as greedy (same logprob)
        result.greedy.append(token_id == best or value == float(logprobs[best]))
        result.logprobs.append(
            TokenLogprob(token=self.token_text(token_id), token_id=token_id, logprob=value, top=alternatives)
        )


# the backend's side ------------------------------------------------------------------------------
def _tokens_of(backend: Any, value: str | list[int], what: str, index: int) -> list[int]:
    from ..errors import InvalidInputError

    if isinstance(value, str):
        return backend.tokenize(value) if value else []
    ids = list(value)
    vocab = backend.vocab_size()
    bad = [t for t in ids if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < vocab]
    if bad:
        raise InvalidInputError(
            f"request {index}: {what} has token id {bad[0]!r} outside the vocabulary (0..{vocab - 1})",
            field=f"requests[{index}].{what}",
        )
    return ids


def split_request(backend: Any, request: Any, index: int) -> tuple[list[int], int]:
    """The token sequence of one score request and where its continuation starts.

    Text is tokenised whole and split after the context's own tokens (as evaluation harnesses do), so
    the continuation is scored as the tokens the model sees in the joined text; when tokenising the
    joined text changes the context's tokens, the two parts are tokenised separately instead.
    """
    from ..errors import InvalidInputError

    context = _tokens_of(backend, request.context, "context", index)
    if isinstance(request.context, str) and isinstance(request.continuation, str) and request.continuation:
        whole = backend.tokenize(request.context + request.continuation)
        continuation = whole[len(context) :] if whole[: len(context)] == context else backend.tokenize(request.continuation)
    else:
        continuation = _tokens_of(backend, request.continuation, "continuation", index)
    if not continuation:
        raise InvalidInputError(
            f"request {index}: the continuation is empty; send the text (or token ids) to score",
            field=f"requests[{index}].continuation",
        )
    if not context:  # the first token needs something before it: the start-of-text token, as lm-eval does
        context = [backend.prefix_token_id()]
    return context + continuation, len(context)


def check_length(backend: Any, sequence: Sequence[int], index: int, field: str) -> None:
    """Refuse a sequence longer than the model's context, naming it and the limit."""
    from ..errors import InvalidInputError

    limit = backend._context_length()
    if len(sequence) > limit:
        raise InvalidInputError(
            f"{field} {index} has {len(sequence)} tokens but the model's context is {limit}; shorten it",
            field=f"{field}[{index}]",
        )
