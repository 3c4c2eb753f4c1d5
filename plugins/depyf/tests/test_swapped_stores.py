"""``a, b = x, y``: CPython 3.11 pushes both values, swaps them and stores, then its peephole pass
drops the SWAP and stores the names in reverse order (``STORE_FAST b; STORE_FAST a``). Read as two
statements the values would be evaluated in the wrong order; the run of stores is read as one
tuple assignment, proven by the recompile check."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf import executor as executor_module
from skyplex_depyf.corpus import INPUTS, generated_function, round_trip_generated
from skyplex_depyf.decompiler import decompile

CASES = {
    "two values": "    x, y = a + 1, b * 2\n",
    "swap": "    a, b = b, a\n",
    "three values": "    x, y, z = b, a - b, x + 1\n",
    "calls, evaluated in order": "    x, y = abs(a - 3), max(b, a)\n",
    "in a loop body": "    for i in range(3):\n        x, y = y + i, x - i\n",
    "after an if": "    if a > b:\n        x = 1\n    y, z = a // 1, b // 1\n",
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_tuple_assignments_without_their_swap_round_trip(body):
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_a_stdlib_function_with_such_an_assignment_round_trips():
    """difflib's ``la, lb = len(self.a), len(self.b)``."""
    result = decompile(difflib.SequenceMatcher.real_quick_ratio)
    assert result.ok, result.refusal
    assert "la, lb = len(self.a), len(self.b)" in result.source


def test_names_read_in_the_wrong_order_are_refused(monkeypatch):
    """Mutation: a rule that keeps the stores' order (``b, a = x, y``) gives a program that evaluates
    differently; the recompile check must refuse it."""
    original = executor_module.Executor.swapped_stores
    monkeypatch.setattr(executor_module.Executor, "swapped_stores",
                        lambda self, i, hi, stack: list(reversed(original(self, i, hi, stack))))
    for body in (CASES["two values"], CASES["three values"], CASES["calls, evaluated in order"]):
        assert round_trip_generated(generated_function(body), INPUTS).outcome == "refused"


_VALUE = st.sampled_from(["a", "b", "x", "y", "z", "a + 1", "b * 2", "abs(a)", "(a if b else x)", "3", "(x, y)[0]"])
_NAMES = st.permutations(["x", "y", "z", "a", "b"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=_NAMES, size=st.integers(2, 4), values=st.lists(_VALUE, min_size=4, max_size=4), loop=st.booleans())
def test_tuple_assignments_round_trip_or_are_refused(names, size, values, loop):
    line = f"{', '.join(names[:size])} = {', '.join(values[:size])}"
    body = f"    for i in range(2):\n        {line}\n" if loop else f"    {line}\n"
    outcome = round_trip_generated(generated_function(body), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail
    if not loop:
        assert outcome.outcome == "ok", outcome.detail
