"""Scoring for the local backend: logprobs of given tokens, in batched forward passes without sampling.

Each sequence asks for the logprobs of its tokens from position ``start`` on (``start >= 1``: a token
is predicted from the ones before it). Sequences are sorted so that those sharing a long token
prefix (the usual case: one question, four answer choices) land in one group. A group's common
prefix is run once; its keys/values are then shared by every row of the group, and its logits
serve every row's tokens inside the prefix. The rest of each row (its own suffix) runs over that
prefix, laid out as in the decode loop. Several groups go through together: one pass holds every
group's prefix (one row per group), the next every group's suffixes (one row per sequence), each
row reading its own group's prefix keys/values::

    prefix pass   group A: [ pad ][ prefix A      ]
                  group B: [ prefix B (longest)   ]
    suffix pass   row A0:  [ pad ][ prefix A      ][ pad pad ][ suffix A0    ]
                  row A1:  [ pad ][ prefix A      ][ suffix A1 (longest)     ]
                  row B0:  [ prefix B (longest)   ][ pad ][ suffix B0        ]

A small model on a CPU pays for every forward pass in reading its weights, whatever the rows, so
two passes for a whole batch of questions beat two per question. Sequences sharing no prefix with
another run in plain padded batches (no prefix pass).

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


@dataclass
class _Group:
    """Sequences scored over one shared prefix (``prefix`` 0: no shared prefix, a plain padded batch)."""

    rows: list[int]  # indices into the caller's sequences
    seqs: list[list[int]]
    starts: list[int]
    prefix: int


def pack_groups(groups: Sequence[_Group]) -> list[list[_Group]]:
    """Groups with a shared prefix packed into passes that stay within the batch caps, in order;
    each group without one is a pass of its own (it has no prefix pass to share)."""
    passes: list[list[_Group]] = []
    current: list[_Group] = []
    for group in groups:
        if not group.prefix:
            if current:  # keep the order (plan_groups puts plain batches last, so nothing is lost)
                passes.append(current)
                current = []
            passes.append([group])
            continue
        candidate = [*current, group]
        prefix_width = max(g.prefix for g in candidate)
        rows = sum(len(g.seqs) for g in candidate)
        suffix_width = max(len(seq) - g.prefix for g in candidate for seq in g.seqs)
        kept = max(len(seq) - max(st, g.prefix + 1) + 1 for g in candidate for seq, st in zip(g.seqs, g.starts))
        fits = (
            rows * (prefix_width + suffix_width) <= MAX_BATCH_TOKENS
            and rows * max(kept, 1) <= MAX_SCORED_POSITIONS
            and len(candidate) * prefix_width <= MAX_SCORED_POSITIONS
        )
        if current and not fits:
            passes.append(current)
            candidate = [group]
        current = candidate
    if current:
        passes.append(current)
    return passes


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
        groups = [
            _Group(rows, [list(sequences[i]) for i in rows], [starts[i] for i in rows], prefix)
            for rows, prefix in plan_groups(sequences, starts)
        ]
        for together in pack_groups(groups):
            scored = self._score_groups(together, top_logprobs, with_next)
            for group, out in zip(together, scored):
                for i, result in zip(group.rows, out):
                    results[i] = result
        return [r for r in results if r is not None]

    # one pass of groups --------------------------------------------------------------------------
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

    def _prefix_pass(
        self, groups: list[_Group], out: list[list[ScoredTokens]], top_logprobs: int
    ) -> tuple[Any, Any, int]:
        """Run every group's shared prefix (one left-padded row per group) and record the logprobs
        of the tokens inside it; returns (keys/values per layer, prefix mask per group, width)."""
        import torch
        from transformers import DynamicCache

        width = max(g.prefix for g in groups)
        with torch.inference_mode():
            ids = torch.full((len(groups), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(groups), width), dtype=torch.long)
            for j, g in enumerate(groups):
                ids[j, width - g.prefix :] = torch.tensor(g.seqs[0][: g.prefix], dtype=torch.long)
                mask[j, width - g.prefix :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # token i is predicted by the logits at position i - 1; keep the columns any row reads
        keep = max(g.prefix - min(max(0, min(g.starts) - 1), g.prefix - 1) for g in groups)
        cache = DynamicCache()
        logprobs = self._forward(ids, mask, positions, cache, keep)
        for j, g in enumerate(groups):
            # kept column c holds padded position width - keep + c; the group's token i sits at width - prefix + i
            for row, (seq, start) in enumerate(zip(g.seqs, g.starts)):
                for pos in range(max(start, 1), g.prefix + 1):
                    column = width - g.prefix + pos - 1 - (width - keep)
                    self._record(out[j][row], logprobs[j, column], seq[pos], top_logprobs)
        return [(layer.keys, layer.values) for layer in cache.layers], mask, width

    def _score_groups(self, groups: list[_Group], top_logprobs: int, with_next: bool = False) -> list[list[ScoredTokens]]:
        import torch
        from transformers import DynamicCache

        out = [[ScoredTokens([], []) for _ in g.seqs] for g in groups]
        # pack_groups makes a pass of groups that all have a shared prefix, or of one plain batch
        shared = all(g.prefix for g in groups)
        layers, prefix_mask, prefix_width = None, None, 0
        if shared:
            layers, prefix_mask, prefix_width = self._prefix_pass(groups, out, top_logprobs)
        rows = [(j, seq, start) for j, g in enumerate(groups) for seq, start in zip(g.seqs, g.starts)]
        suffixes = [seq[groups[j].prefix :] for j, seq, _ in rows]
        width = max(len(s) for s in suffixes)
        # logits needed per row: positions max(start, prefix + 1) - 1 .. len - 2, i.e. the row's last ones
        needed = [len(seq) - max(start, groups[j].prefix + 1) for j, seq, start in rows]
        if max(needed) <= 0 and not with_next:
            return out
        with torch.inference_mode():
            input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(rows), prefix_width + width), dtype=torch.long)
            for r, suffix in enumerate(suffixes):
                input_ids[r, width - len(suffix) :] = torch.tensor(suffix, dtype=torch.long)
                mask[r, prefix_width + width - len(suffix) :] = 1
            cache = None
            if layers is not None:
                if len(groups) == 1:  # every row reads the same prefix: a view, no copy
                    copies = [(k.expand(len(rows), -1, -1, -1), v.expand(len(rows), -1, -1, -1)) for k, v in layers]
                    mask[:, :prefix_width] = prefix_mask[0]
                else:  # each row reads its own group's prefix row
                    pick = torch.tensor([j for j, _, _ in rows], dtype=torch.long)
                    mask[:, :prefix_width] = prefix_mask[pick]
                    copies = [(k[pick], v[pick]) for k, v in layers]
                cache = DynamicCache(ddp_cache_data=copies)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_width:]
        keep_last = max(needed) + 1  # the very last position predicts nothing, but keeps rows aligned
        logprobs = self._forward(input_ids, mask, positions, cache, min(keep_last, width))
        kept = logprobs.shape[1]
        results = [result for group_out in out for result in group_out]  # the order of ``rows``
        for r, ((_, seq, _), n) in enumerate(zip(rows, needed)):
            result = results[r]
            # kept column c holds the logits of the row's position len(seq) - kept + c
            for pos in range(len(seq) - n, len(seq)):
                column = pos - 1 - (len(seq) - kept)
                self._record(result, logprobs[r, column], seq[pos], top_logprobs)
            if with_next:  # the last kept column is every row's last position (rows are left-padded)
                best = int(logprobs[r, kept - 1].argmax())
                probe = ScoredTokens([], [])
                self._record(probe, logprobs[r, kept - 1], best, top_logprobs)
                result.next = probe.logprobs[0]
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
