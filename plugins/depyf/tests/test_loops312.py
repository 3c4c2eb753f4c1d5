"""3.12/3.13 flow rules (``tails.share_clause_exits`` merging only the exit copies of one ``except``
clause): each interpreter runs ``loops312_child.py`` in a subprocess (the decompiler reads the
bytecode of the interpreter it runs in), with only the plugin's source on its path. Every output is
judged by running it; the rule, broken on purpose, must only be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "loops312_child.py"
VERSIONS = ["3.12", "3.13"]


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    """The child's report under CPython ``version`` on ``sources`` (its own constructs when none are
    given); skips where that interpreter is not installed."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


def ok(report: dict) -> int:
    return sum(o == "ok" for o in report["constructs"].values()) + sum(o == "ok" for o in report["given"])


@pytest.fixture(scope="module", params=VERSIONS)
def healthy(request: pytest.FixtureRequest) -> dict:
    return run_child(request.param)


#: read only because two try statements' clause exits are kept apart (refused when shared)
APART = ["try_in_else_clause_ending_loop", "named_try_in_else_clause_ending_loop"]
#: read only because a jump to the enclosing loop's head is the inner while loop's break
THREADED = ["break_in_while_ending_for_body", "break_after_work_in_while_ending_for_body"]


def test_every_construct_round_trips(healthy: dict) -> None:
    assert {name: o for name, o in healthy["constructs"].items() if o != "ok"} == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_sharing_two_clauses_exits_is_refused_never_wrong(version: str) -> None:
    broken = run_child(version, mutation="clause_any")
    assert [o for o in broken["constructs"].values() if o.startswith("wrong")] == []
    assert all(broken["constructs"][name].startswith("refused") for name in APART)


_STMT = st.sampled_from(["z += 1", "z = a // b", "z *= b // (a - 1)", "z -= 2"])
_CLAUSE_END = st.sampled_from(["pass", "z += 7", "break", "continue", "return z"])
_CLAUSE = st.sampled_from(["except ZeroDivisionError:", "except ZeroDivisionError as err:",
                           "except (ZeroDivisionError, TypeError) as err:"])


@st.composite
def _try(draw: st.DrawFn, depth: int) -> list[str]:
    """A try statement whose clauses may leave the loop around it; maybe another in its else clause."""
    pad = "    "
    lines = ["try:", pad + draw(_STMT)]
    if draw(st.booleans()):
        lines += [pad + "if a:", pad + pad + draw(_STMT)]
    lines += [draw(_CLAUSE), pad + draw(_CLAUSE_END)]
    nested = depth > 0 and draw(st.booleans())
    if nested:
        lines += ["else:"] + [pad + line for line in draw(_try(depth - 1))]
    elif draw(st.booleans()):
        lines += ["else:", pad + draw(_STMT)]
    return lines


@st.composite
def _functions(draw: st.DrawFn) -> str:
    """A for loop whose body is one or two try statements, clauses leaving to the loop's head or out."""
    pad = "    "
    body: list[str] = []
    for _ in range(draw(st.integers(1, 2))):
        body += draw(_try(1))
    lines = ["for i in range(3):"] + [pad + s for s in body]
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines) + "    return z\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=8, max_size=8))
def test_drawn_loops_of_try_statements_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        report = run_child(version, sources)
        assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == []
        broken = run_child(version, sources, mutation="clause_any")
        assert [(s, o) for s, o in zip(sources, broken["given"]) if o.startswith("wrong")] == []


def test_the_grammar_draws_what_the_rule_reads() -> None:
    # the grammar's shape the rule is for, read on both versions
    source = ("def f(a, b):\n    z = 1\n    for i in range(3):\n        try:\n            z += 1\n"
              "        except ZeroDivisionError:\n            pass\n        else:\n            try:\n"
              "                z = a // b\n            except ZeroDivisionError:\n                pass\n"
              "    return z\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
        assert run_child(version, [source], mutation="clause_any")["given"][0].startswith("refused")


@pytest.mark.parametrize("version", VERSIONS)
def test_threaded_break_read_as_continue_is_refused_never_wrong(version: str) -> None:
    broken = run_child(version, mutation="threaded_continue")
    assert [o for o in broken["constructs"].values() if o.startswith("wrong")] == []
    assert all(broken["constructs"][name].startswith("refused") for name in THREADED)


#: each pass adds to z first (the body starts with ``z += 1``), so every drawn loop ends
_INNER = st.sampled_from(["z += 1", "z += 3", "if z > b:\n    break", "if b:\n    z += 2\n    break",
                          "if z == a:\n    continue", "if a and z:\n    break"])


@st.composite
def _while_ending_loop(draw: st.DrawFn) -> str:
    """A for (or while) loop whose body ends in a while loop holding breaks and continues."""
    pad = "    "
    inner = ["z += 1"] + [line for _ in range(draw(st.integers(1, 3))) for line in draw(_INNER).split("\n")]
    head = draw(st.sampled_from(["for j in range(3):", "while k < 3:"]))
    body = (["k += 1"] if head.startswith("while") else []) + [draw(_STMT)] * draw(st.integers(0, 1))
    body += [draw(st.sampled_from(["while z < a:", "while a > z and b:"]))] + [pad + line for line in inner]
    lines = [head] + [pad + line for line in body]
    return ("def f(a, b):\n    z = 0\n    k = 0\n" + "".join(f"    {line}\n" for line in lines)
            + "    return z + k\n")


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_while_ending_loop(), min_size=6, max_size=6))
def test_drawn_while_loops_ending_a_loop_body_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ("none", "threaded_continue"):
            report = run_child(version, sources, mutation=mutation)
            assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == []


def test_the_while_grammar_draws_what_the_rule_reads() -> None:
    source = ("def f(a, b):\n    z = 0\n    k = 0\n    for j in range(3):\n        while z < a:\n"
              "            z += 1\n            if z > b:\n                break\n    return z + k\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
        assert run_child(version, [source], mutation="threaded_continue")["given"][0].startswith("refused")
