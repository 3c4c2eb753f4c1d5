"""The decompiler's last readings (``empty_arms.last_readings``), tried when every other reading was
refused by the recompile check: the function's final ``return None`` left implicit (CPython 3.13
copies a short implicit end into an ``if`` arm, where a written-out ``return None``, a line of its
own, keeps the end one block), and the else-clause reading: after a ``try`` whose ``except`` clauses
all leave, 3.12 and 3.13 lay out ``else: C`` and ``C`` after the statement differently (the clause's
handler is emitted after the handlers inside ``C`` only when ``C`` is its ``else`` clause), while the
version rewrites make both read alike; the decompiler then tries the code after such a ``try`` as its
``else`` clause. Each try is proven by the exact recompile check. Each interpreter runs
``empty_arms_child.py`` in a subprocess; every output is judged by running it, and each rule, broken
on purpose, must only be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "empty_arms_child.py"
VERSIONS = ["3.11", "3.12", "3.13"]
LATER = ["3.12", "3.13"]  # the versions the reading is for
ELSE_CLAUSES = ["else_try", "else_try_raise", "else_try_end"]
CONTROL = "after_try"  # the same statements after the try, not in an else clause
IMPLICIT_ENDS = ["implicit_if_else", "implicit_pass_elif", "implicit_ternary"]
EXPLICIT = "explicit_if_else"  # the same function with ``return None`` written out


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


def _wrong(report: dict) -> list:
    return ([(n, o) for n, o in report["constructs"].items() if o.startswith("wrong")]
            + [o for o in report["given"] if o.startswith("wrong")])


def _else_clauses(text: str | None) -> int:
    """How many ``else:`` lines open a block that is no ``pass``."""
    lines = [line.strip() for line in (text or "").splitlines()]
    return sum(a == "else:" and b != "pass" for a, b in zip(lines, lines[1:]))


@pytest.mark.parametrize("version", VERSIONS)
def test_else_clauses_are_read_and_the_control_keeps_none(version: str) -> None:
    report = run_child(version)
    assert {n: report["constructs"][n] for n in ELSE_CLAUSES + [CONTROL]} == {n: "ok" for n in ELSE_CLAUSES + [CONTROL]}
    assert all(_else_clauses(report["written"][name]) >= 1 for name in ELSE_CLAUSES)
    assert _else_clauses(report["written"][CONTROL]) == 0


@pytest.mark.parametrize("version", LATER)
def test_without_the_reading_the_else_clauses_are_refused(version: str) -> None:
    broken = run_child(version, mutation="clauses_never")
    assert _wrong(broken) == []
    assert all(broken["constructs"][name].startswith("refused") for name in ELSE_CLAUSES)
    assert broken["constructs"][CONTROL] == "ok"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_such_try_given_an_else_clause_is_refused_never_wrong(version: str) -> None:
    broken = run_child(version, mutation="clauses_always")
    assert _wrong(broken) == []
    assert broken["constructs"][CONTROL].startswith("refused")


@pytest.mark.parametrize("version", VERSIONS)
def test_implicit_ends_are_read_and_the_written_return_kept(version: str) -> None:
    report = run_child(version)
    names = IMPLICIT_ENDS + [EXPLICIT]
    assert {n: report["constructs"][n] for n in names} == {n: "ok" for n in names}
    assert "return None" in report["written"][EXPLICIT]
    if version == "3.13":
        assert all("return" not in report["written"][name] for name in IMPLICIT_ENDS)


def test_without_the_implicit_end_3_13_refuses_it() -> None:
    broken = run_child("3.13", mutation="implicit_never")
    assert _wrong(broken) == []
    assert all(broken["constructs"][name].startswith("refused") for name in IMPLICIT_ENDS)
    assert broken["constructs"][EXPLICIT] == "ok"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_final_return_left_implicit_is_refused_never_wrong(version: str) -> None:
    broken = run_child(version, mutation="implicit_always")
    assert _wrong(broken) == []
    if version == "3.13":
        assert broken["constructs"][EXPLICIT].startswith("refused")


_STMT = st.sampled_from(["z += 1", "z = a // b", "z *= b // (a - 1)", "z -= 2", "z = 5"])
_PAD = "    "


@st.composite
def _tries(draw: st.DrawFn, in_loop: bool, depth: int) -> list[str]:
    """A try statement whose except clauses leave (or, now and then, fall through), with or without
    an else clause, each block maybe holding another such statement."""
    leaves = ["return z", "return 0", "raise ValueError(a)"] + (["continue", "break"] if in_loop else [])
    lines = ["try:", _PAD + draw(_STMT)]
    named = draw(st.booleans())
    lines.append("except ZeroDivisionError as err:" if named else "except ZeroDivisionError:")
    if draw(st.booleans()):
        lines.append(_PAD + draw(_STMT))
    if draw(st.integers(0, 5)):  # mostly a clause that leaves
        lines.append(_PAD + draw(st.sampled_from(leaves)))
    elif len(lines) == 3:
        lines.append(_PAD + "pass")
    if draw(st.booleans()):
        lines += ["else:", _PAD + draw(_STMT)]
        if depth > 0 and draw(st.booleans()):
            lines += [_PAD + line for line in draw(_tries(in_loop, depth - 1))]
    if depth > 0 and draw(st.booleans()):
        lines += draw(_tries(in_loop, depth - 1))
    elif draw(st.booleans()):
        lines.append(draw(_STMT))
    return lines


@st.composite
def _functions(draw: st.DrawFn) -> str:
    in_loop = draw(st.booleans())
    body = draw(_tries(in_loop, 1))
    lines = ["for i in range(3):"] + [_PAD + line for line in body] if in_loop else body
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines) + "    return z\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=10, max_size=10))
def test_drawn_tries_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ["none", "clauses_always"] + (["clauses_never"] if version in LATER else []):
            report = run_child(version, sources, mutation)
            assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == []


_ARM = st.sampled_from(["pass", "z = 2", "z = 2 if b else 3", "a = b"])


@st.composite
def _ends(draw: st.DrawFn) -> str:
    """A function ending in an if statement (elif and else arms maybe) and maybe a statement, its
    ``return None`` written out now and then."""
    lines = [f"if {draw(st.sampled_from(['a', 'b', 'a > 2']))}:", _PAD + draw(_ARM)]
    for _ in range(draw(st.integers(0, 1))):
        lines += [f"elif {draw(st.sampled_from(['b', 'z']))}:", _PAD + draw(_ARM)]
    if draw(st.booleans()):
        lines += ["else:", _PAD + draw(_ARM)]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["y = a", "b = z", "z += 1"])))
    if draw(st.integers(0, 3)) == 0:
        lines.append("return None")
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_ends(), min_size=10, max_size=10))
def test_drawn_function_ends_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        report = run_child(version, sources)
        assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == []
        broken = run_child(version, sources, "implicit_always")
        assert [(s, o) for s, o in zip(sources, broken["given"]) if o.startswith("wrong")] == []


def test_the_grammar_draws_what_the_reading_is_for() -> None:
    # a shape the grammar draws: read on every version, refused on 3.12+ without the reading
    source = ("def f(a, b):\n    z = 1\n    try:\n        z = a // b\n    except ZeroDivisionError:\n"
              "        return 0\n    else:\n        z += 1\n        try:\n            z = 5\n"
              "        except ZeroDivisionError:\n            z -= 2\n    return z\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
    for version in LATER:
        assert run_child(version, [source], mutation="clauses_never")["given"][0].startswith("refused")


def test_the_ends_grammar_draws_what_the_implicit_end_is_for() -> None:
    source = "def f(a, b):\n    z = 1\n    if a:\n        pass\n    else:\n        z = 2 if b else 3\n    y = a\n"
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
    assert run_child("3.13", [source], mutation="implicit_never")["given"][0].startswith("refused")
