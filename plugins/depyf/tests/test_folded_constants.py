"""Code whose source the compiler partly folded away: constant operands kept by the peephole pass,
constant tests in compound conditions, comprehensions whose element was removed, dead closures and
yields. Each must round-trip (decompile, recompile, same results on the same inputs) or be refused."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf.corpus import (INPUTS, define_generated, gen_function, gen_generator, generated_function,
                                  round_trip_generated)
from skyplex_depyf.decompiler import check_equivalent, decompile

BODY = "    x = 0\n    y = 1\n    z = 2\n    i = 0\n    j = 0\n"
CASES = {
    "not over a folded or": "    x = (not (3 or 3))\n",
    "operator over two kept constants": "    x = (-1 * (-1 or b))\n",
    "subscript of a built tuple": "    x = (8, (1 or x))[0]\n",
    "and of constants": "    z = ((8 or 2) and (not b))\n",
    "ternary test with a constant branch": "    if (6 if a else a):\n        return a\n",
    "ternary test with two constant branches": "    if (1 if a else 2):\n        return (y or x)\n",
    "and ending in a constant": "    if (x and -2):\n        return 9\n",
    "comprehension with a false constant clause": "    z ^= (len({x for i in range(2) if 0}))\n",
    "comprehension clause that is always true": "    z = (len({5 for i in range(3) if (z or 2)}))\n",
    "dead closure keeps its cell": "    if 0:\n        return (len({x for i in range(0) if -2}))\n",
    "dead comprehension after a return": "    if 6:\n        return (1, y)[1]\n    y = (len({i: (a * b) for i in range(2)}))\n",
    "continue under a constant ternary": "    for j in range(1):\n        if (y if 5 else a):\n            continue\n",
    "dead comprehension in the else of a constant test": ("    if 6:\n        y += b\n    else:\n"
                                                          "        x *= (len({i: -3 for i in range(2) if 8}))\n"),
    "while whose continue jumps back to its test": ("    k3 = 0\n    while k3 < 3:\n        k3 += 1\n        z *= b\n"
                                                    "        if y:\n            continue\n        z = a\n"),
    "return inside finally": "    try:\n        z *= 3\n    finally:\n        if x:\n            return (z >= 6)\n",
    "return inside finally after a division": ("    try:\n        z = a // b\n    finally:\n        if b:\n"
                                               "            return (a or 0)\n        y = 4\n"),
    "elif with a constant": "    if ((1 + 6) > max(a, a)):\n        y = 9\n    elif 4:\n        y -= 8\n",
}


def _function(body: str) -> str:
    return generated_function(body, BODY)


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_folded_constant_shapes_round_trip(body):
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_dead_yield_keeps_a_generator():
    source = "def generated(a, b):\n    return a\n    yield b\n"
    fn = define_generated(source)
    result = decompile(fn)
    assert result.ok, result.refusal
    rebuilt: dict = {}
    exec(result.source, rebuilt)
    assert list(rebuilt["generated"](1, 2)) == list(fn(1, 2)) == []


def test_verifier_still_tells_apart_where_a_jump_lands():
    """Jump targets are compared past NOPs, never ignored: continue and break differ."""
    def original(xs):
        for v in xs:
            if v:
                continue
            v = 1
        return 0

    assert check_equivalent(original.__code__, "def original(xs):\n    for v in xs:\n        if v:\n"
                                               "            break\n        v = 1\n    return 0\n") is not None
    assert check_equivalent(original.__code__, "def original(xs):\n    for v in xs:\n        if v:\n"
                                               "            continue\n        v = 1\n    return 0\n") is None


def test_generated_corpus_reaches_more_than_half():
    rng = random.Random(7)
    outcomes = [round_trip_generated(gen_function(lambda lo, hi: rng.randint(lo, hi))) for _ in range(120)]
    assert not [o for o in outcomes if o.outcome == "wrong"]
    assert sum(o.outcome == "ok" for o in outcomes) > 0.5 * len(outcomes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_generated_generators_round_trip_or_refuse(data):
    source = gen_generator(lambda lo, hi: data.draw(st.integers(lo, hi)))
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome in ("ok", "refused"), f"silently wrong: {outcome.detail}\n{source}"


def test_try_with_a_folded_test_inside_round_trips():
    body = ("    try:\n        if -3:\n            return (y + 5)\n    finally:\n        z -= a\n        x += x\n"
            "    with __import__('contextlib').nullcontext(y):\n        if -3:\n            return 7\n        z -= a\n")
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_verifier_tells_apart_which_instructions_a_handler_covers():
    """Same instructions once NOPs are dropped, but one call moved out of the ``try``: must differ."""
    def original():
        try:
            g()
            h()
        except KeyError:
            pass

    moved = "def original():\n    g()\n    try:\n        h()\n    except KeyError:\n        pass\n"
    same = "def original():\n    try:\n        g()\n        h()\n    except KeyError:\n        pass\n"
    assert "handled by" in (check_equivalent(original.__code__, moved) or "")
    assert check_equivalent(original.__code__, same) is None
