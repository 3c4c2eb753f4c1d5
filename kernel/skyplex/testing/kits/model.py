"""Conformance kit for a model backend: the contract every caller relies on."""

from __future__ import annotations

import math

import pytest

from ...interfaces import (
    ChatMessage,
    Completion,
    ContinuationScore,
    GenerationParams,
    ModelInfo,
    NotSupportedError,
    ScoreRequest,
)
from ._base import must_override


class ModelBackendConformance:
    """Contract of a model backend. Override ``backend``; optionally ``prompt``."""

    @pytest.fixture
    def backend(self):
        must_override("backend")

    @pytest.fixture
    def prompt(self) -> str:
        return "List three colours:"

    def test_info_does_not_fail(self, backend):
        info = backend.info()
        assert isinstance(info, ModelInfo)
        assert info.model

    def test_empty_batch_gives_empty_list(self, backend):
        assert backend.generate([], GenerationParams(max_tokens=2)) == []

    def test_one_completion_per_prompt(self, backend, prompt):
        outs = backend.generate([prompt, "Say hello."], GenerationParams(max_tokens=4))
        assert len(outs) == 2
        assert all(isinstance(c, Completion) for c in outs)
        assert all(c.usage.prompt_tokens > 0 for c in outs)

    def test_max_tokens_is_respected(self, backend, prompt):
        (out,) = backend.generate([prompt], GenerationParams(max_tokens=3))
        assert 1 <= out.usage.completion_tokens <= 3
        if out.finish_reason == "length":
            assert out.usage.completion_tokens == 3

    def test_greedy_is_deterministic(self, backend, prompt):
        params = GenerationParams(max_tokens=8, temperature=0.0)
        a = backend.generate([prompt], params)[0].text
        b = backend.generate([prompt], params)[0].text
        assert a == b

    def test_chat_prompt_is_accepted(self, backend):
        msgs = [ChatMessage(role="user", content="Reply with one word.")]
        (out,) = backend.generate([msgs], GenerationParams(max_tokens=4))
        assert out.usage.prompt_tokens > 0

    def test_logprobs_match_tokens(self, backend, prompt):
        if not backend.info().supports_logprobs:
            pytest.skip("backend does not support logprobs")
        (out,) = backend.generate([prompt], GenerationParams(max_tokens=5, logprobs=True))
        assert out.logprobs is not None
        assert len(out.logprobs) == out.usage.completion_tokens
        assert all(lp.logprob <= 1e-6 and math.isfinite(lp.logprob) for lp in out.logprobs)

    def test_stop_sequence_truncates(self, backend, prompt):
        params = GenerationParams(max_tokens=16)
        full = backend.generate([prompt], params)[0].text
        if len(full.strip()) < 4:
            pytest.skip("greedy output too short to pick a stop sequence from")
        # a stop string taken from the middle of the greedy output must cut the text just before it
        stop = full.strip()[2:4]
        cut = backend.generate([prompt], params.model_copy(update={"stop": [stop]}))[0]
        assert cut.finish_reason == "stop"
        assert stop not in cut.text
        assert full.startswith(cut.text)

    def test_stream_matches_generate(self, backend, prompt):
        params = GenerationParams(max_tokens=6)
        assert "".join(backend.stream(prompt, params)) == backend.generate([prompt], params)[0].text

    # scoring: a backend either scores consistently or refuses with NotSupportedError (a remote
    # backend may learn only from its server that scoring is impossible), never anything vaguer
    def _scores_or_skip(self, backend, requests):
        try:
            return backend.score(requests)
        except NotSupportedError as exc:
            assert exc.message, "NotSupportedError must say what is missing"
            if backend.info().supports_score:
                pytest.skip(f"the backend's server cannot score: {exc.message}")
            raise

    def test_score_is_supported_or_refused_clearly(self, backend):
        request = ScoreRequest(context="The capital of France is", continuation=" Paris")
        if not backend.info().supports_score:
            with pytest.raises(NotSupportedError):
                backend.score([request])
            with pytest.raises(NotSupportedError):
                backend.prompt_logprobs(["The capital of France is Paris"])
            return
        (out,) = self._scores_or_skip(backend, [request])
        assert isinstance(out, ContinuationScore) and out.tokens and out.context_tokens > 0
        assert math.isfinite(out.logprob) and out.logprob <= 1e-6
        assert abs(out.logprob - sum(t.logprob for t in out.tokens)) <= 1e-6
        assert backend.score([]) == []

    def test_score_agrees_with_itself(self, backend):
        """Split continuation sums to the whole; echo equals score; batch equals one at a time."""
        if not backend.info().supports_score:
            pytest.skip("backend declares supports_score=False (checked by the test above)")
        self._scores_or_skip(backend, [ScoreRequest(context="One,", continuation=" two")])
        (echo,) = backend.prompt_logprobs(["One, two, three, four, five"])
        ids = echo.token_ids
        assert echo.logprobs[0] is None and len(echo.logprobs) == len(ids) >= 4
        k = len(ids) // 2
        whole, first, second = backend.score(
            [
                ScoreRequest(context=ids[:1], continuation=ids[1:]),
                ScoreRequest(context=ids[:1], continuation=ids[1:k]),
                ScoreRequest(context=ids[:k], continuation=ids[k:]),
            ]
        )
        assert abs(whole.logprob - (first.logprob + second.logprob)) <= 1e-4
        assert all(abs(a.logprob - b.logprob) <= 1e-4 for a, b in zip(echo.logprobs[1:], whole.tokens))
        (alone,) = backend.score([ScoreRequest(context=ids[:k], continuation=ids[k:])])
        assert abs(alone.logprob - second.logprob) <= 1e-4
