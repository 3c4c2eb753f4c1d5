"""A ``with`` body ending in ``continue``: the exit call is followed straight by the jump to the
loop's head, where a ``with`` that merely ends the loop body keeps a forward jump to the loop's
back-jump. The two are told apart by that jump, and the recompile check proves the reading."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import check_equivalent, decompile

NULL = "__import__('contextlib').nullcontext"
CASES = {
    "for loop": f"    for i in range(3):\n        with {NULL}(i) as w:\n            x += w\n            continue\n",
    "while loop": (f"    k = 0\n    while k < 3:\n        k += 1\n        with {NULL}(k):\n            y = 10 // (k - a)\n"
                   "            continue\n"),
    "after an if that breaks": (f"    for i in range(4):\n        with {NULL}(i) as w:\n            if w == b:\n"
                                "                break\n            z += w\n            continue\n"),
    "nested in an if arm": (f"    for i in range(3):\n        if i != a:\n            with {NULL}(i):\n"
                            "                x += 10 // (i - b)\n                continue\n        y += 1\n"),
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_a_with_body_ending_in_continue_round_trips(body):
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_the_continue_is_kept_and_needed():
    """Mutation: without the ``continue`` the source compiles to the other shape (a forward jump
    to the loop's back-jump), which the recompile check tells apart."""
    fn = define_generated(generated_function(CASES["for loop"]))
    result = decompile(fn)
    assert result.ok, result.refusal
    assert "continue" in result.source
    without = "\n".join(line for line in result.source.splitlines() if line.strip() != "continue") + "\n"
    assert check_equivalent(fn.__code__, without) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loop=st.sampled_from(["for", "while"]), bind=st.booleans(), ending=st.sampled_from(["continue", "", "break"]),
       before=st.sampled_from(["x += 1", "y = 10 // (a - 2)", "z ^= b"]), after_with=st.booleans())
def test_with_bodies_in_loops_round_trip_or_are_refused(loop, bind, ending, before, after_with):
    head = "    for i in range(3):\n" if loop == "for" else "    k = 0\n    while k < 3:\n        k += 1\n"
    lines = [f"        with {NULL}(a){' as w' if bind else ''}:", f"            {before}"]
    if ending:
        lines.append(f"            {ending}")
    if after_with:
        lines.append("        y += 1")
    outcome = round_trip_generated(generated_function(head + "\n".join(lines) + "\n"), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail
    if ending == "continue" and not after_with:
        assert outcome.outcome == "ok", outcome.detail


IN_EXCEPT = {
    "return in a with in an except clause": (
        f"    try:\n        x = 10 // a\n    except ZeroDivisionError:\n        with {NULL}(b) as w:\n"
        "            if w:\n                return (w, x)\n            y = 3\n"),
    "with an as name": (
        f"    try:\n        x = 10 // a\n    except ZeroDivisionError as err:\n        with {NULL}(b):\n"
        "            if b > 2:\n                return b\n        z = 1\n"),
    "returning an expression": (
        f"    try:\n        x = 10 // a\n    except (ZeroDivisionError, TypeError):\n        with {NULL}(b) as w:\n"
        "            return w * 2 + x\n"),
}


@pytest.mark.parametrize("body", list(IN_EXCEPT.values()), ids=list(IN_EXCEPT))
def test_a_return_from_a_with_inside_an_except_clause_round_trips(body):
    """The return calls ``__exit__`` with the value set aside, then drops the clause's exception
    from under the value (``SWAP 2; POP_EXCEPT``, with an ``as`` name's clean-up) and returns."""
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_return_moved_out_of_the_with_is_told_apart():
    """Mutation: the same return placed after the ``with`` (exit first, then return) compiles to
    other code, which the recompile check refuses."""
    fn = define_generated(generated_function(IN_EXCEPT["returning an expression"]))
    result = decompile(fn)
    assert result.ok, result.refusal
    lines = result.source.splitlines()
    k = next(n for n, line in enumerate(lines) if line.strip().startswith("return (w"))
    moved = lines[:k] + ["            pass", lines[k][4:]] + lines[k + 1:]
    assert check_equivalent(fn.__code__, "\n".join(moved) + "\n") is not None
