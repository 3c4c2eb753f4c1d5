"""A value returned from inside a ``with`` body is loaded before ``__exit__`` runs, unless it is a
plain constant (loaded after). A constant loaded before must come from an expression the compiler
did not see as a constant (``5 if 1 else a``), so it is rendered in a form that stays unfolded."""

from __future__ import annotations

import pytest

from skyplex_depyf.corpus import INPUTS, round_trip_generated
from skyplex_depyf.decompiler import decompile

CASES = {
    "early return of a folded conditional expression": (
        "def generated(a, b):\n    with __import__('contextlib').nullcontext(a) as w:\n        if a:\n"
        "            return 5 if 1 else a\n        x = 2\n    return x\n"),
    "early return of a constant": (
        "def generated(a, b):\n    with __import__('contextlib').nullcontext(a) as w:\n        if a:\n"
        "            return 5\n        x = 2\n    return x\n"),
}


@pytest.mark.parametrize("source", list(CASES.values()), ids=list(CASES))
def test_returns_from_with_bodies_round_trip(source):
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_only_a_value_kept_aside_is_rendered_unfolded():
    texts = {}
    for name, source in CASES.items():
        namespace: dict = {}
        exec(source, namespace)
        texts[name] = decompile(namespace["generated"]).source
    assert "return (5 or 5)" in texts["early return of a folded conditional expression"]
    assert "return 5\n" in texts["early return of a constant"]
