"""Set displays the compiler turned into frozenset constants: ``x in {1, 2}`` and ``for x in {1, 2}``
load one constant, which only a set display gives back (a ``frozenset({...})`` call is another
program, refused by the verifier); an explicit ``frozenset(...)`` call stays a call."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import check_equivalent, decompile

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "membership in a set display": "    if a in {1, 2, 'q'}:\n        y = 3\n",
    "not in, inside a generator expression's clause": "    z = sum(j for j in {7, 8} if j not in {8})\n",
    "loop over a set display": "    for j in {4, 5}:\n        x += j\n",
    "comprehension over a set display": "    y = [j * 2 for j in {4, 5}]\n",
    "an explicit frozenset call": "    y = a not in frozenset({1})\n",
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_set_displays_round_trip(body):
    outcome = round_trip_generated(generated_function(body, BODY), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_the_frozenset_call_spelling_is_refused():
    fn = define_generated(generated_function(CASES["membership in a set display"], BODY))
    result = decompile(fn)
    assert result.ok and "frozenset" not in result.source
    as_call = result.source.replace("in {", "in frozenset({").replace("}:", "}):")
    assert as_call != result.source and check_equivalent(fn.__code__, as_call) is not None
