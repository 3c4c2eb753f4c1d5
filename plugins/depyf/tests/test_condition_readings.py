"""Compound conditions with several equivalent readings: ``not (0 if a else 7)`` leaves a test and two
unconditional jumps the peephole pass threaded in its own order, which an ``and``/``or`` reading
does not reproduce. The decompiler tries the readings in turn and keeps only one its recompile check
proves; a reading that is never proven is refused, never emitted."""

from __future__ import annotations

import pytest

from skyplex_depyf.conditions import GENERAL, PREFERENCE
from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import _attempt, decompile

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "not of a conditional expression with constant arms": "    if (not (0 if a else 7)):\n        y = 5\n",
    "negated conditional expression in elif": (
        "    if b > 3:\n        x = 1\n    elif not (a if b else 0):\n        z = 4\n"),
    "a and b or c as a value": "    y = a and b or 8\n    x = a and 3 or z\n",
    "a or b and c as a value": "    y = (a or 6) and b\n    z = (a > 1 or b) and x\n",
    "a and b or c as a condition and a returned value": (
        "    if a and b or x:\n        y = 3\n    z = (a < b and 2) or (b and a)\n"),
    "an if nested in an if, not one and-condition": (
        "    if a:\n        if a if a else 1 + -1:\n            y -= 7\n"),
}


def _function(body: str) -> str:
    return generated_function(body, BODY)


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_an_equivalent_reading_round_trips(body):
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_the_first_reading_alone_is_refused_not_emitted():
    fn = define_generated(_function(CASES["not of a conditional expression with constant arms"]))
    general, first = GENERAL.set(True), PREFERENCE.set(0)
    try:
        alone = _attempt(fn, fn.__code__, "generated", "", True)
    finally:
        PREFERENCE.reset(first)
        GENERAL.reset(general)
    assert not alone.ok and alone.refusal.startswith("recompiled source differs")
    assert decompile(fn).ok
