"""Token-based chunking: a document cut into pieces of at most N tokens of a model's tokenizer, at the
largest boundary that fits (paragraph, then line, then word), so a prompt of k chunks has a known size.

Nothing is dropped: the pieces hold every non-blank character of the document, in order.
"""

from __future__ import annotations

from collections.abc import Callable

from skyplex.errors import InvalidInputError

#: below this a piece cannot hold a signature line or a sentence worth asking about
MIN_CHUNK_TOKENS = 8
TokenCounter = Callable[[str], int]


def count_words(text: str) -> int:
    """A tokenizer-free stand-in: blank-separated words."""
    return len(text.split())


def _hard_cut(word: str, max_tokens: int, count: TokenCounter) -> list[str]:
    # a "word" longer than the budget (a URL, a long literal): cut it by characters, each piece the
    # longest prefix that fits (binary search; at least one character so the loop always advances)
    pieces = []
    rest = word
    while rest:
        lo, hi = 1, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(rest[:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(rest[:lo])
        rest = rest[lo:]
    return pieces


def _pack(units: list[str], sep: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """Greedily join ``units`` with ``sep`` into pieces within the budget; a unit over it is split finer."""
    finer = {"\n\n": "\n", "\n": " "}
    pieces: list[str] = []
    current = ""
    for unit in units:
        if not unit.strip():
            continue
        candidate = f"{current}{sep}{unit}" if current else unit
        if count(candidate) <= max_tokens:
            current = candidate
            continue
        if current:
            pieces.append(current)
            current = ""
        if count(unit) <= max_tokens:
            current = unit
        elif sep in finer:
            pieces += _pack(unit.split(finer[sep]), finer[sep], max_tokens, count)
        else:
            pieces += _hard_cut(unit, max_tokens, count)
    if current:
        pieces.append(current)
    return pieces


def split_by_tokens(text: str, max_tokens: int, count: TokenCounter = count_words) -> list[str]:
    """``text`` in pieces of at most ``max_tokens`` (as ``count`` measures), cut at paragraph, line or word
    boundaries, each stripped and none empty."""
    if max_tokens < MIN_CHUNK_TOKENS:
        raise InvalidInputError(f"chunk_tokens={max_tokens} is too small; use {MIN_CHUNK_TOKENS} or more",
                                field="chunk_tokens")
    pieces = [p.strip() for p in _pack(text.split("\n\n"), "\n\n", max_tokens, count)]
    return [p for p in pieces if p]
