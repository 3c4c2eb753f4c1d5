"""Scoring in the model interface: ``score`` and ``prompt_logprobs`` of the local backend.

Every property is checked against the real SmolLM2 weights, and the loglikelihoods against plain
transformers run on the same converted weights (one full forward pass, no cache, no batching).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex.errors import InvalidInputError
from skyplex.interfaces import ContinuationScore, GenerationParams, NotSupportedError, ScoreRequest, TokenPrompt
from skyplex.models import _local_score as scoring

pytestmark = pytest.mark.slow
TOL = 1e-4
PROPERTY = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# token ids drawn from the ordinary part of the vocabulary (the special tokens are ids 0..16)
token = st.integers(min_value=17, max_value=49151)


@pytest.fixture(scope="module")
def reference(local_backend):
    """transformers' own model on the converted weights, for the ground-truth logprobs."""
    import torch
    from transformers import AutoModelForCausalLM

    local_backend.tokenize("warm up")  # make sure the conversion exists
    model = AutoModelForCausalLM.from_pretrained(str(local_backend.cache_dir), dtype=torch.float32)
    model.eval()

    def logprobs(ids: list[int]) -> list[float]:
        """logprob of ids[i] given ids[:i], for i >= 1."""
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        return [float(lp[i - 1, ids[i]]) for i in range(1, len(ids))]

    return logprobs


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL


# --- properties -------------------------------------------------------------------------------------
@PROPERTY
@given(
    context=st.lists(token, min_size=1, max_size=24),
    continuation=st.lists(token, min_size=2, max_size=10),
    data=st.data(),
)
def test_split_continuation_sums_to_whole(local_backend, context, continuation, data):
    k = data.draw(st.integers(min_value=1, max_value=len(continuation) - 1), label="split")
    whole, first, second = local_backend.score(
        [
            ScoreRequest(context=context, continuation=continuation),
            ScoreRequest(context=context, continuation=continuation[:k]),
            ScoreRequest(context=context + continuation[:k], continuation=continuation[k:]),
        ]
    )
    assert _close(whole.logprob, first.logprob + second.logprob)
    assert [t.token_id for t in whole.tokens] == continuation
    assert whole.is_greedy == (first.is_greedy and second.is_greedy)


@PROPERTY
@given(prompt=st.lists(token, min_size=2, max_size=40), data=st.data())
def test_echo_logprobs_equal_score(local_backend, prompt, data):
    start = data.draw(st.integers(min_value=1, max_value=len(prompt) - 1), label="start")
    (echo,) = local_backend.prompt_logprobs([prompt], top_logprobs=1)
    (scored,) = local_backend.score([ScoreRequest(context=prompt[:start], continuation=prompt[start:])])
    assert echo.token_ids == prompt and echo.logprobs[0] is None
    tail = echo.logprobs[start:]
    assert [t.token_id for t in tail] == [t.token_id for t in scored.tokens]
    assert all(_close(a.logprob, b.logprob) for a, b in zip(tail, scored.tokens))


@PROPERTY
@given(
    shared=st.lists(token, min_size=0, max_size=30),
    tails=st.lists(
        st.tuples(st.lists(token, min_size=0, max_size=6), st.lists(token, min_size=1, max_size=6)),
        min_size=1,
        max_size=5,
    ),
)
def test_batch_equals_one_at_a_time(local_backend, shared, tails):
    # requests share a context prefix (the multiple-choice shape) but may differ before the continuation
    requests = [ScoreRequest(context=shared + extra or [17], continuation=cont) for extra, cont in tails]
    together = local_backend.score(requests, top_logprobs=2)
    alone = [local_backend.score([r], top_logprobs=2)[0] for r in requests]
    for a, b in zip(together, alone):
        assert _close(a.logprob, b.logprob)
        assert [t.token_id for t in a.tokens] == [t.token_id for t in b.tokens]
        assert all(_close(x.logprob, y.logprob) for x, y in zip(a.tokens, b.tokens))


