"""Tuple targets inside tuple targets (``for i, (a, b) in ...``, ``(a, (b, c)), d = ...``)."""

from __future__ import annotations

import calendar

from skyplex_depyf.corpus import round_trip_stdlib
from skyplex_depyf.decompiler import check_equivalent, decompile


def nested(xs):
    out = []
    for i, (y, m, d) in enumerate(xs):
        out.append(y * i + m - d)
    pair = ((xs[0][0], (xs[1][0], 5)), 6)
    (a, (b, c)), e = pair
    return out, a, b, c, e


def test_nested_targets_round_trip_and_behave_the_same():
    result = decompile(nested)
    assert result.ok, result.refusal
    namespace: dict = {}
    exec(result.source, namespace)
    data = [(1, 2, 3), (4, 5, 6), (7, 8, 9)]
    assert namespace["nested"](data) == nested(data)
    swapped = result.source.replace("(y, m, d)", "(m, y, d)")
    assert swapped != result.source and check_equivalent(nested.__code__, swapped) is not None


def test_stdlib_method_with_a_nested_loop_target_is_exact():
    outcome = round_trip_stdlib("calendar:Calendar.itermonthdays4", calendar.Calendar.itermonthdays4)
    assert outcome.outcome == "ok", outcome.detail
