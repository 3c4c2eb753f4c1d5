"""The 3.12/3.13 jump rules of ``jumps312.py`` (an arm's boolean operator, an arm's closing jump after
``if c: return``, folded statements whose line keeps a jump or a return apart, a for loop's copied
closing back-jump, a returned folded constant, an ``except`` clause ending in a ``try`` statement, a
``try`` body ending in ``else: pass``)
and 3.13's ``not not x`` (``streams.double_negation``),
searched with a grammar of the shapes they read: each interpreter judges the drawn functions in a
subprocess (``jumps312_child.py``; the decompiler reads the bytecode of the interpreter it runs in),
every output run on fixed inputs. A rule may only turn refusals into passes, never into wrong output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "jumps312_child.py"
VERSIONS = ["3.12", "3.13"]


def judged(version: str, sources: list[str], mutation: str = "none") -> list[str]:
    """The child's outcome for each of ``sources`` under CPython ``version``; skips where that
    interpreter is not installed."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(sources), missing=pytest.skip)["given"]


_NAME = st.sampled_from(["a", "b", "x", "z"])
_TEST = st.one_of(_NAME, st.builds("{} > {}".format, _NAME, _NAME), st.builds("not ({} and -1)".format, _NAME),
                  st.builds("max({}, {})".format, _NAME, _NAME))
_FOLDED = st.sampled_from(["5", "not 6", "6 if 5 else 9", "0"])  # tests the compiler folds away
_VALUE = st.one_of(_NAME, st.builds("({} and 4) if {} else ({} or -3)".format, _NAME, _TEST, _NAME),
                   st.builds("not (not {})".format, _NAME), st.builds("{} + 1".format, _NAME))
_LEAVE = st.sampled_from(["return x", "return 1 >= b", "return (-1 and 5)", "return 5"])


@st.composite
def _arm(draw: st.DrawFn, depth: int, in_loop: bool) -> list[str]:
    """An if arm's statements: assignments, then maybe a leaving test, a while loop or a folded if."""
    pad = "    "
    lines = [f"{draw(_NAME)} = {draw(_VALUE)}" for _ in range(draw(st.integers(0, 2)))]
    tail = draw(st.sampled_from(["none", "leave", "while", "folded", "break"] if in_loop else
                                ["none", "leave", "while", "folded"]))
    if tail == "leave":
        lines += [f"if {draw(_TEST)}:", pad + draw(_LEAVE)]
    elif tail == "while":
        lines += ["k = 0", "while k < a % 3:", pad + "k += 1", pad + f"x += {draw(_NAME)}"]
    elif tail == "folded":
        lines += [f"if {draw(_FOLDED)}:", pad + draw(_LEAVE)]
    elif tail == "break":
        lines += [f"if {draw(_TEST)}:", pad + "break"]
    if depth and draw(st.booleans()):
        lines += _if_lines(draw, depth - 1, in_loop)
    return lines or ["pass"]


def _if_lines(draw: st.DrawFn, depth: int, in_loop: bool) -> list[str]:
    pad = "    "
    lines = [f"if {draw(st.one_of(_TEST, _FOLDED))}:"] + [pad + s for s in draw(_arm(depth, in_loop))]
    for _ in range(draw(st.integers(0, 1))):
        lines += [f"elif {draw(st.one_of(_TEST, _FOLDED))}:"] + [pad + s for s in draw(_arm(depth, in_loop))]
    if draw(st.booleans()):
        lines += ["else:"] + [pad + s for s in draw(_arm(depth, in_loop))]
    return lines


@st.composite
def _functions(draw: st.DrawFn) -> str:
    """Nested if/elif/else statements whose arms end in the shapes the rules read, maybe in a for loop,
    then a tail the arms' jumps go to."""
    pad = "    "
    loop = draw(st.booleans())
    lines = _if_lines(draw, 1, loop)
    if loop:
        lines = ["for i in range(a % 4):"] + [pad + s for s in lines]
    tail = draw(st.sampled_from([["return a, b, x, z"], [f"if {draw(_FOLDED)}:", pad + "return x", "return a, b"],
                                 ["return (-1 and 5)"], ["x = not (not z)", "return x, z"]]))
    return "def f(a, b):\n    x = 0\n    z = 2\n" + "".join(f"    {line}\n" for line in lines + tail)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=10, max_size=10))
def test_drawn_functions_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        outcomes = judged(version, sources)
        assert [(source, o) for source, o in zip(sources, outcomes) if o.startswith("wrong")] == []


_CLAUSE = st.sampled_from(["ZeroDivisionError", "(ZeroDivisionError, TypeError)"])
_INNER = st.sampled_from(["b = a - 1", "pass", "x = a + b"])