@PROPERTY
@given(sequence=st.lists(token, min_size=2, max_size=48), data=st.data())
def test_loglikelihood_equals_transformers(local_backend, reference, sequence, data):
    start = data.draw(st.integers(min_value=1, max_value=len(sequence) - 1), label="start")
    (out,) = local_backend.score([ScoreRequest(context=sequence[:start], continuation=sequence[start:])])
    want = reference(sequence)[start - 1 :]
    assert len(out.tokens) == len(want)
    assert all(_close(t.logprob, w) for t, w in zip(out.tokens, want))
    assert _close(out.logprob, sum(want))


@given(
    sequences=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=40), min_size=1, max_size=12),
    data=st.data(),
)
@settings(max_examples=300, deadline=None)
def test_plan_groups_covers_each_sequence_once_with_a_true_common_prefix(sequences, data):
    starts = [data.draw(st.integers(1, len(s))) for s in sequences]
    groups = scoring.plan_groups(sequences, starts)
    seen = sorted(i for rows, _ in groups for i in rows)
    assert seen == list(range(len(sequences)))
    for rows, prefix in groups:
        assert prefix == 0 or prefix >= scoring.MIN_SHARED_PREFIX
        for i in rows:
            assert prefix <= len(sequences[i]) - 1  # every row keeps a token of its own
            assert sequences[i][:prefix] == sequences[rows[0]][:prefix]


# --- examples -----------------------------------------------------------------------------------------
def test_text_pairs_match_transformers_and_the_joined_tokenisation(local_backend, reference):
    context = "Question: What is the capital of France?\nAnswer:"
    choices = [" Paris", " London", " Berlin", " Madrid"]
    outs = local_backend.score([ScoreRequest(context=context, continuation=c) for c in choices])
    ctx_ids = local_backend.tokenize(context)
    for choice, out in zip(choices, outs):
        whole = local_backend.tokenize(context + choice)
        assert out.context_tokens == len(ctx_ids)
        assert [t.token_id for t in out.tokens] == whole[len(ctx_ids) :]
        assert _close(out.logprob, sum(reference(whole)[len(ctx_ids) - 1 :]))
    assert max(range(4), key=lambda i: outs[i].logprob) == 0  # the model knows this one


def test_greedy_continuation_is_greedy_and_others_are_not(local_backend):
    context = "The three primary colours are"
    (gen,) = local_backend.generate([TokenPrompt(token_ids=local_backend.tokenize(context))], GenerationParams(max_tokens=5))
    greedy_ids = local_backend.tokenize(context + gen.text)[len(local_backend.tokenize(context)) :]
    (scored,) = local_backend.score([ScoreRequest(context=local_backend.tokenize(context), continuation=greedy_ids)])
    assert scored.is_greedy
    worst = min(range(17, 200), key=lambda t: local_backend.score([ScoreRequest(context=context, continuation=[t])])[0].logprob)
    assert not local_backend.score([ScoreRequest(context=context, continuation=[worst])])[0].is_greedy


def test_empty_context_is_scored_after_the_start_token(local_backend, reference):
    (out,) = local_backend.score([ScoreRequest(context="", continuation="Hello there")])
    ids = [local_backend.prefix_token_id(), *local_backend.tokenize("Hello there")]
    assert out.context_tokens == 1
    assert _close(out.logprob, sum(reference(ids)))


