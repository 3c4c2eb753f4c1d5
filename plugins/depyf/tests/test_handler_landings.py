"""Where 3.12/3.13's moved handlers go back (``landings.py``, hooked into ``layout.relayout``; the copies
of ``copies.share_exit_copies``; an inner clause's exit in ``jumps312.nested_clause_exits``): a ``try``
or ``with`` in a loop body (its handler kept in the loop, the loop's exit and ``break`` jumping past
it), a ``finally`` handler laid out after the handler of a statement in its body, the copy of a
``finally`` body ending in ``for`` loops, a ``finally`` body whose normal copy is empty, an except
clause's copy of the code after a ``try`` with an ``else`` clause, an inner ``except`` clause ending
in ``if c: return``, and loop exits (``loop_breaks.py``): a ``while`` loop always left by ``break``, a
``for`` loop exiting to a ``NOP``. Each interpreter judges the shapes in a subprocess
(``landings_child.py``; the decompiler reads the bytecode of the interpreter it runs in), every output
run on fixed inputs: a rule may only turn refusals into passes, never into wrong output, and each rule
turned off or broken makes its shape refused, never wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "landings_child.py"
VERSIONS = ["3.12", "3.13"]


def judged(version: str, sources: list[str], mutation: str = "none") -> dict:
    """The child's report under CPython ``version``: ``given`` (an outcome per source) and
    ``constructs`` (the outcome of each of its fixed shapes); skips where that interpreter is missing."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(sources), missing=pytest.skip)


_INNER = st.sampled_from(["pass", "x -= 1", "x = a + b"])
_EXIT = st.sampled_from(["none", "break", "continue", "if_break", "if_continue"])


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _loop(draw: st.DrawFn) -> list[str]:
    """A for loop whose body holds a try or with statement, maybe left by break or continue, maybe in
    an outer try statement with or without an else clause."""
    leave = draw(_EXIT)
    exits = {"none": [], "break": ["break"], "continue": ["continue"], "if_break": ["if i > b:", "    break"],
             "if_continue": ["if i > b:", "    continue"]}[leave]
    if draw(st.booleans()):
        name = draw(st.sampled_from(["", " as err"]))
        stmt = ["try:", "    x += b // i", *_indent(exits), f"except ZeroDivisionError{name}:", "    " + draw(_INNER)]
    else:
        stmt = ["with contextlib.nullcontext(i) as w:", *_indent(exits), "    x += w"]
    body = stmt + (["x += 1"] if draw(st.booleans()) else [])
    lines = ["for i in range(a % 4):", *_indent(body)]
    wrap = draw(st.sampled_from(["none", "try", "try_else", "try_as_else"]))
    if wrap != "none":
        name = " as e2" if wrap == "try_as_else" else ""
        lines = ["try:", *_indent(lines), f"except TypeError{name}:", "    pass"]
        lines += ["else:", "    x -= 2"] if wrap != "try" else []
    return lines


def _finally(draw: st.DrawFn) -> list[str]:
    """A try statement (with an except clause or not) whose finally body holds a with, a try, a for
    loop or nothing, then maybe more (maybe nested loops); maybe in an if's else arm or a loop."""
    inner = draw(st.sampled_from(["with", "try", "for", "pass"]))
    body = {"with": ["with contextlib.nullcontext(a) as w:", "    x += w"],
            "try": ["try:", "    x = len({0 for i in range(a % 4)}) or 9", "except ZeroDivisionError:", "    pass"],
            "for": ["for i in range(2):", "    pass"], "pass": ["pass"]}[inner]
    if draw(st.booleans()):
        body += draw(st.sampled_from([["x -= a"], ["for i in range(2):", "    pass"],
                                      ["for j in range(2):", "    for i in range(j):", "        pass"]]))
    lines = ["try:", "    x = a // b"]
    lines += ["except (ZeroDivisionError, TypeError):", "    pass"] if draw(st.booleans()) else []
    lines += ["finally:", *_indent(body)]
    wrap = draw(st.sampled_from(["none", "arm", "loop"]))
    if wrap == "arm":
        lines = ["if a > b:", "    pass", "else:", *_indent(lines)]
    elif wrap == "loop":
        lines = ["for k in range(a % 3):", *_indent(lines)]
    return lines


def _clause(draw: st.DrawFn) -> list[str]:
    """An except clause (with an as name or not) ending in a try statement whose own clause ends in
    ``if c: return``."""
    name = draw(st.sampled_from(["", " as err"]))
    leave = draw(st.sampled_from(["return 8", "return x", "return a, b"]))
    return ["try:", "    x = a // b", f"except ZeroDivisionError{name}:", "    try:", "        x += b // a",
            "    except ZeroDivisionError:", "        if a < b:", "            " + leave]


