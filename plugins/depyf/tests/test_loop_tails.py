"""A ``while`` loop or an ``if`` at the end of a function. The implicit ``return None`` after it
has no line of its own, so the compiler copies it for each jump that reaches it: the loop's top test
jumps to one copy and its bottom test falls into another; an ``if`` nested in another's arm jumps
past that arm to a copy of its own. The copies are read as the function's implicit end (no
``return`` in the source), and a test spelled ``a or b`` repeats at the bottom with jumps in the
other direction. Each must round-trip, proven by the recompile check, or be refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skyplex_depyf
from skyplex_depyf.corpus import INPUTS, define_generated, round_trip_generated
from skyplex_depyf.decompiler import check_equivalent, decompile

# every body divides by a value that reaches zero on some inputs, so where the loop stops is seen
CASES = {
    "while ending the function": "    k = 0\n    while k < 3:\n        k += 1\n        y = 10 // (k - a)\n",
    "while whose break became a return": (
        "    k = 0\n    while k < b:\n        k += 1\n        y = 10 // (k - a)\n        if k > 2:\n            break\n"),
    "while ending an if arm": "    if a:\n        k = 0\n        while k < 3:\n            k += 1\n            y = 10 // (k - b)\n",
    "while ending a try body": ("    try:\n        k = 0\n        while k < 4:\n            k += 1\n"
                                "            y = 10 // (k - a)\n    except ZeroDivisionError:\n        pass\n"),
    "while with an or test": ("    k = 0\n    while k < a or k < b:\n        k += 1\n        y = 10 // (k - 3)\n"),
    "while with an is-not-None test": (
        "    k = a\n    while k is not None:\n        y = 10 // k\n        k = None if k > 2 else k + 1\n"),
    "while with an or test ending a for body": (
        "    for i in range(2):\n        k = 0\n        while k < a or k < b:\n            k += 1\n"
        "            y = 10 // (k - 3 - i)\n"),
    "while ending two nested if arms": (
        "    if a > 1:\n        if b > 1:\n            k = 0\n            while k < 3:\n                k += 1\n"
        "                y = 10 // (k - a)\n"),
    "if ending an if arm": "    if a > 1:\n        y = 10 // (b - 2)\n        if b > 1:\n            y = 10 // (a - 3)\n",
}


def _function(body: str) -> str:
    return "def generated(a, b):\n    y = 0\n" + body


@pytest.mark.parametrize("body", list(CASES.values()), ids=list(CASES))
def test_while_loop_ending_the_function_round_trips(body):
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_generator_ending_in_a_while_loop_round_trips():
    source = "def generated(a, b):\n    k = 0\n    while k < a + 2:\n        k += 1\n        yield k * b\n"
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome == "ok", outcome.detail


def test_the_source_ends_without_a_return_and_an_explicit_one_is_refused():
    """The copies exist only for an implicit return: the same source with ``return None`` spelled
    out compiles to one shared exit, and the verifier must tell the two apart."""
    fn = define_generated(_function(CASES["while ending the function"]))
    result = decompile(fn)
    assert result.ok, result.refusal
    assert "return" not in result.source
    explicit = result.source + "    return None\n"
    assert check_equivalent(fn.__code__, explicit) is not None


def test_a_loop_whose_exit_copy_is_also_reached_from_elsewhere_is_not_read_as_the_end():
    """``if a: while ...`` followed by an else arm: the tail is not only the loop's, and reading the
    loop as the function's end would fall into the else arm; it must round-trip or be refused."""
    body = ("    if a:\n        k = 0\n        while k < 3:\n            k += 1\n            y = 10 // (k - b)\n"
            "    else:\n        y = 1 // b\n")
    outcome = round_trip_generated(_function(body), INPUTS)
    assert outcome.outcome in ("ok", "refused"), outcome.detail


TESTS = ("k < {n}", "k < a or k < {n}", "k < {n} and k != b", "k != {n}")
BODIES = ("y = 10 // (k - a)", "if k > b:\n    break", "if k == a:\n    continue", "y += 1", "if b:\n    return k")