def test_shared_context_runs_once(local_backend, monkeypatch):
    """Four choices after one long context cost two forward passes: the prefix once, the rows batched."""
    context = list(range(100, 160))
    requests = [ScoreRequest(context=context, continuation=[200 + i, 300 + i]) for i in range(4)]
    local_backend.score(requests[:1])  # load the engine
    model = local_backend._engine_loaded().model
    calls: list[tuple[int, ...]] = []
    original = model.forward

    def counting(*args, **kwargs):
        calls.append(tuple(kwargs["input_ids"].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counting)
    local_backend.score(requests)
    assert calls == [(1, 60), (4, 2)]


def test_top_logprobs_hold_the_argmax(local_backend):
    (out,) = local_backend.score([ScoreRequest(context="One, two, three,", continuation=" four")], top_logprobs=3)
    for t in out.tokens:
        assert len(t.top) == 3
        assert max(t.top.values()) >= t.logprob - 1e-6


@pytest.mark.parametrize(
    "request_, match",
    [
        (ScoreRequest(context="a", continuation=""), "continuation is empty"),
        (ScoreRequest(context=[1, 2], continuation=[10**9]), "outside the vocabulary"),
        (ScoreRequest(context=[-1], continuation=[5]), "outside the vocabulary"),
        (ScoreRequest(context=[5] * 9000, continuation=[5]), "context is 8192"),
    ],
)
def test_bad_requests_name_the_problem(local_backend, request_, match):
    with pytest.raises(InvalidInputError, match=match):
        local_backend.score([request_])


def test_empty_batch_and_prompt_logprobs_shapes(local_backend):
    assert local_backend.score([]) == []
    one, many = local_backend.prompt_logprobs([[5], "Hi there, friend"])
    assert one.logprobs == [None]
    assert len(many.logprobs) == len(many.token_ids) and many.logprobs[0] is None
    assert all(isinstance(s, ContinuationScore) for s in local_backend.score([ScoreRequest(continuation="x")]))


def test_backend_without_scoring_says_so():
    from skyplex.interfaces import ModelBackend

    class Plain(ModelBackend):
        name = "plain"

        def info(self):  # pragma: no cover - not called
            raise AssertionError

        def generate(self, prompts, params=None):  # pragma: no cover - not called
            return []

    with pytest.raises(NotSupportedError, match="'plain' cannot score"):
        Plain().score([ScoreRequest(context="a", continuation="b")])


# --- the OpenAI-compatible backend scores through echo + logprobs ------------------------------------
@pytest.fixture(scope="module")
def served(test_data_dir):
    """A real gateway on loopback serving the local model and a fake backend that cannot score."""
    from skyplex import Kernel, Settings, make_plugin_manager
    from skyplex.gateway import background_server, create_app
    from skyplex.hookspecs import hookimpl
    from skyplex.testing.fakes import FakeModelBackend

    class Fake:
        @hookimpl
        def skyplex_register_models(self, register):
            register("fake", FakeModelBackend)

    pm = make_plugin_manager(entrypoints=False)
    pm.register(Fake(), name="fake")
    kernel = Kernel(settings=Settings(data_dir=test_data_dir, threads=1, default_model="local"), pm=pm)
    with background_server(create_app(kernel, api_key="k")) as url:
        yield url
    kernel.close()


def test_openai_backend_scores_like_the_local_one(served, local_backend):
    from skyplex.models.openai_backend import OpenAIBackend

    remote = OpenAIBackend(base_url=f"{served}/v1", api_key="k", model="local")
    try:
        context = "Question: What is the capital of France?\nAnswer:"
        requests = [ScoreRequest(context=context, continuation=c) for c in (" Paris", " London")]
        requests.append(ScoreRequest(context=local_backend.tokenize(context), continuation=local_backend.tokenize(" Rome")))
        got, want = remote.score(requests, top_logprobs=1), local_backend.score(requests)
        for g, w in zip(got, want):
            assert _close(g.logprob, w.logprob) and g.is_greedy == w.is_greedy
            assert [t.token_id for t in g.tokens] == [t.token_id for t in w.tokens]
        (echo,) = remote.prompt_logprobs([local_backend.tokenize("One, two, three")])
        (local_echo,) = local_backend.prompt_logprobs([local_backend.tokenize("One, two, three")])
        assert echo.logprobs[0] is None
        assert all(_close(a.logprob, b.logprob) for a, b in zip(echo.logprobs[1:], local_echo.logprobs[1:]))
    finally:
        remote.close()


def test_openai_backend_says_clearly_when_the_server_cannot_score(served):
    from skyplex.models.openai_backend import OpenAIBackend

    remote = OpenAIBackend(base_url=f"{served}/v1", api_key="k", model="fake", max_retries=0)
    try:
        with pytest.raises(NotSupportedError, match="cannot score prompts"):
            remote.score([ScoreRequest(context="a b", continuation=" c")])
    finally:
        remote.close()
