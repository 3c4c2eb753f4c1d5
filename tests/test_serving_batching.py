"""The local backend's scheduler never changes what a request generates: joining a running batch at any
step, beside any other requests, with any batch size and any prefill chunking, a greedy request gets
the tokens it gets alone. And a long prompt is prefilled in chunks with decode steps of the running
rows between them, so it does not stall them. Delays are counted in scheduler steps, never seconds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex.interfaces import ChatMessage, GenerationParams
from skyplex.models._local_engine import GenerationCancelled
from skyplex.testing import wait_for

pytestmark = pytest.mark.slow

SYSTEM = (
    "You are a careful assistant. Answer briefly and precisely, using only facts you are sure of. "
    "Never invent sources, and say so when you do not know."
)
PROMPTS = [
    "Count: 1, 2, 3, 4, 5,",
    "The capital of France is",
    "def add(a, b):",
    [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content="What is 2 + 2?")],
    [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content="Name a colour.")],
    "A list of fruits: apple, banana, cherry, " * 6,
]
#: a prompt of several hundred tokens (its greedy continuation keeps counting)
LONG_PROMPT = "Numbers: " + ", ".join(str(i) for i in range(1, 160)) + ","


def greedy(n: int, **kw) -> GenerationParams:
    return GenerationParams(max_tokens=n, temperature=0.0, **kw)


_alone: dict[tuple[int, int], Any] = {}
#: logprob gap under which two tokens are a tie up to float rounding (batch shapes change the rounding)
NEAR_TIE = 1e-3


def alone(backend, index: int, n: int) -> Any:
    """Prompt ``index`` generated with nothing else in the batch (the reference), with its logprobs."""
    key = (index, n)
    if key not in _alone:
        sched = backend._scheduler_loaded()
        wait_for(lambda: sched.running() == 0 and sched.waiting() == 0, "an idle scheduler")
        pending = backend.submit([PROMPTS[index]], greedy(n, prefix_reuse=False, logprobs=True, top_logprobs=5))
        pending.result()
        _alone[key] = pending.requests[0].seq
    return _alone[key]


def same_greedy_run(backend, got: list[int], reference: Any) -> None:
    """``got`` is the reference's tokens, or leaves them only where the reference had a near tie (float
    rounding differs between batch shapes; past such a point the two runs continue differently)."""
    for i, (token, want) in enumerate(zip(got, reference.token_ids)):
        if token != want:
            entry = reference.logprobs[i]
            rival = entry.top.get(backend._token_text(token))
            assert rival is not None and entry.logprob - rival < NEAR_TIE, (i, got, reference.token_ids)
            return
    assert len(got) == len(reference.token_ids)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(
        st.tuples(st.integers(0, len(PROMPTS) - 1), st.integers(1, 5), st.integers(0, 3)), min_size=2, max_size=3
    ),
    batch=st.integers(1, 3),
    chunk=st.sampled_from([0, 7, 256]),
    busy=st.sampled_from([0, 1, 5, 32]),
)
def test_a_request_generates_what_it_generates_alone(local_backend, scheduler, requests, batch, chunk, busy):
    expected = [alone(local_backend, i, n) for i, n, _ in requests]
    local_backend.max_batch_size = batch
    scheduler.prefill_chunk_tokens = chunk
    scheduler.busy_prefill_chunk_tokens = busy  # chunk size while rows decode
    pendings = []
    for i, n, delay in requests:  # each joins ``delay`` decode steps after the one before
        target = scheduler.steps + delay
        wait_for(lambda: scheduler.steps >= target or scheduler.running() == 0, "the batch to move on")
        pendings.append(local_backend.submit([PROMPTS[i]], greedy(n)))
    for pending, want in zip(pendings, expected):
        pending.result()
        same_greedy_run(local_backend, pending.requests[0].seq.token_ids, want)


def test_long_prompt_is_prefilled_in_chunks_between_decode_steps(local_backend, scheduler):
    (reference,) = local_backend.generate([LONG_PROMPT], greedy(4, prefix_reuse=False))
    scheduler.prefill_chunk_tokens = 64
    running = local_backend.submit([PROMPTS[0]], greedy(120))
    (row,) = running.requests
    wait_for(lambda: len(row.seq.token_ids) >= 2, "the first request to be decoding")
    steps, chunks, tokens = scheduler.steps, scheduler.prefill_chunks, len(row.seq.token_ids)
    long = local_backend.submit([LONG_PROMPT], greedy(4, prefix_reuse=False))
    (out,) = long.result()
    (long_row,) = long.requests
    used = scheduler.prefill_chunks - chunks
    prompt_tokens = len(long_row.seq.prompt_ids)
    assert prompt_tokens > 4 * 64 and used >= prompt_tokens // 64
    # a decode step of the running request ran between every two chunks of the long prompt
    assert long_row.joined_step - steps >= used - 1
    assert len(row.seq.token_ids) - tokens >= used - 1 or row.done.is_set()
    assert out.text == reference.text  # chunking changed nothing it generates
    running.result()


def test_cancelling_during_prefill_stops_before_the_last_chunk(local_backend, scheduler, monkeypatch):
    scheduler.prefill_chunk_tokens = 16
    engine = scheduler.engine
    forward = engine.forward
    calls = []

    def forward_then_cancel(*args, **kwargs):
        calls.append(args[0].shape)
        if len(calls) == 2:  # the client goes away during the second chunk
            for r in scheduler._prefilling[0].requests:
                scheduler.cancel(r)
        return forward(*args, **kwargs)

    monkeypatch.setattr(engine, "forward", forward_then_cancel)
    pending = local_backend.submit([LONG_PROMPT], greedy(50, prefix_reuse=False))
    with pytest.raises(GenerationCancelled):
        pending.result()
    monkeypatch.setattr(engine, "forward", forward)
    (request,) = pending.requests
    total_chunks = -(-len(request.seq.prompt_ids) // 16)
    assert len(calls) == 2 < total_chunks and request.seq.token_ids == []
    wait_for(lambda: scheduler.running() == 0, "the scheduler to drop it")
    assert local_backend.generate([PROMPTS[1]], greedy(3))[0].usage.completion_tokens == 3  # still serving


def test_short_prompt_arriving_mid_prefill_is_not_queued_behind_it(local_backend, scheduler, monkeypatch):
    scheduler.prefill_chunk_tokens = 32
    engine = scheduler.engine
    forward = engine.forward
    calls = []
    box: dict = {}

    def forward_and_arrive(*args, **kwargs):
        calls.append(args[0].shape)
        if len(calls) == 2:  # a short request arrives while the long prompt is being prefilled
            box["short"] = local_backend.submit([PROMPTS[1]], greedy(3))
        return forward(*args, **kwargs)

    monkeypatch.setattr(engine, "forward", forward_and_arrive)
    long = local_backend.submit([LONG_PROMPT], greedy(2, prefix_reuse=False))
    long.result()
    monkeypatch.setattr(engine, "forward", forward)
    box["short"].result()
    (long_row,) = long.requests
    (short_row,) = box["short"].requests
    # the short one was prefilled, decoded and finished while the long prompt was still being prefilled
    assert short_row.finished_step <= long_row.joined_step
    same_greedy_run(local_backend, short_row.seq.token_ids, alone(local_backend, 1, 3))
