"""A ``finally`` body holding a ``try`` of its own, copied by the compiler before a ``return``,
``break`` or ``continue`` of the outer try body: the copy carries the nested try's clean-up
(``POP_EXCEPT``), which is the copy's own and not a way out of an enclosing handler, so the copy is
recognised and skipped like any other; the recompile check proves it, since the source makes it
again. Never wrong: a copy that is not one is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex_depyf.corpus import INPUTS, generated_function, round_trip_generated

BODY = "    x = 0\n    y = 1\n    z = 2\n"
CASES = {
    "try/except/else nested in the finally body, return in the try": (
        "    if b:\n        try:\n            if a:\n                return max(b, 6)\n        finally:\n"
        "            x += 1\n            try:\n                y = 0 // b\n            except ZeroDivisionError:\n"
        "                y -= x\n            else:\n                z = 1\n            y *= 2\n"),
    "try/finally nested in a loop in the finally body, folded return": (
        "    try:\n        if a // -1:\n            return (8 and 3)\n    finally:\n        x = 1\n"
        "        while z < 3:\n            z += 1\n            try:\n                z *= z\n            finally:\n"
        "                x = y\n        y = 2\n"),
}


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_copies_holding_a_try_round_trip(body):
    outcome = round_trip_generated(generated_function(body, BODY), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


# none touches the loop counter: the loop always ends
STATEMENTS = ["x += 1", "y = 0 // b", "y -= a", "y = x", "x = (a, b)[0]"]


@st.composite
def nested_try(draw, indent: str) -> str:
    inner = indent + "    "
    first = draw(st.sampled_from(STATEMENTS))
    kind = draw(st.sampled_from(["except", "except-else", "finally"]))
    lines = [f"{indent}try:", f"{inner}{first}"]
    if kind == "finally":
        lines += [f"{indent}finally:", f"{inner}{draw(st.sampled_from(STATEMENTS))}"]
    else:
        lines += [f"{indent}except (ZeroDivisionError, TypeError):", f"{inner}{draw(st.sampled_from(STATEMENTS))}"]
        if kind == "except-else":
            lines += [f"{indent}else:", f"{inner}{draw(st.sampled_from(STATEMENTS))}"]
    return "\n".join(lines) + "\n"


@st.composite
def try_with_copied_finally(draw) -> str:
    leave = draw(st.sampled_from(["return a", "return (5 if 1 else a)", "break", "continue"]))
    in_loop = leave in ("break", "continue") or draw(st.booleans())
    indent = "        " if in_loop else "    "
    body = f"{indent}try:\n{indent}    if a:\n{indent}        {leave}\n{indent}    y += 1\n{indent}finally:\n"
    if draw(st.booleans()):
        body += f"{indent}    {draw(st.sampled_from(STATEMENTS))}\n"
    body += draw(nested_try(indent + "    "))
    if draw(st.booleans()):
        body += f"{indent}    {draw(st.sampled_from(STATEMENTS))}\n"
    if in_loop:
        body = "    k = 0\n    while k < 4:\n        k += 1\n" + body
    return body


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(try_with_copied_finally())
def test_copied_finally_bodies_round_trip_or_refuse(body):
    source = generated_function(body, BODY)
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome in ("ok", "refused"), f"silently wrong: {outcome.detail}\n{source}"
