"""The fake model backends' top alternatives: present only when asked, the chosen token first and most likely."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from skyplex.interfaces import GenerationParams
from skyplex.testing import FakeModelBackend


@given(st.text(min_size=1, max_size=40), st.integers(0, 20))
def test_top_alternatives_when_asked(prompt, top):
    backend = FakeModelBackend(lambda text: "echo " + text)
    (completion,) = backend.generate([prompt], GenerationParams(logprobs=True, top_logprobs=top, max_tokens=64))
    for item in completion.logprobs:
        assert len(item.top) == top
        if top:
            best = max(item.top, key=item.top.get)
            assert best == item.token and item.top[best] == item.logprob


def test_a_reply_naming_an_alternative_still_gets_distinct_ones():
    backend = FakeModelBackend(lambda text: "[alt1] [alt2]")
    (completion,) = backend.generate(["x"], GenerationParams(logprobs=True, top_logprobs=3))
    for item in completion.logprobs:
        assert len(item.top) == 3 and max(item.top, key=item.top.get) == item.token
