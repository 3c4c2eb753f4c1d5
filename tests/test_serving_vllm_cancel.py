"""A request to the vLLM backend is aborted on the server when its caller cancels it, abandons its stream,
or when the gateway's HTTP client goes away: the server stops generating for nobody. Against the real vLLM
server the tests start once per session; progress is read from its Prometheus counters, never clocks.

Each test starts on an idle server (nothing running or waiting), so the tokens generated while it waits
are its own request's; it ends when the server is idle again. A LONG request that was not aborted ends
by its length, which adds LONG tokens to the server's finished-request token count: that count, and the
generated-token count, stay below LONG only if the request was aborted.
"""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlparse

import httpx
import pytest

from skyplex.interfaces import ChatMessage, GenerationParams, TokenPrompt
from skyplex.models import vllm_metrics
from skyplex.models.vllm_requests import RequestCancelled
from skyplex.testing import wait_for

pytestmark = pytest.mark.slow

#: greedy SmolLM2 keeps counting far past any limit used here
COUNTING = "Count: 1, 2, 3, 4, 5, 6,"
LONG = 1500


def counters(backend) -> dict[str, float]:
    """From the server's /metrics: tokens generated so far, tokens of requests that finished (aborted
    ones are not counted there), and requests running or waiting now."""
    text = vllm_metrics.fetch_metrics_text(backend.base_url)
    names = {
        "vllm:generation_tokens_total": "generated",
        "vllm:request_generation_tokens_sum": "finished_tokens",
        "vllm:num_requests_running": "running",
        "vllm:num_requests_waiting": "waiting",
    }
    out = dict.fromkeys(names.values(), 0.0)
    for sample in vllm_metrics.parse_prometheus(text):
        if sample.name in names:
            out[names[sample.name]] += sample.value
    return out


def idle(backend) -> dict[str, float]:
    """Wait until the server has nothing running or waiting; its counters then."""
    now: dict[str, float] = {}

    def quiet() -> bool:
        now.update(counters(backend))
        return now["running"] == 0 and now["waiting"] == 0

    wait_for(quiet, "the vLLM server to be idle", interval_s=0.1)
    return now


def generating(backend, before: dict[str, float]) -> None:
    wait_for(lambda: counters(backend)["generated"] > before["generated"] + 2, "the server to be generating", interval_s=0.1)


def assert_aborted(backend, before: dict[str, float], extra_finished: int = 0) -> None:
    """After the server went idle: the LONG request did not run to its length."""
    after = idle(backend)
    assert after["finished_tokens"] - before["finished_tokens"] == extra_finished, (before, after)
    assert after["generated"] - before["generated"] < LONG + extra_finished, (before, after)


def test_submit_gives_what_generate_gives(skyplex_vllm_backend):
    params = GenerationParams(max_tokens=6, temperature=0.0, logprobs=True, top_logprobs=2)
    chat = [ChatMessage(role="user", content="What is the capital of France?")]
    for prompt in ("1, 2, 3,", chat, TokenPrompt(token_ids=[16, 28, 223, 34, 28])):
        (want,) = skyplex_vllm_backend.generate([prompt], params)
        (got,) = skyplex_vllm_backend.submit([prompt], params).result()
        assert got == want  # text, finish reason, usage and every logprob (token, id, value, top) alike


def test_cancelled_request_is_aborted_on_the_server(skyplex_vllm_backend):
    backend = skyplex_vllm_backend
    before = idle(backend)
    pending = backend.submit([COUNTING], GenerationParams(max_tokens=LONG, temperature=0.0))
    generating(backend, before)
    pending.cancel()
    with pytest.raises(RequestCancelled):
        pending.result()
    assert_aborted(backend, before)
    assert backend.generate(["1, 2,"], GenerationParams(max_tokens=2))[0].usage.completion_tokens == 2


def test_submit_from_a_coroutine_runs_on_its_loop_and_cancels(skyplex_vllm_backend):
    backend = skyplex_vllm_backend
    before = idle(backend)

    async def main() -> None:
        pending = backend.submit([COUNTING], GenerationParams(max_tokens=LONG, temperature=0.0))
        assert pending.loop is asyncio.get_running_loop()  # no thread hand-off: the gateway's case
        while counters(backend)["generated"] <= before["generated"] + 2:
            await asyncio.sleep(0.1)
        pending.cancel()
        pending.cancel()  # idempotent, and a second cancellation must not keep the connection open
        with pytest.raises(RequestCancelled):
            await pending.wait()
        (done,) = await backend.submit(["1, 2,"], GenerationParams(max_tokens=2)).wait()
        assert done.usage.completion_tokens == 2

    asyncio.run(main())
    assert_aborted(backend, before, extra_finished=2)


