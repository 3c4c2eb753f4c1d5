"""An ``if`` whose body ends in a ``try`` inside a loop, with an else part the compiler reached
through a folded test (``elif 1:``): the try's exits are threaded straight back to the loop's head,
past the else part that follows in the loop body, so that code is read as the else part, not as
statements after the ``if``. ``continue`` after the try compiles alike; the verifier decides."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, generated_function, round_trip_generated

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "try/finally then a folded elif, in a for loop": (
        "    for i in range(4):\n        if x:\n            try:\n                x ^= 3\n            finally:\n"
        "                x += 1\n        elif (-1 if -1 else y):\n            y += a\n            z -= 1\n"),
    "try/except then a folded elif, in a while loop": (
        "    k = 0\n    while k < 3:\n        k += 1\n        if a:\n            try:\n                x = 1 // b\n"
        "            except ZeroDivisionError:\n                x = 2\n        elif 4:\n            y -= 1\n"),
    "try/finally then continue, then more of the loop": (
        "    for i in range(3):\n        if b:\n            try:\n                x += i\n            finally:\n"
        "                y += 1\n            continue\n        z += i\n"),
    "try/finally then a folded elif in a generator": (
        "    for i in range(4):\n        if x:\n            try:\n                x ^= 3\n            finally:\n"
        "                yield x\n        elif 2:\n            yield i\n"),
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_else_parts_round_trip(body):
    outcome = round_trip_generated(generated_function(body, BODY), INPUTS)
    assert outcome.outcome == "ok", outcome.detail
