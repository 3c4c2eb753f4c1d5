"""Continuous batching in the local backend: requests join and leave one running batch between decode
steps, greedy outputs stay those of unbatched generation, a short request is not held behind a long
one, the queue is fair, cancelled requests (clients that went away) free their rows, and prompt
keys/values are reused across requests. Delays are asserted in decode steps, never in seconds."""

from __future__ import annotations


import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.interfaces import ChatMessage, GenerationParams
from skyplex.models._local_decode import SequenceState
from skyplex.models._local_engine import BatchScheduler, GenerationCancelled, PrefixCache, Request
from skyplex.testing import wait_for

pytestmark = pytest.mark.slow

#: greedy continuation of this prompt keeps counting: it runs to max_tokens (checked below)
LONG = "Count: 1, 2, 3, 4, 5,"
SHORTS = ["The capital of France is", "def add(a, b):", "Red, green and"]
SYSTEM = (
    "You are a careful assistant. Answer briefly and precisely, using only facts you are sure of. "
    "Never invent sources, and say so when you do not know."
)


def greedy(n: int, **kw) -> GenerationParams:
    return GenerationParams(max_tokens=n, temperature=0.0, **kw)


@pytest.fixture(scope="module")
def isolated(local_backend):
    """Each prompt generated alone (nothing else in the batch): the reference outputs."""
    out = {}
    for prompt, n in [(LONG, 40), *[(p, 6) for p in SHORTS]]:
        (c,) = local_backend.generate([prompt], greedy(n))
        out[prompt] = c
    assert out[LONG].finish_reason == "length" and out[LONG].usage.completion_tokens == 40
    return out


def scheduler_of(backend) -> BatchScheduler:
    return backend._scheduler_loaded()


def test_requests_joining_mid_batch_decode_exactly_as_alone(local_backend, isolated):
    long = local_backend.submit([LONG], greedy(40))
    (row,) = long.requests
    wait_for(lambda: len(row.seq.token_ids) >= 5, "the long request to be decoding")
    shorts = [local_backend.submit([p], greedy(6)) for p in SHORTS]  # join while it runs
    outs = [s.result()[0] for s in shorts]
    assert [o.text for o in outs] == [isolated[p].text for p in SHORTS]
    (long_out,) = long.result()
    assert long_out.text == isolated[LONG].text
    assert all(r.requests[0].joined_step > row.joined_step for r in shorts)  # they really joined later


def test_short_request_is_not_held_behind_a_long_one(local_backend, isolated):
    scheduler = scheduler_of(local_backend)
    long = local_backend.submit([LONG], greedy(40))
    (long_row,) = long.requests
    wait_for(lambda: len(long_row.seq.token_ids) >= 3, "the long request to be decoding")
    short = local_backend.submit([SHORTS[0]], greedy(6))
    (short_row,) = short.requests
    (out,) = short.result()
    assert out.text == isolated[SHORTS[0]].text
    # it finished while the long one still ran, after no more decode steps than its own tokens need
    assert not long_row.done.is_set()
    assert short_row.finished_step - short_row.joined_step <= out.usage.completion_tokens
    assert short_row.joined_step - long_row.joined_step < 40 and scheduler.peak_batch >= 2
    long.result()
    assert long_row.finished_step > short_row.finished_step


