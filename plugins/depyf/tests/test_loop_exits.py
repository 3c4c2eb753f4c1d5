"""Loops the compiler lays out without their usual back-jump: a ``for`` body that always leaves (its
final ``break`` falls into the exit, and there is no jump back to ``FOR_ITER``), a ``while`` body
that goes back to the test only through ``continue`` (no bottom copy of the test; a final ``break``
falls into the exit), and ``if a: while b:`` whose two tests jump to the same place without being
one condition. Each must round-trip or be refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import heapq

from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated, round_trip_stdlib
from skyplex_depyf.decompiler import check_equivalent, decompile

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "for whose body is break": "    if a:\n        for i in range(5):\n            break\n",
    "for ending in break after statements": "    for i in range(b):\n        x += i\n        break\n",
    "for ending in a return": "    for i in range(a):\n        y = i * 2\n        return y\n",
    "for ending in break after a try": ("    if a:\n        try:\n            x = 1 // b\n"
                                         "        except ZeroDivisionError:\n            y = 2\n"
                                         "        for i in range(5):\n            break\n"),
    "while whose body is continue": "    if a:\n        while x < 1:\n            x += 1\n            continue\n",
    "while ending in break with a continue before it": (
        "    k = 0\n    while k < a:\n        k += 1\n        if b > k:\n            x += k\n            continue\n"
        "        break\n"),
    "if then while": "    if a > 0:\n        while x < a:\n            x += 1\n            continue\n",
}


def _function(body: str) -> str:
    return generated_function(body, BODY)


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_loops_without_a_back_jump_round_trip(body):
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


@pytest.mark.parametrize("name", ["_siftdown", "_siftdown_max"])
def test_stdlib_while_loop_ending_in_break_is_exact(name):
    outcome = round_trip_stdlib(f"heapq:{name}", getattr(heapq, name))
    assert outcome.outcome == "ok", outcome.detail


def test_the_break_read_at_the_end_is_proven():
    """Without the final ``break`` the loop would run again: the verifier must refuse that source."""
    fn = define_generated(_function(CASES["for ending in break after statements"]))
    result = decompile(fn)
    assert result.ok, result.refusal
    assert "break" in result.source
    without = result.source.replace("        break\n", "")
    assert without != result.source and check_equivalent(fn.__code__, without) is not None


LEAVES = ("break", "continue", "return x", "x += 1", "if a > i:\n    break", "if b:\n    continue")


def _loops(draw, depth: int, indent: str) -> list[str]:
    """for and while loops (each while loop advances a counter of its own, so every loop ends) whose
    bodies end in any exit."""
    out: list[str] = []
    for _ in range(draw(1, 2)):
        inner = indent + "    "
        if depth <= 0 or draw(0, 2) == 0:
            out.append(indent + ("y += i" if draw(0, 1) else "z = x - 1"))
            continue
        if draw(0, 1):
            out += [indent + "if a:"] if draw(0, 1) else []
            pad = inner if out and out[-1] == indent + "if a:" else indent
            out += [pad + f"for i in range({draw(0, 3)}):"]
        else:
            counter = f"k{depth}"  # its own counter: an inner for loop rebinding ``i`` cannot keep it running
            out += [indent + f"{counter} = 0"] + ([indent + "if b:"] if draw(0, 1) else [])
            pad = inner if out[-1] == indent + "if b:" else indent
            out += [pad + f"while {counter} < {draw(0, 3)}:", pad + f"    {counter} += 1"]
        body_indent = pad + "    "
        out += _loops(draw, depth - 1, body_indent)
        out += [body_indent + line for line in LEAVES[draw(0, len(LEAVES) - 1)].splitlines()]
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_loop_exit_grammar_round_trips_or_refuses(data):
    """Random nests of loops whose bodies end in break, continue, return or a statement: decompiled
    and the same on every input, or refused; never silently different."""
    lines = _loops(lambda lo, hi: data.draw(st.integers(lo, hi)), 2, "    ")
    source = "def generated(a, b):\n" + BODY + "    i = 0\n" + "\n".join(lines) + "\n    return (a, b, x, y, z)\n"
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome in ("ok", "refused"), f"silently wrong: {outcome.detail}\n{source}"
