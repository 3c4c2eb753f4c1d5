"""Comprehensions whose only read of an enclosing variable was folded away. ``8 if 8 else b`` compiles
to ``8``, yet ``b`` stays a free variable of the comprehension (and a cell of the function), so the
function's code loads a closure tuple no source without ``b`` makes. The decompiler keeps the
variable with a clause that compiles to nothing (``if 1 or (b,)``); the recompile check proves it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf import decompiler
from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import decompile

CASES = {
    "set comprehension in a while loop": "    while x < 3:\n        x += 1 + len({8 if 8 else b for i in range(a % 3)})\n",
    "list comprehension with a clause": "    y = sum([(a if 1 else b) for i in range(3) if i])\n",
    "dict comprehension": "    y = len({i: (9 if 0 else 4) if 1 else b for i in range(2)})\n",
    "generator expression": "    y = sum(i for i in range(4) if i or (1 if 1 else b))\n",
    "two folded reads": "    y = sum([(3 if 3 else a) + (4 if 4 else b) for i in range(2)])\n",
    "nested comprehension": "    y = sum([sum([i if 1 else b for i in range(j)]) for j in range(3)])\n",
    "one read kept, one folded": "    y = sum([a + (1 if 1 else b) for i in range(2)])\n",
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_a_folded_read_of_an_enclosing_variable_round_trips(body):
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_the_kept_variable_is_named_in_a_clause_that_compiles_to_nothing():
    fn = define_generated(generated_function(CASES["set comprehension in a while loop"]))
    result = decompile(fn)
    assert result.ok, result.refusal
    assert "if 1 or (b,)" in result.source


def test_without_the_rule_the_function_is_refused_not_wrong(monkeypatch):
    """Mutation: with no clause kept (or the wrong variable kept), the closure differs and the
    recompile check refuses; it never yields a program that behaves differently."""
    source = generated_function(CASES["set comprehension in a while loop"])
    monkeypatch.setattr(decompiler, "_unread_cells", lambda code: [])
    assert round_trip_generated(source, INPUTS).outcome == "refused"
    monkeypatch.setattr(decompiler, "_unread_cells", lambda code: ["a"])
    assert round_trip_generated(source, INPUTS).outcome == "refused"


_FOLDED = st.sampled_from(["(K if K else V)", "(V if 0 else K)", "(K or V)", "(0 and V)", "(K if 1 else V)"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=_FOLDED, kind=st.sampled_from(["[{e} for i in range(3){c}]", "{{{e} for i in range(3){c}}}",
                                            "{{i: {e} for i in range(3){c}}}", "({e} for i in range(3){c})"]),
       constant=st.integers(-2, 5), other=st.sampled_from(["a", "b", "i"]), clause=st.sampled_from(["", " if i", " if a"]),
       loop=st.booleans())
def test_comprehensions_with_folded_reads_round_trip_or_are_refused(shape, kind, constant, other, clause, loop):
    element = shape.replace("K", str(constant)).replace("V", other)
    expr = kind.format(e=element, c=clause)
    body = f"    y = len(list({expr}))\n"
    if loop:
        body = "    for j in range(2):\n" + body.replace("    ", "        ", 1)
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail
    if shape in ("(K if K else V)", "(K if 1 else V)") and constant and not loop:
        assert outcome.outcome == "ok", outcome.detail
