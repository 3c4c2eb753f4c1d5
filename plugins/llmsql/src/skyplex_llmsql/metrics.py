"""Prefix hit metrics: how much of each prompt a serving engine could take from its prefix cache.

Three measures, each comparing every prompt with the one sent just before it (what a prefix cache
holding the last request would give; an engine with a larger cache can only do better):

- **quadratic proxy** (the paper's objective): a row scores ``len(cell)**2`` for each leading cell
  equal to the previous row's cell in the same position; the square stands for attention cost, which
  grows with the square of the prefix length. Reported as a score and as a share of the maximum.
- **character level**: shared leading characters / all characters.
- **token level**: shared leading tokens / all tokens, with a real tokenizer (what vLLM's prefix
  cache sees, up to its block granularity).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .table import EncodedTable


def proxy_hits(table: EncodedTable, row_order: Sequence[int], field_orders: np.ndarray) -> tuple[int, int]:
    """(score, maximum) of the quadratic proxy for rows in ``row_order`` with per-row ``field_orders``.

    The maximum is every cell of every row but the first counted, i.e. all rows identical.
    """
    order = np.asarray(row_order, dtype=np.int64)
    if order.size == 0 or table.n_fields == 0:
        return 0, 0
    keys = np.take_along_axis(table.global_ids, np.asarray(field_orders, dtype=np.int64), axis=1)[order]
    squares = table.cell_lengths[keys] ** 2
    total = int(squares[1:].sum())
    if order.size == 1:
        return 0, total
    equal = keys[1:] == keys[:-1]
    leading = np.cumprod(equal, axis=1).astype(bool)  # a cell counts only while all before it matched
    return int(squares[1:][leading].sum()), total


def common_prefix_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the longest common prefix of two sequences (strings or token lists)."""
    if isinstance(a, str) and isinstance(b, str):
        return len(os.path.commonprefix([a, b]))  # C-speed for strings
    n = min(len(a), len(b))
    if n == 0:
        return 0
    x = np.asarray(a[:n])
    y = np.asarray(b[:n])
    diff = np.flatnonzero(x != y)
    return int(diff[0]) if diff.size else n


def sequence_hit_rate(sequences: Sequence[Sequence[Any]]) -> tuple[int, int]:
    """(shared leading items with the previous sequence, all items), over consecutive sequences."""
    total = sum(len(s) for s in sequences)
    hits = sum(common_prefix_length(prev, cur) for prev, cur in zip(sequences, sequences[1:]))
    return hits, total


def character_hit_rate(prompts: Sequence[str]) -> float:
    """Share of characters each prompt shares as a leading prefix with the prompt before it."""
    hits, total = sequence_hit_rate(prompts)
    return hits / total if total else 0.0


Tokenize = Callable[[list[str]], list[list[int]]]


def token_hit_rate(prompts: Sequence[str], tokenize: Tokenize) -> float:
    """Share of tokens each prompt shares as a leading prefix with the prompt before it.

    ``tokenize`` turns a list of texts into token id lists (see :func:`tokenizer_function`).
    """
    if not prompts:
        return 0.0
    hits, total = sequence_hit_rate(tokenize(list(prompts)))
    return hits / total if total else 0.0


def tokenizer_function(source: Any) -> Tokenize:
    """A batch tokenizer from a Hugging Face tokenizer, a model backend, or a callable.

    For the kernel's ``local`` backend this uses SmolLM2's own tokenizer (loading the tokenizer
    files only, never the weights), so the rate is what that model's prefix reuse sees.
    """
    if callable(source) and not hasattr(source, "encode") and not hasattr(source, "generate"):
        return source
    tokenizer = source
    loader = getattr(source, "_tokenizer_loaded", None)  # the local backend keeps its tokenizer private
    if loader is not None:
        tokenizer = loader()
    if hasattr(tokenizer, "__call__") and hasattr(tokenizer, "encode"):
        def tokenize(texts: list[str]) -> list[list[int]]:
            return list(tokenizer(texts, add_special_tokens=False)["input_ids"])

        return tokenize
    raise TypeError(
        f"cannot tokenize with {type(source).__name__}: pass a Hugging Face tokenizer, the local model "
        "backend, or a function from a list of texts to lists of token ids"
    )
