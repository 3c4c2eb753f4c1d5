"""The ``openai`` backend: the conformance kit against a real gateway (uvicorn on loopback serving the
local model), plus its retry and timeout policy against tiny misbehaving servers."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.errors import InvalidInputError, ModelUnavailableError, NotFoundError
from skyplex.interfaces import ChatMessage, GenerationParams
from skyplex.models.openai_backend import OpenAIBackend
from skyplex.testing import ModelBackendConformance

KEY = "openai-test-key"


# --- conformance through a real HTTP server -------------------------------------------------------
@pytest.fixture(scope="module")
def gateway_url(test_data_dir) -> Iterator[str]:
    from skyplex.gateway import background_server, create_app

    kernel = Kernel(settings=Settings(data_dir=test_data_dir, threads=2), pm=make_plugin_manager(entrypoints=False))
    try:
        with background_server(create_app(kernel, api_key=KEY)) as url:
            yield url + "/v1"
    finally:
        kernel.close()


@pytest.mark.slow
class TestOpenAIBackendThroughGateway(ModelBackendConformance):
    @pytest.fixture
    def backend(self, gateway_url):
        backend = OpenAIBackend(base_url=gateway_url, api_key=KEY, model="local", timeout=120)
        yield backend
        backend.close()

    def test_capital_question_answered(self, backend):
        (out,) = backend.generate([[ChatMessage(role="user", content="What is the capital of France?")]], GenerationParams(max_tokens=20))
        assert "Paris" in out.text

    def test_logprobs_carry_token_ids_and_alternatives(self, backend):
        params = GenerationParams(max_tokens=4, logprobs=True, top_logprobs=2)
        for prompt in ("The capital of France is", [ChatMessage(role="user", content="Hi")]):
            (out,) = backend.generate([prompt], params)
            assert out.logprobs and all(isinstance(lp.token_id, int) for lp in out.logprobs)
            assert all(1 <= len(lp.top) <= 2 for lp in out.logprobs)

    def test_batch_runs_concurrently_and_keeps_order(self, backend):
        prompts = [f"Count to {n}:" for n in range(1, 7)]
        outs = backend.generate(prompts, GenerationParams(max_tokens=4))
        alone = [backend.generate([p], GenerationParams(max_tokens=4))[0].text for p in prompts]
        assert [o.text for o in outs] == alone

    def test_wrong_key_is_a_clear_error(self, gateway_url):
        backend = OpenAIBackend(base_url=gateway_url, api_key="wrong", model="local", max_retries=0)
        with pytest.raises(ModelUnavailableError, match="API key"):
            backend.generate(["hi"], GenerationParams(max_tokens=2))

    def test_unknown_model_is_not_found(self, gateway_url):
        backend = OpenAIBackend(base_url=gateway_url, api_key=KEY, model="nope", max_retries=0)
        with pytest.raises(NotFoundError) as info:
            backend.generate(["hi"], GenerationParams(max_tokens=2))
        assert info.value.field == "model"
        assert backend.attempts == [1]  # 404 is not worth retrying


# --- retries and timeouts against a scripted server ----------------------------------------------
CHAT_OK = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@contextmanager
def scripted_server(script: list[tuple[int, float, dict | None]]) -> Iterator[dict]:
    """A loopback server answering POSTs per ``script`` (status, delay s, extra headers), then 200 OK."""
    state = {"attempts": 0, "bodies": []}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                n = state["attempts"]
                state["attempts"] += 1
                state["bodies"].append(body)
            status, delay, headers = script[n] if n < len(script) else (200, 0.0, None)
            time.sleep(delay)
            payload = json.dumps(CHAT_OK if status == 200 else {"error": {"message": f"scripted {status}"}}).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _backend(url: str, **kw) -> tuple[OpenAIBackend, list[float]]:
    backend = OpenAIBackend(base_url=url, api_key="k", model="m", backoff_s=0.01, **kw)
    sleeps: list[float] = []
    backend._sleep = sleeps.append  # record the waits instead of sleeping
    return backend, sleeps


CHAT = [[ChatMessage(role="user", content="hi")]]


def test_503_twice_then_ok_is_retried():
    with scripted_server([(503, 0, None), (503, 0, None)]) as srv:
        backend, sleeps = _backend(srv["url"])
        (out,) = backend.generate(CHAT, GenerationParams(max_tokens=3, seed=7, stop=["x"], temperature=0.5, top_p=0.9))
    assert out.text == "fine" and out.usage.prompt_tokens == 3
    assert srv["attempts"] == 3 and backend.attempts == [3]
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.9  # backoff grows (jitter stays within 0.5..1x)
    sent = srv["bodies"][0]
    assert (sent["seed"], sent["stop"], sent["temperature"], sent["top_p"], sent["max_tokens"]) == (7, ["x"], 0.5, 0.9, 3)


def test_gives_up_after_max_retries_with_a_clear_error():
    with scripted_server([(500, 0, None)] * 10) as srv:
        backend, sleeps = _backend(srv["url"], max_retries=2)
        with pytest.raises(ModelUnavailableError, match="after 3 attempts"):
            backend.generate(CHAT, GenerationParams(max_tokens=2))
    assert srv["attempts"] == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried():
    with scripted_server([(400, 0, None)]) as srv:
        backend, sleeps = _backend(srv["url"])
        with pytest.raises(InvalidInputError, match="scripted 400"):
            backend.generate(CHAT, GenerationParams(max_tokens=2))
    assert srv["attempts"] == 1 and sleeps == []


def test_429_honours_retry_after():
    with scripted_server([(429, 0, {"retry-after": "0.3"})]) as srv:
        backend, sleeps = _backend(srv["url"])
        backend.generate(CHAT, GenerationParams(max_tokens=2))
    assert srv["attempts"] == 2 and sleeps == [pytest.approx(0.3)]


def test_timeout_is_retried_then_reported():
    with scripted_server([(200, 2.0, None)] * 3) as srv:
        backend, sleeps = _backend(srv["url"], timeout=0.3, max_retries=1)
        started = time.monotonic()
        with pytest.raises(ModelUnavailableError, match="timed out"):
            backend.generate(CHAT, GenerationParams(max_tokens=2))
        elapsed = time.monotonic() - started
    assert backend.attempts == [2] and elapsed < 1.8  # two 0.3 s timeouts, not two 2 s waits


def test_connection_refused_is_retried():
    with scripted_server([]) as srv:
        url = srv["url"]
    backend, sleeps = _backend(url, max_retries=2)  # the server is gone now
    with pytest.raises(ModelUnavailableError, match="could not be reached"):
        backend.generate(CHAT, GenerationParams(max_tokens=2))
    assert backend.attempts == [3] and len(sleeps) == 2


def test_concurrency_is_bounded():
    with scripted_server([(200, 0.2, None)] * 8) as srv:
        backend, _ = _backend(srv["url"], concurrency=4)
        started = time.monotonic()
        outs = backend.generate(CHAT * 8, GenerationParams(max_tokens=2))
        elapsed = time.monotonic() - started
    assert len(outs) == 8
    assert 0.35 < elapsed < 1.2  # 8 requests of 0.2 s, 4 at a time: two waves, not one and not eight


def test_backoff_is_exponential_with_jitter_and_capped():
    backend = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="m", backoff_s=0.5, backoff_max_s=4.0)
    for retry, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [backend.backoff(retry) for _ in range(50)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_configuration_errors_are_clear(monkeypatch):
    monkeypatch.delenv("SKYPLEX_OPENAI_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(InvalidInputError) as info:
        OpenAIBackend(base_url="http://x/v1")
    assert info.value.field == "models.openai.model"
    with pytest.raises(InvalidInputError, match="OPENAI_API_KEY"):
        OpenAIBackend(model="gpt-4o-mini")
    monkeypatch.setenv("SKYPLEX_OPENAI_MODEL", "from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    backend = OpenAIBackend()
    assert backend.info().model == "from-env" and backend.info().details["base_url"] == "http://127.0.0.1:1/v1"


def test_registering_does_not_import_openai():
    import subprocess

    code = (
        "import sys; from skyplex import Kernel, make_plugin_manager;"
        "k = Kernel(pm=make_plugin_manager(entrypoints=False)); k.models.describe();"
        "print('openai' in k.models.names(), 'openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


def test_a_seeded_batch_sends_seed_plus_index_like_the_local_backend():
    # K copies of one prompt with one seed must be K samples (the local backend seeds prompt i with
    # seed + i); the same seed on every request would make the server return one sample K times
    with scripted_server([]) as srv:
        backend, _ = _backend(srv["url"])
        backend.generate(CHAT * 4, GenerationParams(max_tokens=2, temperature=0.8, seed=41))
        backend.generate(CHAT * 2, GenerationParams(max_tokens=2, temperature=0.8))
        backend.close()
    seeds = [b.get("seed") for b in srv["bodies"]]
    assert sorted(seeds[:4]) == [41, 42, 43, 44] and seeds[4:] == [None, None]
