"""Prefill chunk sizes follow the scheduler's two budgets: small chunks while rows are decoding (so
their next token waits for a cheap chunk), large ones when nobody decodes. Counted in model calls and
their shapes, never in seconds."""

from __future__ import annotations

import pytest

from skyplex.interfaces import GenerationParams
from skyplex.testing import wait_for

pytestmark = pytest.mark.slow

LONG_PROMPT = "Numbers: " + ", ".join(str(i) for i in range(1, 160)) + ","


def greedy(n: int, **kw) -> GenerationParams:
    return GenerationParams(max_tokens=n, temperature=0.0, **kw)


def _recording(monkeypatch, scheduler) -> list[tuple[int, int, bool]]:
    """Records (rows, columns, rows were decoding) of every model call the scheduler makes."""
    engine = scheduler.engine
    forward = engine.forward
    calls: list[tuple[int, int, bool]] = []

    def recording(input_ids, *args, **kwargs):
        calls.append((input_ids.shape[0], input_ids.shape[1], scheduler.running() > 0))
        return forward(input_ids, *args, **kwargs)

    monkeypatch.setattr(engine, "forward", recording)
    return calls


def test_chunks_are_small_while_rows_decode(local_backend, scheduler, monkeypatch):
    (reference,) = local_backend.generate([LONG_PROMPT], greedy(3, prefix_reuse=False))
    scheduler.prefill_chunk_tokens, scheduler.busy_prefill_chunk_tokens = 128, 24
    decoding = local_backend.submit(["Count: 1, 2, 3, 4, 5,"], greedy(400))
    (row,) = decoding.requests
    wait_for(lambda: len(row.seq.token_ids) >= 2, "the first request to be decoding")
    calls = _recording(monkeypatch, scheduler)
    long = local_backend.submit([LONG_PROMPT], greedy(3, prefix_reuse=False))
    (out,) = long.result()
    decoding.cancel()
    prompt = len(long.requests[0].seq.prompt_ids)
    chunks = [cols for rows, cols, busy in calls if cols > 1]
    assert all(busy for rows, cols, busy in calls if cols > 1)
    assert sum(chunks) == prompt and max(chunks) == 24  # never more than the busy budget
    decode_steps = [cols for rows, cols, busy in calls if cols == 1]
    assert len(decode_steps) >= len(chunks) - 1  # a decode step between every two chunks
    assert out.text == reference.text  # chunk sizes change nothing it generates


def test_chunks_are_large_when_nothing_decodes(local_backend, scheduler, monkeypatch):
    scheduler.prefill_chunk_tokens, scheduler.busy_prefill_chunk_tokens = 128, 24
    calls = _recording(monkeypatch, scheduler)
    long = local_backend.submit([LONG_PROMPT], greedy(2, prefix_reuse=False))
    long.result()
    prompt = len(long.requests[0].seq.prompt_ids)
    chunks = [cols for rows, cols, busy in calls if not busy]
    assert chunks[0] == 128 and sum(chunks) == prompt


def test_a_busy_budget_of_zero_keeps_the_idle_chunks(local_backend, scheduler):
    scheduler.prefill_chunk_tokens, scheduler.busy_prefill_chunk_tokens = 96, 0
    assert scheduler.chunk_budget() == 96
    scheduler.prefill_chunk_tokens, scheduler.busy_prefill_chunk_tokens = 0, 40
    assert scheduler.chunk_budget() == 0  # nothing decodes: the whole prompt at once
