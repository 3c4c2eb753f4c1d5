"""``assert`` statements whose test the compiler turned around: ``assert not a`` jumps past the raise
when ``a`` is false, ``assert a is None`` when it is None. The statement is read from the jump the
compiler kept (what holds when it is taken), proven by the recompile check."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf.corpus import define_generated, generated_function, round_trip_generated
from skyplex_depyf.decompiler import check_equivalent, decompile

INPUTS = [(0, 0), (1, 2), (None, 5), (7, None), (4, 4), (0, None)]

CASES = {
    "assert not": "    assert not (a == 7)\n",
    "assert not with a message": "    assert not b == 2, 'b is two'\n",
    "assert is None": "    if a is None:\n        x = 1\n    assert b is not None\n",
    "assert in an elif arm": ("    if not a:\n        x = 0\n    elif b:\n        x = 1\n        assert not (a == 7)\n"
                              "    else:\n        x = 2\n"),
    "assert in a loop": "    for i in range(2):\n        assert not (a == 4 and i), i\n        y += i\n",
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_turned_around_asserts_round_trip(body):
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_the_assert_keeps_its_sense():
    """Mutation: the same source with the assertion's sense flipped compiles to other jumps, so
    the recompile check tells a wrong reading from the right one."""
    fn = define_generated(generated_function(CASES["assert in an elif arm"]))
    result = decompile(fn)
    assert result.ok, result.refusal
    assert "assert not a == 7" in result.source or "assert not (a == 7)" in result.source
    flipped = result.source.replace("assert not ", "assert ")
    assert check_equivalent(fn.__code__, flipped) is not None


_TEST = st.sampled_from(["a", "not a", "a is None", "a is not None", "not (a == b)", "a == b", "not a or b"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(test=_TEST, message=st.booleans(), inside=st.sampled_from(["", "if", "elif", "for"]))
def test_asserts_round_trip_or_are_refused(test, message, inside):
    statement = f"assert {test}" + (", 'message'" if message else "")
    if inside == "if":
        body = f"    if b:\n        x = 1\n        {statement}\n    else:\n        x = 2\n"
    elif inside == "elif":
        body = f"    if not b:\n        x = 1\n    elif a:\n        x = 3\n        {statement}\n    else:\n        x = 2\n"
    elif inside == "for":
        body = f"    for i in range(2):\n        {statement}\n        y += i\n"
    else:
        body = f"    {statement}\n"
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail
    if test in ("a", "not a", "a is None", "a is not None") and inside != "for":
        assert outcome.outcome == "ok", outcome.detail
