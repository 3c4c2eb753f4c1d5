"""The search over readings of compound conditions: a function whose conditions each need their own
reading (``(not a) and (7 if b else 0)`` read as an ``and`` around a conditional expression, which no
single preference produces) is decompiled by trying each condition's readings in turn and keeping
only what the recompile check proves. A wrong reading is refused, never emitted; the search is
bounded."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf import conditions, readings
from skyplex_depyf.corpus import INPUTS, generated_function, round_trip_generated

BODY = "    x = 0\n    y = 1\n    z = 2\n"
# each needs a reading no preference gives for the whole function (refused with the search off)
NEEDS_SEARCH = {
    "and around a conditional expression, in a loop with an elif": (
        "    while z < 4:\n        z += 1\n        if ((not a) and (7 if b else 0)):\n            x = 1\n"
        "        elif z:\n            y = 2\n"),
    "conditional expression whose arm is an or": "    if (x or b) if a else 0:\n        y = 3\n",
    "two conditions that need different readings": (
        "    if (not a) and (7 if b else 0):\n        x = 1\n    if (x or b) if a else 0:\n        y = 3\n"),
    "and around a conditional expression under a folded if": (
        "    if 2:\n        if ((not a) and (7 if b else 0)):\n            x = 1\n        elif z:\n            y = 2\n"),
}


def _function(body: str) -> str:
    return generated_function(body, BODY)


@pytest.mark.parametrize("body", list(NEEDS_SEARCH.values()), ids=list(NEEDS_SEARCH))
def test_the_search_finds_the_reading(body):
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


@pytest.mark.parametrize("body", list(NEEDS_SEARCH.values()), ids=list(NEEDS_SEARCH))
def test_without_the_search_these_are_refused(body, monkeypatch):
    """The cases above are the search's work, not the preferences': with no attempts left, refused."""
    monkeypatch.setattr(readings, "BUDGET", 0)
    assert round_trip_generated(_function(body), INPUTS).outcome == "refused"


def test_the_search_is_bounded(monkeypatch):
    """However many conditions and readings, at most ``BUDGET`` whole-function attempts."""
    calls = []
    real = readings._run

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(readings, "_run", counting)
    monkeypatch.setattr(readings, "BUDGET", 5)
    body = "".join(f"    if (x or b) if a else {k}:\n        y = {k}\n" for k in range(6))
    body += "    if (not a) and (7 if b else 0):\n        x = 1\n" + "    while z < 3:\n        z += 1\n"
    round_trip_generated(_function(body), INPUTS)
    assert 0 < len(calls) <= 5


def _broken(real):
    """A reading enumerator with its ``and``/``or`` swapped: readings of other conditions."""
    def readings_of(self, t0, t1, target, cond, end_pos):
        return [text.replace(" and ", " @ ").replace(" or ", " and ").replace(" @ ", " or ")
                for text in real(self, t0, t1, target, cond, end_pos)]
    return readings_of


@pytest.mark.parametrize("body", list(NEEDS_SEARCH.values()), ids=list(NEEDS_SEARCH))
def test_a_broken_reading_is_refused_not_emitted(body, monkeypatch):
    monkeypatch.setattr(conditions.ReadingEnumerator, "readings",
                        _broken(conditions.ReadingEnumerator.readings))
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail


def test_agreement_counts_the_common_prefix():
    def original(a):
        if a:
            return 1
        return 2

    same = "def original(a):\n    if a:\n        return 1\n    return 2\n"
    other = "def original(a):\n    if a:\n        return 3\n    return 2\n"
    full = readings.agreement(original.__code__, same)
    assert readings.agreement(original.__code__, other) < full
    assert readings.agreement(original.__code__, "def original(a) return") == (-1, -1)


# a grammar of compound conditions with constants the compiler folds -----------------------------------

ATOMS = ["a", "b", "x", "z", "0", "1", "7", "-2", "(a > 1)", "(b == z)"]


@st.composite
def condition(draw, depth: int = 3) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(ATOMS))
    shape = draw(st.sampled_from(["and", "or", "not", "if"]))
    if shape == "not":
        return f"(not {draw(condition(depth - 1))})"
    if shape == "if":
        return f"({draw(condition(depth - 1))} if {draw(condition(depth - 1))} else {draw(condition(depth - 1))})"
    return f"({draw(condition(depth - 1))} {shape} {draw(condition(depth - 1))})"


@st.composite
def statements(draw) -> str:
    lines = []
    for k in range(draw(st.integers(1, 3))):
        test = draw(condition())
        place = draw(st.sampled_from(["if", "elif", "while", "value"]))
        if place == "if":
            lines.append(f"    if {test}:\n        y = {k}\n")
        elif place == "elif":
            lines.append(f"    if z > {k}:\n        x = {k}\n    elif {test}:\n        y += {k}\n    else:\n"
                         f"        z -= 1\n")
        elif place == "while":
            lines.append(f"    while z < 5:\n        z += 1\n        if {test}:\n            x += 1\n")
        else:
            lines.append(f"    y = {test}\n")
    return "".join(lines)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_compound_conditions_round_trip_or_refuse(body):
    source = _function(body)
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome in ("ok", "refused"), f"silently wrong: {outcome.detail}\n{source}"


def test_most_compound_conditions_round_trip():
    """Not only never wrong: the grammar's conditions decompile (a fixed sample, so the rate is stable)."""
    import random

    rng = random.Random(11)

    def draw_condition(depth: int = 3) -> str:
        if depth == 0 or rng.randint(0, 3) == 0:
            return rng.choice(ATOMS)
        shape = rng.choice(["and", "or", "not", "if"])
        if shape == "not":
            return f"(not {draw_condition(depth - 1)})"
        if shape == "if":
            return f"({draw_condition(depth - 1)} if {draw_condition(depth - 1)} else {draw_condition(depth - 1)})"
        return f"({draw_condition(depth - 1)} {shape} {draw_condition(depth - 1)})"

    outcomes = [round_trip_generated(_function(f"    if {draw_condition()}:\n        y = 3\n    else:\n"
                                               f"        x = 4\n"), INPUTS) for _ in range(80)]
    assert not [o for o in outcomes if o.outcome == "wrong"]
    assert sum(o.outcome == "ok" for o in outcomes) >= 0.9 * len(outcomes)
