"""The generated "continue the sequence" task: every prompt's terms and answer follow its step."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_voting.tasks import digit_sequences


def _terms(line: str) -> list[int]:
    return [int(t) for t in line.rstrip(", ").split(", ")]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**32), shots=st.integers(0, 4), length=st.integers(2, 3))
def test_every_line_is_an_arithmetic_sequence_of_digits(n, seed, shots, length):
    queries = digit_sequences(n, seed=seed, shots=shots, length=length)
    assert len(queries) == n and len({q["id"] for q in queries}) == n
    for i, q in enumerate(queries):
        lines = q["prompt"].split("\n")
        assert len(lines) == shots + 1
        assert q["prompt"].endswith(", ")  # the answer digit is the next token after the space
        *shown, last = lines
        for line in shown:  # worked examples: length terms plus their next one
            t = _terms(line)
            assert len(t) == length + 1 and len({b - a for a, b in zip(t, t[1:])}) == 1
            assert t[1] != t[0] and all(0 <= x <= 9 for x in t)
        t = _terms(last) + [int(q["answer"])]
        steps = {b - a for a, b in zip(t, t[1:])}
        assert steps == {q["step"]} and len(t) == length + 1
        assert all(0 <= x <= 9 for x in t) and len(q["answer"]) == 1
        assert q["step"] == (1, -1, 2, -2, 3, -3)[i % 6]  # steps cycle: every difficulty equally often


def test_same_seed_same_task():
    assert digit_sequences(12, seed=5) == digit_sequences(12, seed=5)
    assert digit_sequences(12, seed=5) != digit_sequences(12, seed=6)


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 3, "shots": -1}, {"n": 3, "length": 4}, {"n": 3, "length": 1}])
def test_bad_sizes_are_named(kwargs):
    with pytest.raises(InvalidInputError, match="n >= 1"):
        digit_sequences(**kwargs)