def test_full_batch_admits_the_short_request_first(local_backend, monkeypatch):
    monkeypatch.setattr(local_backend, "max_batch_size", 1)
    first = local_backend.submit([LONG], greedy(12))
    wait_for(lambda: first.requests[0].joined_step is not None, "the first request to start")
    long2 = local_backend.submit([LONG + " 6,"], greedy(30))
    short = local_backend.submit([SHORTS[1]], greedy(3))  # queued after long2
    short.result()
    long2.result()
    first.result()
    assert short.requests[0].joined_step < long2.requests[0].joined_step
    assert short.requests[0].finished_step <= long2.requests[0].joined_step


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrivals=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 50)), min_size=1, max_size=25),
    batch=st.integers(1, 3),
)
def test_fair_queue_never_starves_a_long_request(arrivals, batch):
    # the scheduler's admission alone (no model): rows free up when a request's tokens are done; a
    # stream of short arrivals may overtake a long request, but only for as many steps as it asks for
    sched = BatchScheduler(None, max_batch_size=lambda: batch)  # type: ignore[arg-type]
    remaining: dict[int, int] = {}
    admitted_at: dict[int, int] = {}
    arrived_at: dict[int, int] = {}
    requests: list[Request] = []
    pending = list(arrivals)
    step = 0
    while (pending or sched._waiting or sched._running) and step < 5000:
        if pending:
            burst, tokens = pending.pop(0)
            for _ in range(burst or 1):
                r = Request(SequenceState(index=0, prompt_ids=[1, 2, 3], max_new_tokens=tokens))
                arrived_at[id(r)] = step
                requests.append(r)
                sched._waiting.append(r)
        for r in sched._admit():
            admitted_at[id(r)] = step
            remaining[id(r)] = r.seq.max_new_tokens
            sched._running.append(r)
        for r in list(sched._running):
            remaining[id(r)] -= 1
            if remaining[id(r)] == 0:
                sched._running.remove(r)
        step += 1
    assert len(admitted_at) == len(requests)  # everyone got a row
    most = max(r.seq.max_new_tokens for r in requests)
    for r in requests:
        # waited at most: its own size (aging) plus what was already running or queued ahead
        assert admitted_at[id(r)] - arrived_at[id(r)] <= r.seq.max_new_tokens + (len(requests) // batch + 1) * most


def test_cancelled_request_frees_its_row_and_leaves_others_unchanged(local_backend, isolated):
    scheduler = scheduler_of(local_backend)
    doomed = local_backend.submit([LONG + " 6, 7,"], greedy(300))
    other = local_backend.submit([LONG], greedy(40))
    (row,) = doomed.requests
    wait_for(lambda: len(row.seq.token_ids) >= 3, "the doomed request to be decoding")
    doomed.cancel()
    with pytest.raises(GenerationCancelled):
        doomed.result()
    assert len(row.seq.token_ids) < 300 and row.finished_step is not None
    assert other.result()[0].text == isolated[LONG].text
    wait_for(lambda: scheduler.running() == 0, "the batch to drain")


def test_closing_a_stream_cancels_its_generation(local_backend):
    stream = local_backend.stream(LONG + " 6,", greedy(300))
    first = next(stream)
    assert first
    stream.close()
    request = stream._request
    wait_for(request.done.is_set, "the closed stream's request to end")
    assert request.cancelled and len(request.seq.token_ids) < 300
    assert stream.completion() is None
    assert list(stream) == []  # nothing more comes after a cancel


def test_prompt_keys_values_are_reused_across_requests(local_backend):
    convs = [[ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=q)]
             for q in ("What is 2 + 2?", "Name a colour.")]
    plain = [local_backend.generate([c], greedy(6, prefix_reuse=False))[0] for c in convs]
    assert all(c.usage.cached_prompt_tokens == 0 for c in plain)
    cache = scheduler_of(local_backend).prefix_cache
    hits = cache.hits
    first = local_backend.generate([convs[0]], greedy(6))[0]
    second = local_backend.generate([convs[1]], greedy(6))[0]  # a later request: shares the system turn
    assert [first.text, second.text] == [p.text for p in plain]
    system_tokens = local_backend.count_tokens(SYSTEM)
    assert second.usage.cached_prompt_tokens >= system_tokens
    assert cache.hits > hits
    again = local_backend.generate([convs[1]], greedy(6))[0]  # a repeat reuses all but its last token
    assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens - 1 and again.text == second.text


def test_prefix_cache_keeps_to_its_capacity():
    import torch

    cache = PrefixCache(capacity_tokens=40)

    def layers(n):
        return lambda: [(torch.zeros(1, 1, n, 2), torch.zeros(1, 1, n, 2))]

    cache.add(list(range(20)), layers(20))
    cache.add(list(range(100, 125)), layers(25))  # over capacity together: the older entry goes
    assert cache.tokens == 25
    assert cache.peek(list(range(20)) + [7])[0] == 0
    cache.add(list(range(100, 130)), layers(30))  # extends an entry: replaces it
    assert cache.tokens == 30 and cache.lookup(list(range(100, 140)))[0] == 30
    assert cache.peek(list(range(100, 110)))[0] == 0  # too short to be worth reusing (MIN_SHARED_PREFIX)


# --- through the gateway: a client that goes away stops its generation ---------------------------
@pytest.fixture(scope="module")
def gateway(test_data_dir):
    from skyplex.gateway import background_server, create_app

    kernel = Kernel(settings=Settings(data_dir=test_data_dir, default_model="local"), pm=make_plugin_manager(entrypoints=False))
    backend = kernel.models.get("local")
    with background_server(create_app(kernel, api_key=None, auth=False)) as url:
        yield url, backend
    kernel.close()


def test_streaming_client_that_disconnects_stops_generation(gateway):
    url, backend = gateway
    body = {"model": "local", "prompt": LONG, "max_tokens": 300, "temperature": 0, "stream": True}
    with httpx.Client(timeout=600) as client:
        with client.stream("POST", f"{url}/v1/completions", json=body) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: ") and '"text":"' in line and '"text":""' not in line:
                    break  # one real piece arrived: now hang up
    scheduler = backend._scheduler
    wait_for(lambda: scheduler.running() == 0 and scheduler.waiting() == 0, "the abandoned stream to stop")
    assert scheduler.steps < 300


def test_waiting_client_that_disconnects_stops_generation(gateway):
    url, backend = gateway
    body = {"model": "local", "prompt": LONG, "max_tokens": 300, "temperature": 0}
    steps_before = backend._scheduler.steps if backend._scheduler else 0
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/v1/completions", json=body, timeout=httpx.Timeout(600, read=3.0))
    scheduler = backend._scheduler
    wait_for(lambda: scheduler.running() == 0 and scheduler.waiting() == 0, "the abandoned request to stop")
    assert scheduler.steps - steps_before < 300
    # and the gateway still answers the next client
    r = httpx.post(f"{url}/v1/completions", json={**body, "max_tokens": 3}, timeout=600)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3
