"""Streamed completions from the vLLM backend, on the caller's loop (``astream``), from a thread
(``stream``) and through the gateway: the pieces join to the non-streamed greedy completion, token for
token, with the server's own usage. Against the real vLLM server the tests start once per session."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from skyplex.interfaces import ChatMessage, Completion, GenerationParams

pytestmark = pytest.mark.slow

PROMPTS = ["1, 2, 3,", [ChatMessage(role="user", content="What is the capital of France?")]]


@pytest.mark.parametrize("prompt", PROMPTS, ids=["text", "chat"])
def test_streamed_pieces_join_to_the_greedy_completion(skyplex_vllm_backend, prompt):
    backend = skyplex_vllm_backend
    params = GenerationParams(max_tokens=24, temperature=0.0)
    (want,) = backend.generate([prompt], params)

    async def on_loop() -> list:
        return [item async for item in backend.astream(prompt, params)]

    *pieces, final = asyncio.run(on_loop())
    assert len(pieces) > 1 and all(isinstance(p, str) and p for p in pieces)  # streamed, not one lump
    assert isinstance(final, Completion)
    assert "".join(pieces) == final.text == want.text
    assert (final.finish_reason, final.usage) == (want.finish_reason, want.usage)

    stream = backend.stream(prompt, params)
    threaded = []
    while True:
        try:
            threaded.append(next(stream))
        except StopIteration as stop:
            assert stop.value == final
            break
    assert threaded == pieces


def test_a_bad_request_fails_before_the_first_piece(skyplex_vllm_backend):
    from skyplex.errors import InvalidInputError

    params = GenerationParams(max_tokens=4000, temperature=0.0)  # beyond the server's context length

    async def on_loop() -> None:
        async for _ in skyplex_vllm_backend.astream("1, 2,", params):
            pass

    with pytest.raises(InvalidInputError, match="rejected"):
        asyncio.run(on_loop())


def _events(response: httpx.Response) -> list[dict]:
    out = []
    for line in response.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


@pytest.mark.parametrize("route", ["completions", "chat/completions"])
def test_gateway_stream_from_vllm_is_its_plain_answer(vllm_gateway, route):
    body = {"model": "vllm", "max_tokens": 24, "temperature": 0}
    if route == "completions":
        body["prompt"] = "1, 2, 3,"
    else:
        body["messages"] = [{"role": "user", "content": "What is the capital of France?"}]
    plain = httpx.post(f"{vllm_gateway}/v1/{route}", json=body, timeout=600).json()
    with httpx.stream(
        "POST", f"{vllm_gateway}/v1/{route}", json={**body, "stream": True, "stream_options": {"include_usage": True}}, timeout=600
    ) as response:
        assert response.status_code == 200
        events = _events(response)
    choices = [c for e in events for c in e["choices"]]
    if route == "completions":
        text, want = "".join(c.get("text") or "" for c in choices), plain["choices"][0]["text"]
    else:
        text = "".join((c.get("delta") or {}).get("content") or "" for c in choices)
        want = plain["choices"][0]["message"]["content"]
    assert sum(1 for c in choices if (c.get("text") or (c.get("delta") or {}).get("content"))) > 1
    assert text == want
    assert [c["finish_reason"] for c in choices if c.get("finish_reason")] == [plain["choices"][0]["finish_reason"]]
    assert events[-1]["usage"] == {**events[-1]["usage"], **{k: plain["usage"][k] for k in ("prompt_tokens", "completion_tokens")}}
