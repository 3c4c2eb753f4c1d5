"""Shared fixtures for the RAFT tests: generated API-doc corpora (tests import in importlib mode)."""

from __future__ import annotations

import pytest
from skyplex_raft.documents import Chunk, chunk_id

WORDS = ["index", "buffer", "encoded", "parsed", "window", "token", "header", "offset", "mapping", "stream",
         "digest", "cursor", "record", "frame", "payload", "schema", "column", "vector", "prefix", "suffix"]


def api_corpus(n: int, seed: int = 0) -> list[Chunk]:
    """``n`` API-doc chunks shaped like the real ones (``mod.fn(params)`` then a docstring with a Return
    sentence), with words shared across chunks so BM25 has near misses to rank."""
    import random

    rng = random.Random(seed)
    chunks = []
    for i in range(n):
        name = f"pkg.{rng.choice(WORDS)}_{i}"
        params = ", ".join(f"{rng.choice(WORDS)}{j}" for j in range(rng.randint(1, 3)))
        what = " ".join(rng.sample(WORDS, 3))
        text = (f"{name}({params})\n\nCompute the {rng.choice(WORDS)} of a {rng.choice(WORDS)}.\n\n"
                f"Return the {what} for item {i}.")
        chunks.append(Chunk(id=chunk_id("pkg", text), source="pkg", title=name, text=text, kind="api"))
    return chunks


@pytest.fixture(scope="session")
def make_corpus():
    """The :func:`api_corpus` factory."""
    return api_corpus
