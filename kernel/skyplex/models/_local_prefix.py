"""The local backend's prefix cache: keys/values of recent prompts, reused by longest common prefix.

A new request reuses the longest cached prefix of its prompt, so repeated system prompts and
few-shot headers are prefilled once across requests (:mod:`._local_engine` copies the reused
keys/values into each row). Entries are evicted least recently used first.

torch is never imported here at module level: importing skyplex stays cheap.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._local_decode import MIN_SHARED_PREFIX

#: default total size of the prefix cache (SmolLM2-135M: about 46 KB of keys/values per token)
DEFAULT_PREFIX_CACHE_TOKENS = 8192


@dataclass
class PrefixEntry:
    """Keys/values of one token sequence, per layer ``(keys, values)`` of shape [1, kv_heads, len, head_dim]."""

    tokens: tuple[int, ...]
    layers: list[tuple[Any, Any]]
    last_used: int = 0


class PrefixCache:
    """Keys/values of recent prompts, found again by longest common token prefix (LRU eviction)."""

    def __init__(self, capacity_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS) -> None:
        self.capacity_tokens = capacity_tokens
        self._entries: list[PrefixEntry] = []
        self._clock = itertools.count(1)
        self._lock = threading.Lock()
        self.lookups = 0
        self.hits = 0
        self.hit_tokens = 0

    @property
    def tokens(self) -> int:
        """Tokens held now."""
        return sum(len(e.tokens) for e in self._entries)

    def peek(self, ids: Sequence[int]) -> tuple[int, PrefixEntry | None]:
        """Longest reusable prefix of ``ids`` (leaving at least one token to prefill), without counting it."""
        best, best_entry = 0, None
        key = tuple(ids)
        limit = len(key) - 1
        with self._lock:
            for entry in self._entries:
                if not entry.tokens or entry.tokens[0] != key[0]:
                    continue
                n = min(len(os.path.commonprefix([entry.tokens, key])), limit)
                if n > best:
                    best, best_entry = n, entry
        if best < MIN_SHARED_PREFIX:
            return 0, None
        return best, best_entry

    def lookup(self, ids: Sequence[int]) -> tuple[int, PrefixEntry | None]:
        """Like :meth:`peek`, and counts the hit and marks the entry as recently used."""
        n, entry = self.peek(ids)
        with self._lock:
            self.lookups += 1
            if entry is not None:
                entry.last_used = next(self._clock)
                self.hits += 1
                self.hit_tokens += n
        return n, entry

    def add(self, ids: Sequence[int], layers: Callable[[], list[tuple[Any, Any]]]) -> None:
        """Keep the keys/values of ``ids`` (``layers`` builds them, called only when they are kept)."""
        key = tuple(ids)
        if len(key) < MIN_SHARED_PREFIX or len(key) > self.capacity_tokens:
            return
        with self._lock:
            for entry in self._entries:
                if entry.tokens[: len(key)] == key:  # already covered by a longer or equal entry
                    entry.last_used = next(self._clock)
                    return
        built = layers()
        with self._lock:
            # entries that are a prefix of this one are now redundant
            self._entries = [e for e in self._entries if key[: len(e.tokens)] != e.tokens]
            self._entries.append(PrefixEntry(key, built, next(self._clock)))
            while sum(len(e.tokens) for e in self._entries) > self.capacity_tokens:
                self._entries.remove(min(self._entries, key=lambda e: e.last_used))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def prefix_rows(hits: list[tuple[int, Any]], width: int) -> list[tuple[Any, Any]]:
    """Per layer, the rows' cached prefixes right-aligned in ``width`` columns (zeros before)."""
    template = next(entry for n, entry in hits if entry is not None)
    layers = []
    for layer, (k0, v0) in enumerate(template.layers):
        keys = k0.new_zeros((len(hits), k0.shape[1], width, k0.shape[3]))
        values = v0.new_zeros((len(hits), v0.shape[1], width, v0.shape[3]))
        for row, (n, entry) in enumerate(hits):
            if n:
                k, v = entry.layers[layer]
                keys[row, :, width - n :] = k[0, :, :n]
                values[row, :, width - n :] = v[0, :, :n]
        layers.append((keys, values))
    return layers


def row_layers(cache: Any, mask: Any, row: int) -> list[tuple[Any, Any]]:
    """One row's keys/values without its padding columns, per layer [1, kv_heads, tokens, head_dim]."""
    real = mask[row].bool()
    return [(layer.keys[row : row + 1, :, real], layer.values[row : row + 1, :, real]) for layer in cache.layers]
