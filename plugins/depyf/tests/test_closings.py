"""3.12/3.13 rules of ``closings``: a ``for`` loop's body ending in ``if c: <exit>`` whose threaded test
the compiler left out of the exception table (``closed_loop_bodies``), and 3.13's folded constant
tests (``folded_tests``). Each interpreter runs ``closings_child.py`` in a subprocess (the decompiler
reads the bytecode of the interpreter it runs in), with only the plugin's source on its path. Every
output is judged by running it; each rule, broken on purpose, must only be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "closings_child.py"
VERSIONS = ["3.12", "3.13"]

#: the child's constructs by the rule that reads them (see closings_child.py)
THREADED = ["break_ending_generator_loop", "and_break_ending_generator_loop", "elif_return_ending_generator_loop",
            "break_ending_loop_in_try_body", "yielding_break_ending_generator_loop", "elif_ending_generator_loop",
            "elif_yield_from_ending_generator_loop",
            "continue_in_middle_of_generator_loop"]
FOLDED = ["folded_if_ending_elif_arm", "folded_if_ending_loop_body", "folded_or_in_conditional_value"]


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    """The child's report under CPython ``version`` on ``sources`` (its own constructs when none are
    given); skips where that interpreter is not installed."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


def wrong(report: dict) -> list:
    return ([(name, o) for name, o in report["constructs"].items() if o.startswith("wrong")]
            + [o for o in report["given"] if o.startswith("wrong")])


@pytest.fixture(scope="module", params=VERSIONS)
def healthy(request: pytest.FixtureRequest) -> dict:
    return run_child(request.param)


def test_every_construct_round_trips(healthy: dict) -> None:
    assert {name: o for name, o in healthy["constructs"].items() if o != "ok"} == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_without_the_rules_their_constructs_are_refused(version: str) -> None:
    off = run_child(version, mutation="off")
    assert wrong(off) == []
    needed = THREADED + (FOLDED if version == "3.13" else [])  # 3.12 covers a folded test's jump
    assert {name: o for name, o in off["constructs"].items() if name in needed and not o.startswith("refused")} == {}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mutation", ["covered", "early"])
def test_a_misplaced_closing_back_jump_is_refused_never_wrong(version: str, mutation: str) -> None:
    broken = run_child(version, mutation=mutation)
    assert wrong(broken) == []
    assert all(broken["constructs"][name].startswith("refused") for name in THREADED)
    if mutation == "covered":  # a continue written in the source, read as a threaded test
        assert broken["constructs"]["continue_then_break_ending_generator_loop"].startswith("refused")


def test_a_folded_test_put_anywhere_is_refused_never_wrong() -> None:
    broken = run_child("3.13", mutation="fold_anywhere")
    assert wrong(broken) == []
    assert broken["constructs"]["folded_if_ending_elif_arm"].startswith("refused")
    assert all(broken["constructs"][name].startswith("refused") for name in THREADED)


_STMT = st.sampled_from(["z += i", "z -= 1", "z = z * 2 - b", "z += a"])
_TEST = st.sampled_from(["z > a", "a and z > b", "b or z > 5", "not z", "z == b", "a > z and b < z", "b"])
_EXIT = st.sampled_from(["break", "z += 3\nbreak", "return", "raise ValueError", "z = -z\nbreak", "z += 2"])
_FOLDED = st.sampled_from(["if not 6:\n    z = 7", "if 0:\n    pass", "z = (5 or b) if a else z"])


@st.composite
def _loops(draw: st.DrawFn) -> str:
    """A for loop (in a generator, or in a try body) whose body ends in ``if <test>: <arm>`` (or an
    ``elif``), the arm leaving the loop or falling into its end, maybe after a ``continue`` in the
    middle or a folded statement."""
    pad = "    "
    body = [draw(_STMT)]
    if draw(st.booleans()):
        body += ["if a > i:", pad + "continue"]
    if draw(st.booleans()):
        body += draw(_FOLDED).split("\n")
    body += [draw(_STMT)] * draw(st.integers(0, 1))
    if draw(st.booleans()):  # the test is an elif's
        body += [f"if {draw(_TEST)}:", pad + draw(st.sampled_from(["pass", "z -= 2"]))]
        body += [f"elif {draw(_TEST)}:"] + [pad + line for line in draw(_EXIT).split("\n")]
    else:
        body += [f"if {draw(_TEST)}:"] + [pad + line for line in draw(_EXIT).split("\n")]
    loop = ["for i in range(4):"] + [pad + line for line in body]
    if draw(st.booleans()):
        lines = loop + ["yield z"]
    else:
        lines = (["try:"] + [pad + line for line in loop] + [pad + "z = -z", "except ValueError:", pad + "z = 9"]
                 + ["return z"])
    return "def f(a, b):\n    z = 0\n" + "".join(f"    {line}\n" for line in lines)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_loops(), min_size=8, max_size=8))
def test_drawn_loop_ends_are_read_and_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        report = run_child(version, sources)
        assert [(s, o) for s, o in zip(sources, report["given"]) if o != "ok"] == []
        for mutation in ("covered", "early") + (("fold_anywhere",) if version == "3.13" else ()):
            assert wrong(run_child(version, sources, mutation=mutation)) == []


def test_the_grammar_draws_what_the_rules_read() -> None:
    source = ("def f(a, b):\n    z = 0\n    for i in range(4):\n        z += i\n        if not 6:\n"
              "            z = 7\n        if a and z > b:\n            break\n    yield z\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
        assert run_child(version, [source], mutation="off")["given"][0].startswith("refused")
