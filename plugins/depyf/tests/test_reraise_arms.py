"""``reraise_arms.py``: a ``finally`` body ``if c: pass`` whose other arm branches (a conditional
expression, an ``elif`` that returns): CPython 3.12 and 3.13 copy the handler's closing ``RERAISE``
into the empty arm, and the copy is read as 3.11's jump to the handler's own. Each interpreter runs
``reraise_arms_child.py`` in a subprocess; every output is judged by running it, and the rule, broken
on purpose, must only be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "reraise_arms_child.py"
VERSIONS = ["3.11", "3.12", "3.13"]
LATER = ["3.12", "3.13"]  # the versions that copy the re-raise
NEEDED = ["else_ternary", "elif_return", "named_clause_ternary"]
CONTROL = "else_plain"


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


def _wrong(report: dict) -> list:
    return ([(n, o) for n, o in report["constructs"].items() if o.startswith("wrong")]
            + [o for o in report["given"] if o.startswith("wrong")])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_construct_round_trips(version: str) -> None:
    report = run_child(version)
    assert {name: o for name, o in report["constructs"].items() if o != "ok"} == {}


@pytest.mark.parametrize("version", LATER)
def test_without_the_rule_its_constructs_are_refused(version: str) -> None:
    broken = run_child(version, mutation="off")
    assert _wrong(broken) == []
    assert all(broken["constructs"][name].startswith("refused") for name in NEEDED)
    assert broken["constructs"][CONTROL] == "ok"


@pytest.mark.parametrize("version", LATER)
@pytest.mark.parametrize("mutation", ["to_cleanup", "anywhere"])
def test_copies_sent_elsewhere_are_refused_never_wrong(version: str, mutation: str) -> None:
    broken = run_child(version, mutation=mutation)
    assert _wrong(broken) == []
    assert all(broken["constructs"][name].startswith("refused") for name in NEEDED)


_STMT = st.sampled_from(["z += 1", "z = a // b", "z -= 2", "z = 5"])
_BRANCHING = st.sampled_from(["z = 4 if a > 1 else 5", "z = 4 if (a if b else z) else 5", "return z + 1",
                              "z = a and b", "return 7 if b else z"])
_COND = st.sampled_from(["b", "a > 2", "not b", "z > 3"])
_PAD = "    "


@st.composite
def _finally_bodies(draw: st.DrawFn) -> list[str]:
    """An if statement whose first arm is mostly ``pass``, then ``elif``/``else`` arms that may
    branch or return; now and then a statement before or after it."""
    lines = [draw(_STMT)] if draw(st.integers(0, 3)) == 0 else []
    lines += [f"if {draw(_COND)}:", _PAD + ("pass" if draw(st.integers(0, 3)) else draw(_STMT))]
    for _ in range(draw(st.integers(0, 1))):
        lines += [f"elif {draw(_COND)}:", _PAD + draw(st.one_of(_BRANCHING, _STMT))]
    if draw(st.booleans()):
        lines += ["else:", _PAD + draw(st.one_of(_BRANCHING, _STMT))]
    if draw(st.integers(0, 3)) == 0:
        lines.append(draw(_STMT))
    return lines


@st.composite
def _functions(draw: st.DrawFn) -> str:
    lines = ["try:", _PAD + "z = 10 // a"]
    if draw(st.booleans()):
        lines += [draw(st.sampled_from(["except ZeroDivisionError as err:", "except ZeroDivisionError:"])),
                  _PAD + "z = 0"]
    lines += ["finally:"] + [_PAD + line for line in draw(_finally_bodies())]
    if draw(st.booleans()):
        lines = ["for i in range(2):"] + [_PAD + line for line in lines]
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines) + "    return z\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=10, max_size=10))
def test_drawn_finally_bodies_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ["none"] + (["off", "anywhere"] if version in LATER else []):
            report = run_child(version, sources, mutation)
            assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == []


def test_the_grammar_draws_what_the_rule_reads() -> None:
    # a shape the grammar draws: read on every version, refused on 3.12+ without the rule
    source = ("def f(a, b):\n    z = 1\n    try:\n        z = 10 // a\n    finally:\n        if b:\n"
              "            pass\n        else:\n            z = 4 if a > 1 else 5\n    return z\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
    for version in LATER:
        assert run_child(version, [source], mutation="off")["given"][0].startswith("refused")
