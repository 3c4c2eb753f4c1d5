"""``break`` out of a for loop from inside a ``with`` body: the compiler calls the exit, drops the
loop's iterator and jumps past the loop, a shape read as a body ending in ``break``. A ``break``
out of a while loop there (no iterator to drop) is still refused, never guessed."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, generated_function, round_trip_generated

BODY = "    x = 0\n    y = 1\n    z = 2\n"
W = "__import__('contextlib').nullcontext"
CASES = {
    "break under a folded test": (
        f"    for i in range(3):\n        z += i\n        with {W}(7):\n            if (3 if 5 else 8):\n"
        "                break\n"),
    "break under a test, code after it": (
        f"    for i in range(3):\n        with {W}(7):\n            x += 1\n            if a:\n                break\n"
        "            y += 1\n"),
    "break ending the body": f"    for i in range(3):\n        with {W}(7):\n            x += i\n            break\n    z = 5\n",
    "break out of the inner of two loops": (
        f"    for i in range(3):\n        for j in range(2):\n            with {W}(7) as q:\n                x += q\n"
        "                break\n        y += 1\n"),
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_with_breaks_round_trip(body):
    outcome = round_trip_generated(generated_function(body, BODY), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_break_out_of_a_while_loop_is_refused_not_guessed():
    body = f"    k = 0\n    while k < 3:\n        k += 1\n        with {W}(7):\n            x += k\n            break\n    z = 5\n"
    assert round_trip_generated(generated_function(body, BODY), INPUTS).outcome in ("ok", "refused")