def _tail(draw, indent: str, depth: int) -> list[str]:
    """A function tail ending in a ``while`` loop, possibly inside an ``if`` arm, a ``try`` body or a
    ``for`` body, with a body of loop exits and statements."""
    wrap = draw(0, 3) if depth > 0 else 0
    if wrap == 1:
        return [indent + "if a > 1:"] + _tail(draw, indent + "    ", depth - 1)
    if wrap == 2:
        return ([indent + "try:"] + _tail(draw, indent + "    ", depth - 1)
                + [indent + "except ZeroDivisionError:", indent + "    y = -1"])
    if wrap == 3:
        return [indent + f"for i in range({draw(1, 2)}):"] + _tail(draw, indent + "    ", depth - 1)
    test = TESTS[draw(0, len(TESTS) - 1)].format(n=draw(0, 4))
    lines = [indent + "k = 0", indent + f"while {test}:", indent + "    k += 1"]
    for _ in range(draw(1, 2)):
        lines += [indent + "    " + line for line in BODIES[draw(0, len(BODIES) - 1)].splitlines()]
    if "k != " in test:  # make sure the loop ends
        lines += [indent + "    if k > 5:", indent + "        break"]
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_function_tails_ending_in_a_while_loop_round_trip_or_refuse(data):
    """Random functions ending in a ``while`` loop: decompiled and the same on every input, or
    refused; never silently different."""
    lines = _tail(lambda lo, hi: data.draw(st.integers(lo, hi)), "    ", 2)
    source = _function("\n".join(lines) + "\n")
    outcome = round_trip_generated(source, INPUTS)
    assert outcome.outcome in ("ok", "refused"), f"silently wrong: {outcome.detail}\n{source}"


SOURCE = Path(skyplex_depyf.__file__).resolve().parents[1]  # the checkout's src/, or site-packages


def _interpreter(version: str) -> str | None:
    """The CPython ``version`` binary: pyenv's, else one on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob(f"versions/{version}.*/bin/python{version}"))
    return str(found[-1]) if found else shutil.which(f"python{version}")


# run under another interpreter: round-trips each source given on the command line, judged by results
NEWER_CHECK = """
import json, sys
from skyplex_depyf.corpus import INPUTS, outcome_of
from skyplex_depyf.decompiler import decompile
out = []
for source in sys.argv[1:]:
    ns = {}
    exec(compile(source, "<case>", "exec", dont_inherit=True), ns)
    result = decompile(ns["generated"])
    if not result.ok:
        out.append("refused: " + result.refusal)
        continue
    rebuilt = {}
    exec(compile(result.source, "<decompiled>", "exec", dont_inherit=True), rebuilt)
    out.append(outcome_of(ns["generated"], INPUTS)(rebuilt["generated"]) or "ok")
print(json.dumps(out))
"""

NEWER_CASES = {  # 3.12+ threads the exit of a while loop ending a for body straight to the for loop's head
    "while ending a for body after a continue": (
        "    for i in range(3):\n        if b:\n            continue\n        k = 0\n        while k < a:\n"
        "            k += 1\n            y = 10 // (k - 2 - i)\n    return y\n"),
    "while ending an if arm in a for body": (
        "    for i in range(3):\n        if b:\n            k = 0\n            while k < a:\n"
        "                k += 1\n                y = 10 // (k - 2 - i)\n    return y\n"),
}


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_while_loops_ending_a_body_round_trip_on_newer_versions(version: str) -> None:
    path = _interpreter(version)
    if path is None:
        pytest.skip(f"CPython {version} is not installed")
    sources = [_function(body) for body in [*NEWER_CASES.values(), *CASES.values()]]
    env = dict(os.environ, PYTHONPATH=str(SOURCE), PYTHONHASHSEED="0")
    done = subprocess.run([path, "-c", NEWER_CHECK, *sources], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = dict(zip([*NEWER_CASES, *CASES], json.loads(done.stdout.strip().splitlines()[-1])))
    assert all(r == "ok" or r.startswith("refused") for r in results.values()), results  # never silently wrong
    assert {name: results[name] for name in NEWER_CASES} == {name: "ok" for name in NEWER_CASES}
