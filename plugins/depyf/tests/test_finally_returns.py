"""``return`` of a value the compiler folded to a constant, inside ``try``/``finally`` or
``try``/``except``: a plain constant is loaded after the copy of the finally body (after leaving the
protected range), any other expression before it (inside it), so a constant loaded there came from an
expression (``return (-2 if 6 else b)``) and is written back as one the compiler cannot fold; a plain
``return -2`` keeps its own shape."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import check_equivalent, decompile

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "folded conditional expression returned from an if": (
        "    try:\n        if b:\n            return (-2 if 6 else b)\n        if x ^ b:\n            return a\n"
        "    finally:\n        y ^= 2\n"),
    "folded and returned, finally with a loop": (
        "    try:\n        if a:\n            return (4 and 4)\n    finally:\n        for j in range(2):\n"
        "            x += 1\n"),
    "folded value returned as the try body's last statement": (
        "    try:\n        y += a\n        return (4 and 4)\n    finally:\n        x += 1\n"),
    "folded conditional expression returned last, finally with a loop": (
        "    try:\n        y += a\n        return (-3 if 2 else a)\n    finally:\n        for j in range(2):\n"
        "            x += 1\n"),
    "folded conditional expression returned out of a try/except": (
        "    try:\n        if a:\n            return (7 if 3 else -3)\n        x = 1 // b\n    except ZeroDivisionError:\n"
        "        y = 2\n"),
    "folded and returned as the try/except body's last statement": (
        "    try:\n        x = 1 // b\n        return (4 and 5)\n    except ZeroDivisionError:\n        y = 2\n"),
    "plain constant returned out of a try/except": (
        "    try:\n        if a:\n            return 7\n        x = 1 // b\n    except ZeroDivisionError:\n        y = 2\n"),
    "plain constant returned": "    try:\n        if b:\n            return -2\n    finally:\n        y ^= 2\n",
    "both in one function": (
        "    try:\n        if b:\n            return -2\n        if a:\n            return (7 if 1 else a)\n"
        "    finally:\n        y ^= 2\n"),
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_returns_round_trip(body):
    outcome = round_trip_generated(generated_function(body, BODY), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_plain_constant_would_be_a_different_program():
    """The verifier tells the two shapes apart: the decompiled source with its folded return written
    as a plain ``return -2`` is refused, so the unfoldable form is what makes it pass."""
    fn = define_generated(generated_function(CASES["folded conditional expression returned from an if"], BODY))
    result = decompile(fn)
    assert result.ok
    returned = [line for line in result.source.splitlines() if "return" in line and "-2" in line]
    assert len(returned) == 1 and returned[0].strip() != "return -2"
    plain = result.source.replace(returned[0], returned[0].split("return")[0] + "return -2")
    assert check_equivalent(fn.__code__, plain) is not None
