"""Comprehension ``if`` clauses the compiler folded: ``if i or 0`` leaves a test that jumps to the
element when true and an unconditional jump back to the loop (read as ``if not i: continue``), and a
conditional expression as a clause's test must be parenthesised to be valid source."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import check_equivalent, decompile

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "clause ending in a false constant": "    x = sum([(2, -2)[0] for i in range(3) if (i or 0)])\n",
    "clause ending in a false constant, set of a name": "    y = len({x for i in range(4) if (a or 0)})\n",
    "conditional expression as the clause": (
        "    x = sum([a ^ x for i in range(3) if (a if i else z)])\n"),
    "conditional expression as the clause of a generator expression": (
        "    y = sum(i for i in range(4) if (i if b else a))\n"),
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_clauses_round_trip(body):
    outcome = round_trip_generated(generated_function(body, BODY), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_clause_without_the_folded_constant_is_another_program():
    """``if i`` alone jumps back when false: the verifier refuses it in place of ``if i or 0``."""
    fn = define_generated(generated_function(CASES["clause ending in a false constant"], BODY))
    result = decompile(fn)
    assert result.ok and " or 0" in result.source
    bare = result.source.replace("if (not (not i)) or 0", "if i")
    assert bare != result.source and check_equivalent(fn.__code__, bare) is not None
