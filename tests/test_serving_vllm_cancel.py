"""A non-streamed request to the vLLM backend is aborted on the server when its caller cancels it, or when
the gateway's HTTP client goes away: the server stops generating for nobody. Against the real vLLM
server the tests start once per session; progress is read from its Prometheus counters, never clocks."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import httpx
import pytest

from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.interfaces import ChatMessage, GenerationParams
from skyplex.models import vllm_metrics
from skyplex.models.vllm_requests import RequestCancelled
from skyplex.testing import wait_for

pytestmark = pytest.mark.slow

#: greedy SmolLM2 keeps counting far past any limit used here
COUNTING = "Count: 1, 2, 3, 4, 5, 6,"
LONG = 1500


def counters(backend) -> dict[str, float]:
    """Tokens generated so far and requests running now, from the server's /metrics."""
    text = vllm_metrics.fetch_metrics_text(backend.base_url)
    out = {"generated": 0.0, "running": 0.0}
    for sample in vllm_metrics.parse_prometheus(text):
        if sample.name == "vllm:generation_tokens_total":
            out["generated"] += sample.value
        elif sample.name == "vllm:num_requests_running":
            out["running"] += sample.value
    return out


def test_submit_gives_what_generate_gives(skyplex_vllm_backend):
    params = GenerationParams(max_tokens=6, temperature=0.0, logprobs=True, top_logprobs=2)
    chat = [ChatMessage(role="user", content="What is the capital of France?")]
    for prompt in ("1, 2, 3,", chat):
        (want,) = skyplex_vllm_backend.generate([prompt], params)
        (got,) = skyplex_vllm_backend.submit([prompt], params).result()
        assert (got.text, got.finish_reason, got.usage) == (want.text, want.finish_reason, want.usage)
        assert [t.token for t in got.logprobs] == [t.token for t in want.logprobs]


def test_cancelled_request_is_aborted_on_the_server(skyplex_vllm_backend):
    backend = skyplex_vllm_backend
    before = counters(backend)
    pending = backend.submit([COUNTING], GenerationParams(max_tokens=LONG, temperature=0.0))
    wait_for(lambda: counters(backend)["generated"] > before["generated"] + 2, "the server to be generating", interval_s=0.1)
    pending.cancel()
    with pytest.raises(RequestCancelled):
        pending.result()
    # an aborted request leaves the server's batch at once; one left running would generate all LONG tokens
    wait_for(lambda: counters(backend)["running"] == 0, "the server to drop the request", interval_s=0.1)
    assert counters(backend)["generated"] - before["generated"] < LONG
    assert backend.generate(["1, 2,"], GenerationParams(max_tokens=2))[0].usage.completion_tokens == 2


@pytest.fixture(scope="module")
def gateway(skyplex_vllm_backend, skyplex_model_cache_dir):
    from skyplex.gateway import background_server, create_app

    settings = Settings(data_dir=skyplex_model_cache_dir, models={"vllm": {"base_url": skyplex_vllm_backend.base_url}})
    kernel = Kernel(settings=settings, pm=make_plugin_manager(entrypoints=False))
    with background_server(create_app(kernel, api_key=None, auth=False)) as url:
        yield url
    kernel.close()


def test_gateway_client_that_disconnects_aborts_the_vllm_request(skyplex_vllm_backend, gateway):
    before = counters(skyplex_vllm_backend)
    payload = json.dumps({"model": "vllm", "prompt": COUNTING, "max_tokens": LONG, "temperature": 0}).encode()
    where = urlparse(gateway)
    with socket.create_connection((where.hostname, where.port)) as sock:  # a client that will hang up
        sock.sendall(
            f"POST /v1/completions HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        wait_for(lambda: counters(skyplex_vllm_backend)["generated"] > before["generated"] + 2, "the server to be generating", interval_s=0.1)
    wait_for(lambda: counters(skyplex_vllm_backend)["running"] == 0, "vLLM to drop the request", interval_s=0.1)
    assert counters(skyplex_vllm_backend)["generated"] - before["generated"] < LONG
    # the gateway keeps serving
    r = httpx.post(f"{gateway}/v1/completions", json={"model": "vllm", "prompt": "1, 2,", "max_tokens": 2}, timeout=600)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2


def test_submit_from_a_coroutine_runs_on_its_loop_and_cancels(skyplex_vllm_backend):
    import asyncio

    backend = skyplex_vllm_backend
    before = counters(backend)

    async def main() -> None:
        pending = backend.submit([COUNTING], GenerationParams(max_tokens=LONG, temperature=0.0))
        assert pending.loop is asyncio.get_running_loop()  # no thread hand-off: the gateway's case
        while counters(backend)["generated"] <= before["generated"] + 2:
            await asyncio.sleep(0.1)
        pending.cancel()
        with pytest.raises(RequestCancelled):
            await pending.wait()
        (done,) = await backend.submit(["1, 2,"], GenerationParams(max_tokens=2)).wait()
        assert done.usage.completion_tokens == 2

    asyncio.run(main())
    wait_for(lambda: counters(backend)["running"] == 0, "the server to drop the request", interval_s=0.1)
    assert counters(backend)["generated"] - before["generated"] < LONG + 2