def _breaking_while(draw: st.DrawFn) -> list[str]:
    """A while loop whose body ends in break (maybe after an if leaving it too), maybe in an if arm
    with an else or elif arm, maybe in a for loop."""
    body = [f"x += {draw(st.sampled_from(['a', 'b', '1']))}"]
    if draw(st.booleans()):
        body += [f"if {draw(st.sampled_from(['a', 'b > x', 'x']))}:", "    " + draw(st.sampled_from(["break", "x -= 1"]))]
    lines = [f"while {draw(st.sampled_from(['a', 'a > b', 'x < 3']))}:", *_indent(body + ["break"])]
    arm = draw(st.sampled_from(["none", "if", "if_else", "elif"]))
    if arm == "if":
        lines = ["if b:", *_indent(lines)]
    elif arm == "if_else":
        lines = ["if b:", *_indent(lines), "else:", "    x = a"]
    elif arm == "elif":
        lines = ["if b > 3:", "    pass", "elif b:", *_indent(lines), "else:", "    x = a"]
    if draw(st.booleans()):
        lines = ["for i in range(a % 3):", *_indent(lines)]
    return lines


def _folded_for(draw: st.DrawFn) -> list[str]:
    """A for loop left by break in the first arm of an if of a constant the compiler folds, with an
    else arm it drops."""
    test = draw(st.sampled_from(["-2", "5", "not 0", "3 if 1 else a"]))
    body = [f"if {draw(st.sampled_from(['a > i', 'b', 'x']))}:", "    break", f"x = {draw(st.sampled_from(['a', 'i']))}"]
    lines = [f"if {test}:", "    for i in range(a % 4):", *_indent(_indent(body)), "else:", "    x -= a"]
    return lines if draw(st.booleans()) else ["for j in range(2):", *_indent(lines)]


@st.composite
def _functions(draw: st.DrawFn) -> str:
    """One of the shapes above, then a tail (maybe none: the statement ends the function)."""
    lines = draw(st.sampled_from([_loop, _finally, _clause, _breaking_while, _folded_for]))(draw)
    tail = draw(st.sampled_from([[], ["return x"], ["x += 2", "return a, x"]]))
    return "def f(a, b):\n    import contextlib\n    x = 0\n" + "".join(f"    {line}\n" for line in lines + tail)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=12, max_size=12))
def test_drawn_shapes_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        outcomes = judged(version, sources)["given"]
        assert [(source, o) for source, o in zip(sources, outcomes) if o.startswith("wrong")] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_rules_read_their_shapes(version: str) -> None:
    constructs = judged(version, [])["constructs"]
    assert {name: o for name, o in constructs.items() if o != "ok"} == {}


# each rule turned off: the shapes it reads are refused again (some read without it on 3.12)
OFF = {
    "loop_groups_off": {"3.12": {"with_break_in_loop", "try_in_loop_ending_try"},
                        "3.13": {"with_break_in_loop", "try_in_loop_ending_try", "try_in_loop_in_else_clause"}},
    "finally_tails_off": {"3.12": {"finally_holding_with_after_except"},
                          "3.13": {"finally_holding_with_after_except"}},
    "own_back_jump_off": {"3.12": {"finally_holding_try_then_loop", "finally_ending_in_nested_loops"},
                          "3.13": {"finally_holding_try_then_loop", "finally_ending_in_nested_loops"}},
    "exit_copies_at_end_only": {"3.12": {"try_in_loop_try_else"}, "3.13": {"try_in_loop_try_else"}},
    "clause_return_exits_off": {"3.12": set(), "3.13": {"clause_try_ending_in_return"}},
    "breaking_whiles_off": {"3.12": {"while_always_breaking"},
                            "3.13": {"while_always_breaking", "while_always_breaking_in_arm"}},
    "exit_nops_off": {"3.12": {"for_break_before_folded_else"}, "3.13": {"for_break_before_folded_else"}},
    "empty_finally_off": {"3.12": {"empty_finally_in_loop"}, "3.13": {"empty_finally_in_loop"}},
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mutation", sorted(OFF))
def test_each_rule_off_refuses_its_shapes_never_wrong(version: str, mutation: str) -> None:
    constructs = judged(version, [], mutation)["constructs"]
    assert {name for name, o in constructs.items() if o.startswith("refused")} == OFF[mutation][version]
    assert [o for o in constructs.values() if o.startswith("wrong")] == []


# each rule broken (doing its move in the wrong place): refused, never wrong
BROKEN = {"loop_groups_everywhere": "finally_holding_try_then_loop", "own_back_jump_late": "finally_holding_try_then_loop",
          "exit_copies_one_further": "try_in_loop_try_else", "breaking_whiles_past_exit": "while_always_breaking",
          "exit_nops_early": "for_break_before_folded_else", "any_span_breaks": "case_running_into_return"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mutation", sorted(BROKEN))
def test_a_broken_rule_is_refused_never_wrong(version: str, mutation: str) -> None:
    constructs = judged(version, [], mutation)["constructs"]
    assert constructs[BROKEN[mutation]].startswith("refused")
    assert [o for o in constructs.values() if o.startswith("wrong")] == []