@st.composite
def _clause_functions(draw: st.DrawFn) -> str:
    """An ``except`` clause (with an ``as`` name or not) whose body ends in a ``try: ... except ...:``
    statement (the same, maybe with an ``else`` clause), maybe in an ``if`` arm or a for loop whose
    handler may break or continue, then a tail: the shapes :func:`.jumps312.nested_clause_exits` reads."""
    pad = "    "
    loop = draw(st.booleans())
    name = lambda: draw(st.sampled_from(["", " as err", " as e2"]))  # noqa: E731
    inner = [draw(_INNER)] + (["break"] if loop and draw(st.booleans()) else [])
    lines = ["try:", pad + "b = a // (b % 3)", f"except {draw(_CLAUSE)}{name()}:"] + [pad + s for s in inner]
    if draw(st.booleans()):
        lines += ["else:", pad + "x += 1"]
    lines = [f"x = {draw(_NAME)}"] * draw(st.integers(0, 1)) + lines
    lines = ["try:", pad + "b = b // (a % 2)", f"except {draw(_CLAUSE)}{name()}:"] + [pad + s for s in lines]
    if draw(st.booleans()):
        lines += ["else:", pad + "x -= 1"]
    outer = "for j in range(3):" if loop else draw(st.sampled_from(["", "if a:"]))
    if outer:
        lines = [outer] + [pad + s for s in lines]
    tail = draw(st.sampled_from([["b += 1", "return b"], ["return a, b, x"]]))
    return "def f(a, b):\n    x = 0\n" + "".join(f"    {line}\n" for line in lines + tail)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_clause_functions(), min_size=10, max_size=10))
def test_drawn_clauses_ending_in_try_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        outcomes = judged(version, sources)
        assert [(source, o) for source, o in zip(sources, outcomes) if o.startswith("wrong")] == []
        # the broken rule (its put-back jump one instruction off) is refused, never wrong
        broken = judged(version, sources, "nested_clause_exits")
        assert [(source, o) for source, o in zip(sources, broken) if o.startswith("wrong")] == []


@st.composite
def _else_pass_functions(draw: st.DrawFn) -> str:
    """A ``try`` body ending in ``if c: ... else: pass`` (maybe with an ``elif``), with an ``except``
    clause, a ``finally`` clause or both, maybe in an ``if`` arm: the shapes where
    :func:`.layout._past_jump_over` keeps the body's ``else: pass`` before the handler."""
    pad = "    "
    body = [f"if {draw(_TEST)}:", pad + draw(st.sampled_from(["x = a // b", "pass", "x += 1"]))]
    if draw(st.booleans()):
        body += [f"elif {draw(_TEST)}:", pad + "x = b // a"]
    body += ["else:", pad + "pass"]
    lines = ["try:"] + [pad + s for s in body]
    clauses = draw(st.sampled_from(["except", "finally", "both"]))
    if clauses != "finally":
        lines += [f"except {draw(_CLAUSE)}{draw(st.sampled_from(['', ' as err']))}:", pad + draw(_INNER)]
    if clauses != "except":
        lines += ["finally:", pad + "x += 1"]
    if draw(st.booleans()):
        lines = [f"if {draw(_TEST)}:", pad + "x = 3", "else:"] + [pad + s for s in lines]
    tail = draw(st.sampled_from([["return x"], ["return a, b, x"], []]))
    return "def f(a, b):\n    x = 0\n" + "".join(f"    {line}\n" for line in lines + tail)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_else_pass_functions(), min_size=10, max_size=10))
def test_drawn_try_bodies_ending_in_else_pass_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ("none", "else_pass_anywhere"):
            outcomes = judged(version, sources, mutation)
            assert [(source, o) for source, o in zip(sources, outcomes) if o.startswith("wrong")] == []


#: one function per rule, each refused by 3.12 or 3.13 without its rule (versions_child's constructs)
READ = {
    "or_pops_to_arm_ends": ("def f(a, b):\n    k = 0\n    while k < 3:\n        k += 1\n"
                            "        a = (a and 4) if b > k else (b or -3)\n    return a, b, k\n"),
    "kept_folded_statements": ("def f(a, b):\n    x = 0\n    if a > b:\n        while a > 0:\n            a -= 3\n"
                               "    elif b:\n        x = 2\n    if 5 if 6 else 9:\n        return x\n    return a, b\n"),
    "loop_end_copies": ("def f(a, b):\n    z = 0\n    for i in range(a % 5):\n        if b < 2:\n            z = 1\n"
                        "        elif i:\n            k = 0\n            while k < 2:\n                k += 1\n"
                        "        else:\n            z -= b\n    return z\n"),
    "folded_constant_returns": ("def f(a, b):\n    for i in range(a % 4):\n        b += i\n        break\n"
                                "    return (-1 and 5)\n"),
    "nested_clause_exits": ("def f(a, b):\n    try:\n        b = b // (a % 2)\n"
                            "    except (ZeroDivisionError, TypeError) as err:\n        try:\n"
                            "            b = a // (b % 3)\n        except ZeroDivisionError:\n"
                            "            pass\n    return b\n"),
    "else_pass_before": ("def f(a, b):\n    x = 0\n    try:\n        if a > b:\n            x = a // b\n"
                         "        else:\n            pass\n    except ZeroDivisionError:\n        x = 2\n"
                         "    finally:\n        x += 1\n    return x\n"),
}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_rules_read_their_shapes(version: str) -> None:
    assert judged(version, list(READ.values())) == ["ok"] * len(READ)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mutation", ["or_pop_arm_ends", "folded_statements", "loop_end_copies",
                                      "folded_constant_returns", "folded_arm_ends", "negated_arms",
                                      "nested_clause_exits", "else_pass_anywhere"])
def test_a_broken_rule_on_drawn_shapes_is_refused_never_wrong(version: str, mutation: str) -> None:
    # the grammar's fixed shapes and the rule's own construct under the broken rule: nothing wrong
    outcomes = judged(version, list(READ.values()), mutation)
    assert [o for o in outcomes if o.startswith("wrong")] == []
