"""The gateway's OpenAI-compatible routes over the real local backend (SmolLM2), through HTTP."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from skyplex import Kernel, Settings, make_plugin_manager

pytestmark = pytest.mark.slow

KEY = "local-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
# requests that compare against greedy output say temperature 0 (the OpenAI default is 1)


@pytest.fixture(scope="module")
def kernel(test_data_dir):
    # the shared test data dir holds the converted weights, so this loads in seconds
    pm = make_plugin_manager(entrypoints=False)
    k = Kernel(settings=Settings(data_dir=test_data_dir, threads=2, default_model="local"), pm=pm)
    yield k
    k.close()


@pytest.fixture(scope="module")
def app(kernel):
    from skyplex.gateway import create_app

    return create_app(kernel, api_key=KEY)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        c.headers.update(AUTH)
        yield c


def test_capital_of_france_is_paris(client):
    r = client.post("/v1/chat/completions", json={"model": "local", "messages": CAPITAL, "max_tokens": 24, "temperature": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "Paris" in body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_chunks_join_to_the_non_streamed_text(client):
    request = {"model": "local", "messages": CAPITAL, "max_tokens": 20, "temperature": 0}
    full = client.post("/v1/chat/completions", json=request).json()["choices"][0]
    r = client.post("/v1/chat/completions", json={**request, "stream": True})
    assert r.status_code == 200
    blocks = [b for b in r.text.split("\n\n") if b.strip()]
    assert blocks[-1] == "data: [DONE]"
    chunks = [json.loads(b[len("data: ") :]) for b in blocks[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks]
    assert len([p for p in pieces if p]) > 1, "expected the answer in several chunks"
    assert "".join(pieces) == full["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == full["finish_reason"]


def test_text_completions(client):
    r = client.post("/v1/completions", json={"model": "local", "prompt": ["The capital of France is", "1, 2, 3,"], "max_tokens": 6})
    assert r.status_code == 200
    choices = r.json()["choices"]
    assert len(choices) == 2 and all(c["text"] for c in choices)
    assert r.json()["usage"]["completion_tokens"] <= 12


def test_chat_logprobs_shape(client):
    r = client.post(
        "/v1/chat/completions",
        json={"model": "local", "messages": CAPITAL, "max_tokens": 5, "logprobs": True, "top_logprobs": 3, "temperature": 0},
    )
    body = r.json()
    content = body["choices"][0]["logprobs"]["content"]
    assert len(content) == body["usage"]["completion_tokens"]
    assert "".join(c["token"] for c in content) == body["choices"][0]["message"]["content"]
    for item in content:
        assert item["logprob"] <= 0 and isinstance(item["token_id"], int)
        tops = item["top_logprobs"]
        assert 1 <= len(tops) <= 3
        assert [t["logprob"] for t in tops] == sorted((t["logprob"] for t in tops), reverse=True)
        # greedy decoding: the chosen token is the most likely one
        assert item["logprob"] == pytest.approx(tops[0]["logprob"], abs=1e-4)


def test_completion_logprobs_shape(client):
    r = client.post("/v1/completions", json={"model": "local", "prompt": "The capital of France is", "max_tokens": 4, "logprobs": 2})
    lp = r.json()["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"])
    assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0
    assert all(len(t) <= 2 for t in lp["top_logprobs"])


def test_concurrent_requests_batch_and_match_direct_generation(kernel, app):
    """Concurrent HTTP requests share decode steps and give the text of each prompt on its own (greedy)."""
    from skyplex.interfaces import ChatMessage, GenerationParams

    questions = ["What is 2 + 2?", "Name a colour.", "What is the capital of Italy?", "Say hi."]
    bodies = [{"model": "local", "messages": [{"role": "user", "content": q}], "max_tokens": 8, "temperature": 0} for q in questions]

    async def send_all():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=AUTH, timeout=120) as c:
            return await asyncio.gather(*(c.post("/v1/chat/completions", json=b) for b in bodies))

    responses = asyncio.run(send_all())
    texts = [r.json()["choices"][0]["message"]["content"] for r in responses]
    backend = kernel.models.get("local")
    params = GenerationParams(max_tokens=8)
    alone = [backend.generate([[ChatMessage(role="user", content=q)]], params)[0].text for q in questions]
    assert texts == alone
    # the local backend batches continuously: the requests shared decode steps in its running batch
    assert app.state.model_routing.coalescer("local") is None
    assert backend._scheduler.peak_batch > 1, "the concurrent requests never shared a decode step"
