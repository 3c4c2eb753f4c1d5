"""Shapes the compiler gives a ``try`` that ends a branch: its exits are threaded past the ``else``
part straight to where the ``if`` statement goes next, or, with a ``pass`` after it, stop at the
branch's own closing jump. A ``break`` or ``continue`` in a try body leaves the protected range
before the body ends, so the ``else`` clause starts where the body's jumps over that exit land.
Each must round-trip by behaviour and by bytecode."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, generated_function, round_trip_generated

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "try/finally ending the then branch, with else": (
        "    if b:\n        try:\n            z = 9 // a\n        finally:\n            z = 7\n"
        "    else:\n        return max(-3, z)\n"),
    "try/finally ending the then branch, with elif": (
        "    if a > 1:\n        try:\n            y = int(b)\n        finally:\n            x ^= bool(x)\n"
        "    elif b - 3:\n        y -= x // 2\n"),
    "try/finally then pass": (
        "    if a:\n        try:\n            y += 1 // b\n        finally:\n            x = 1\n        pass\n"
        "    elif b:\n        z -= 3\n"),
    "try/except then pass": (
        "    if a:\n        try:\n            y += 1 // b\n        except ZeroDivisionError:\n            x = 1\n"
        "        pass\n    elif b:\n        z -= 3\n"),
    "nested try/finally ending the then branch": (
        "    if a < b:\n        try:\n            try:\n                z = 1 // a\n            finally:\n"
        "                y = 9\n        finally:\n            x = 3\n    else:\n        y = 5\n"),
    "if/else ending a then branch, its else part a try": (
        "    if a:\n        if b:\n            y ^= a\n        else:\n            try:\n                x = 1 // a\n"
        "            except ZeroDivisionError:\n                x *= 3\n    else:\n        x ^= b\n"),
    "elif chain ending in a try/finally inside an elif": (
        "    if a > 2:\n        x += a\n    elif a:\n        if b > 1:\n            z = b\n        elif b:\n"
        "            if a > b:\n                z = a\n        else:\n            try:\n                y = 1 // b\n"
        "            finally:\n                x ^= a\n    else:\n        y = a\n"),
    "break in a try body with an else clause": (
        "    for i in range(a + 2):\n        try:\n            if i > b:\n                break\n"
        "        except ZeroDivisionError:\n            x = 1\n        else:\n            z += i\n"),
    "continue in a try body with an else clause": (
        "    for i in range(a + 2):\n        try:\n            if i > b:\n                continue\n"
        "            y = 1 // i\n        except ZeroDivisionError:\n            x = 1\n        else:\n            z += i\n"),
}


def _function(body: str) -> str:
    return generated_function(body, BODY)


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_trailing_try_round_trips(body):
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_break_as_the_last_statement_of_a_function():
    source = ("def generated(a, b):\n    for i in range(a + 3):\n        try:\n            if i > b:\n"
              "                break\n        except ZeroDivisionError:\n            a = 1\n        else:\n"
              "            b += i\n")
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_loop_in_a_finally_body_while_a_return_value_waits():
    # the try's return value waits on the stack while the finally body (a while loop, then its own
    # return, which drops the waiting value) runs
    source = ("def generated(a, b):\n    try:\n        return a\n    finally:\n        while b < 3:\n"
              "            b += 1\n        return a + b\n")
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome == "ok", outcome.detail