def test_cancel_right_after_submit_leaves_nothing_running(skyplex_vllm_backend):
    # whatever point the request has reached (not sent, sent, being generated), cancelling it ends it
    backend = skyplex_vllm_backend
    before = idle(backend)

    async def main() -> None:
        for pause in (0, 1, 2, 5, 20):
            pending = backend.submit([COUNTING], GenerationParams(max_tokens=LONG, temperature=0.0))
            for _ in range(pause):
                await asyncio.sleep(0)
            pending.cancel()
            with pytest.raises(RequestCancelled):
                await pending.wait()
        # a request sent after them is answered after the server has taken in theirs
        (done,) = await backend.submit(["1, 2,"], GenerationParams(max_tokens=2)).wait()
        assert done.usage.completion_tokens == 2

    asyncio.run(main())
    assert_aborted(backend, before, extra_finished=2)


def test_abandoned_stream_is_aborted_on_the_server(skyplex_vllm_backend):
    backend = skyplex_vllm_backend
    before = idle(backend)

    async def main() -> None:
        stream = backend.astream(COUNTING, GenerationParams(max_tokens=LONG, temperature=0.0))
        pieces = 0
        async for _ in stream:
            pieces += 1
            if pieces == 3:
                break
        await stream.aclose()

    asyncio.run(main())
    assert_aborted(backend, before)


def test_closed_thread_stream_is_aborted_on_the_server(skyplex_vllm_backend):
    backend = skyplex_vllm_backend
    before = idle(backend)
    stream = backend.stream(COUNTING, GenerationParams(max_tokens=LONG, temperature=0.0))
    assert [next(stream) for _ in range(3)]
    stream.close()
    assert_aborted(backend, before)


def test_closing_the_backend_under_a_stream_aborts_it(skyplex_vllm_backend):
    from skyplex.models.vllm_backend import VLLMBackend

    before = idle(skyplex_vllm_backend)
    attached = VLLMBackend(base_url=skyplex_vllm_backend.base_url)
    stream = attached.stream(COUNTING, GenerationParams(max_tokens=LONG, temperature=0.0))
    assert next(stream)
    generating(skyplex_vllm_backend, before)
    attached.close()
    with pytest.raises(RequestCancelled):
        for _ in stream:  # what was already received, then the end: never a hang
            pass
    assert_aborted(skyplex_vllm_backend, before)


def _post_then_hang_up(gateway: str, body: dict, until) -> None:
    """A client that sends ``body`` to /v1/completions and closes its socket once ``until()`` holds."""
    payload = json.dumps(body).encode()
    where = urlparse(gateway)
    with socket.create_connection((where.hostname, where.port)) as sock:
        sock.sendall(
            f"POST /v1/completions HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        until(sock)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_gateway_client_that_disconnects_aborts_the_vllm_request(skyplex_vllm_backend, vllm_gateway, stream):
    backend = skyplex_vllm_backend
    before = idle(backend)
    body = {"model": "vllm", "prompt": COUNTING, "max_tokens": LONG, "temperature": 0, "stream": stream}
    _post_then_hang_up(vllm_gateway, body, lambda sock: generating(backend, before))
    assert_aborted(backend, before)
    # the gateway keeps serving
    r = httpx.post(f"{vllm_gateway}/v1/completions", json={"model": "vllm", "prompt": "1, 2,", "max_tokens": 2}, timeout=600)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2


def test_gateway_client_that_disconnects_at_once_leaves_nothing_running(skyplex_vllm_backend, vllm_gateway):
    # the client is gone before the gateway has even submitted the request
    backend = skyplex_vllm_backend
    before = idle(backend)
    body = {"model": "vllm", "prompt": COUNTING, "max_tokens": LONG, "temperature": 0}
    _post_then_hang_up(vllm_gateway, body, lambda sock: None)
    # a request sent after it is answered after the gateway (and the server) took that one in
    r = httpx.post(f"{vllm_gateway}/v1/completions", json={"model": "vllm", "prompt": "1, 2,", "max_tokens": 2}, timeout=600)
    assert r.status_code == 200
    assert_aborted(backend, before, extra_finished=2)
