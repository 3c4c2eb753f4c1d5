"""The gateway's OpenAI surface over the real local backend: token-id prompts, echo, n, sampling
defaults, streamed usage, structured output, tool calls, tokenizer routes, aliases and errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.hookspecs import hookimpl
from skyplex.interfaces import ChatMessage, GenerationParams, ScoreRequest
from skyplex.testing.fakes import FakeModelBackend

pytestmark = pytest.mark.slow
KEY = "surface-key"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


class _FakeModels:
    @hookimpl
    def skyplex_register_models(self, register):
        register("fake", FakeModelBackend)


@pytest.fixture(scope="module")
def kernel(test_data_dir):
    pm = make_plugin_manager(entrypoints=False)
    pm.register(_FakeModels(), name="fakemodels")
    k = Kernel(settings=Settings(data_dir=test_data_dir, threads=2, default_model="local"), pm=pm)
    yield k
    k.close()


@pytest.fixture(scope="module")
def client(kernel):
    from fastapi.testclient import TestClient

    from skyplex.gateway import create_app

    with TestClient(create_app(kernel, api_key=KEY)) as c:
        c.headers.update({"Authorization": f"Bearer {KEY}"})
        yield c


@pytest.fixture(scope="module")
def backend(kernel):
    return kernel.models.get("local")


def _sse(text: str) -> list[dict]:
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks[-1] == "data: [DONE]"
    return [json.loads(b.removeprefix("data: ")) for b in blocks[:-1]]


# --- completions: token ids, echo, n ---------------------------------------------------------------
def test_token_id_prompts_give_the_text_prompts_completion(client, backend):
    text = "The capital of France is"
    ids = backend.tokenize(text)
    base = {"max_tokens": 4, "temperature": 0}
    by_text = client.post("/v1/completions", json={**base, "prompt": text}).json()["choices"][0]["text"]
    one = client.post("/v1/completions", json={**base, "prompt": ids}).json()
    batch = client.post("/v1/completions", json={**base, "prompt": [ids, backend.tokenize("1, 2, 3,")]}).json()
    assert one["choices"][0]["text"] == by_text == batch["choices"][0]["text"]
    assert len(batch["choices"]) == 2 and one["usage"]["prompt_tokens"] == len(ids)


def test_echo_with_max_tokens_zero_scores_the_prompt_like_score(client, backend):
    prompt = "Question: What is the capital of France?\nAnswer: Paris"
    r = client.post("/v1/completions", json={"prompt": prompt, "echo": True, "logprobs": 1, "max_tokens": 0})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    lp = choice["logprobs"]
    ids = backend.tokenize(prompt)
    assert choice["text"] == prompt and choice["prompt_token_ids"] == ids == lp["token_ids"]
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
    (scored,) = backend.score([ScoreRequest(context=ids[:1], continuation=ids[1:])])
    assert lp["token_logprobs"][1:] == pytest.approx([t.logprob for t in scored.tokens], abs=1e-5)
    assert "".join(lp["tokens"]) == prompt and lp["text_offset"][1] == len(lp["tokens"][0])
    assert all(max(top.values()) >= v - 1e-6 for top, v in zip(lp["top_logprobs"][1:], lp["token_logprobs"][1:]))
    assert r.json()["usage"]["completion_tokens"] == 0 and choice["finish_reason"] == "length"


def test_echo_then_generation_the_lm_eval_request(client, backend):
    ids = backend.tokenize("One, two, three,")
    body = {"model": HUB_ID, "prompt": [ids], "echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0}
    choice = client.post("/v1/completions", json=body).json()["choices"][0]
    lp = choice["logprobs"]
    assert len(lp["token_logprobs"]) == len(ids) + 1 and lp["token_ids"][: len(ids)] == ids
    generated = backend.generate(["One, two, three,"], GenerationParams(max_tokens=1))[0]
    assert choice["text"] == "One, two, three," + generated.text
    # the generated token is the greedy one: its logprob is the best of its position
    assert lp["token_logprobs"][-1] == pytest.approx(max(lp["top_logprobs"][-1].values()), abs=1e-6)


def test_max_tokens_zero_without_echo_is_refused(client):
    r = client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 0})
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"


def test_n_choices_are_repeatable_with_a_seed_and_default_to_temperature_one(client, backend):
    body = {"prompt": ["Once upon a time", "My favourite food is"], "n": 2, "max_tokens": 5, "seed": 7}
    first = client.post("/v1/completions", json=body).json()
    again = client.post("/v1/completions", json=body).json()
    texts = [c["text"] for c in first["choices"]]
    assert [c["index"] for c in first["choices"]] == [0, 1, 2, 3]
    assert texts == [c["text"] for c in again["choices"]]
    # no temperature given: sampled at 1, exactly as the backend samples with seed 7 over [p, p, q, q]
    prompts = ["Once upon a time", "Once upon a time", "My favourite food is", "My favourite food is"]
    direct = backend.generate(prompts, GenerationParams(max_tokens=5, temperature=1.0, seed=7))
    assert texts == [c.text for c in direct]


@pytest.mark.parametrize("extra", [{"temperature": 1e-38}, {"top_p": 1e-300}, {"temperature": 1e-38, "top_p": 1e-300}])
def test_extreme_sampling_values_the_schema_admits_answer_200(client, backend, extra):
    r = client.post("/v1/completions", json={"prompt": "The capital of France is", "max_tokens": 3, "seed": 1, **extra})
    assert r.status_code == 200, r.text
    greedy = backend.generate(["The capital of France is"], GenerationParams(max_tokens=3))[0].text
    assert r.json()["choices"][0]["text"] == greedy  # both leave only the most likely token


# --- streams -----------------------------------------------------------------------------------------
def test_streamed_usage_is_exact_including_the_chat_template(client):
    body = {"messages": CAPITAL, "max_tokens": 6, "temperature": 0}
    plain = client.post("/v1/chat/completions", json=body).json()
    chunks = _sse(client.post("/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}).text)
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == plain["usage"]["prompt_tokens"] > 20  # the template's tokens count
    assert usage["completion_tokens"] == plain["usage"]["completion_tokens"]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == plain["choices"][0]["message"]["content"]


def test_empty_prompt_stream_is_a_clean_400_not_a_cut_stream(client):
    r = client.post("/v1/completions", json={"prompt": "", "stream": True, "max_tokens": 3})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    assert "empty" in r.json()["error"]["message"]


def test_stream_with_n_two_sends_both_choices(client):
    chunks = _sse(client.post("/v1/completions", json={"prompt": "Hi", "n": 2, "max_tokens": 3, "seed": 3, "stream": True}).text)
    finished = [c["choices"][0]["index"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finished == [0, 1]


# --- structured output and tools ---------------------------------------------------------------------
PLACE = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 24}, "population": {"type": "integer", "maximum": 10**9}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("temperature", [0, 1])
def test_json_schema_output_parses_and_validates(client, temperature):
    body = {
        "messages": [{"role": "user", "content": "Name a big city and its population."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": PLACE}},
        "max_tokens": 48,
        "temperature": temperature,
        "seed": 5,
    }
    choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]
    assert choice["finish_reason"] == "stop", choice
    value = json.loads(choice["message"]["content"])
    assert set(value) == {"city", "population"} and isinstance(value["population"], int)


def test_json_object_output_is_an_object(client):
    body = {"messages": CAPITAL, "response_format": {"type": "json_object"}, "max_tokens": 40, "temperature": 0}
    choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_tool_calls_are_well_formed(client, choice):
    body = {"messages": [{"role": "user", "content": "What is the weather in Paris?"}], "tools": [WEATHER], "tool_choice": choice, "max_tokens": 40, "temperature": 0}
    out = client.post("/v1/chat/completions", json=body).json()["choices"][0]
    assert out["finish_reason"] == "tool_calls", out
    (call,) = out["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and isinstance(json.loads(call["function"]["arguments"])["city"], str)
    assert out["message"]["content"] is None


def test_tool_choice_naming_an_unknown_function_is_400(client):
    body = {"messages": CAPITAL, "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400 and "nope" in r.json()["error"]["message"]


def test_backends_that_cannot_constrain_refuse_instead_of_ignoring(client):
    for extra in ({"response_format": {"type": "json_object"}}, {"tools": [WEATHER], "tool_choice": "required"}):
        r = client.post("/v1/chat/completions", json={"model": "fake", "messages": CAPITAL, **extra})
        assert r.status_code == 400 and r.json()["error"]["type"] == "not_supported", r.text


def test_bad_json_schema_is_400_naming_the_field(client):
    body = {"messages": CAPITAL, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "frob"}}}}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400 and "frob" in r.json()["error"]["message"]


# --- tokenizer routes, models, auth, validation --------------------------------------------------------
def test_tokenizer_routes_round_trip(client, backend):
    r = client.post("/tokenize", json={"prompt": "Hello world", "add_special_tokens": False}).json()
    assert r["tokens"] == backend.tokenize("Hello world") and r["count"] == 2 and r["max_model_len"] == 8192
    assert client.post("/detokenize", json={"tokens": r["tokens"]}).json() == {"prompt": "Hello world"}
    info = client.get("/tokenizer_info").json()
    assert info["eos_token"] == "<|im_end|>" and "im_start" in info["chat_template"]
    chat = client.post("/tokenize", json={"messages": CAPITAL}).json()
    direct = backend.generate([[ChatMessage(role="user", content=CAPITAL[0]["content"])]], GenerationParams(max_tokens=1))[0]
    assert chat["count"] == direct.usage.prompt_tokens  # the same template the model is prompted with


def test_model_answers_to_its_hub_id_and_lists_only_usable_backends(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    # openai has no model configured here, so it cannot answer and is not listed
    assert {"local", HUB_ID, "fake"} <= set(ids) and "openai" not in ids
    assert client.get(f"/v1/models/{HUB_ID}").json()["meta"]["alias_of"] == "local"
    r = client.post("/v1/completions", json={"model": HUB_ID, "prompt": "Hi", "max_tokens": 1})
    assert r.status_code == 200 and r.json()["model"] == HUB_ID


def test_missing_key_says_where_the_key_is(kernel):
    from fastapi.testclient import TestClient

    from skyplex.gateway import create_app

    plain = TestClient(create_app(kernel, api_key=KEY))
    for headers in ({}, {"Authorization": "Bearer "}):
        r = plain.post("/v1/completions", json={"prompt": "hi"}, headers=headers)
        assert r.status_code == 401
        message = r.json()["error"]["message"]
        assert "missing API key" in message and str(kernel.settings.data_dir / "gateway.key") in message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 60000) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=json_values)
def test_any_prompt_value_is_200_or_a_400_without_pydantic_names(client, prompt):
    r = client.post("/v1/completions", json={"model": "fake", "prompt": prompt, "max_tokens": 1})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        err = r.json()["error"]
        for internal in ("list[", "str]", "int]", "function-", "union", "tagged"):
            assert internal not in err["message"] and internal not in (err["param"] or ""), err


@pytest.mark.parametrize(
    "route, extra, field",
    [
        ("/v1/completions", {"logit_bias": {"50256": -100}}, "logit_bias"),
        ("/v1/completions", {"presence_penalty": 0.5}, "presence_penalty"),
        ("/v1/completions", {"frequency_penalty": -1.0}, "frequency_penalty"),
        ("/v1/completions", {"suffix": "end"}, "suffix"),
        ("/v1/completions", {"best_of": 3}, "best_of"),
        ("/v1/chat/completions", {"logit_bias": {"1": 5}}, "logit_bias"),
    ],
)
def test_fields_that_would_be_ignored_are_refused(client, route, extra, field):
    body = {"prompt": "hi"} if route == "/v1/completions" else {"messages": CAPITAL}
    r = client.post(route, json={**body, "model": "fake", "max_tokens": 2, **extra})
    assert r.status_code == 400 and r.json()["error"]["param"] == field, r.text


def test_neutral_values_of_unsupported_fields_are_fine(client):
    body = {"model": "fake", "prompt": "hi", "max_tokens": 2, "logit_bias": {}, "presence_penalty": 0, "best_of": 1, "user": "u"}
    assert client.post("/v1/completions", json=body).status_code == 200
