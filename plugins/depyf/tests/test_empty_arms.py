"""The empty-arm rule (``empty_arms.py``): CPython 3.12 and 3.13 keep an empty ``else`` arm
(``else: pass``) as an arm of its own where it ends a loop body, an ``except`` clause or the code
before a return, and the decompiler writes ``else: pass`` there; 3.11 is unchanged. Each interpreter
runs ``empty_arms_child.py`` in a subprocess (the decompiler reads the bytecode of the interpreter it
runs in), with only the plugin's source on its path. Every output is judged by running it; the rule,
broken on purpose, must only be refused."""

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
KEEPING = ["3.12", "3.13"]  # the versions that keep an empty arm

#: the constructs whose original has an empty ``else`` arm, and those without one
WITH_ELSE = ["named_clause", "clause", "loop_body", "before_return", "two_arms", "one_of_two"]
CONTROLS = ["named_clause_no_else", "loop_body_no_else", "before_return_no_else"]


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    """The child's report under CPython ``version`` on ``sources`` (its own constructs when none are
    given); skips where that interpreter is not installed."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


def _wrong(report: dict) -> list:
    return ([(n, o) for n, o in report["constructs"].items() if o.startswith("wrong")]
            + [o for o in report["given"] if o.startswith("wrong")])


def _else_pass(text: str | None) -> int:
    lines = [line.strip() for line in (text or "").splitlines()]
    return sum(a == "else:" and b == "pass" for a, b in zip(lines, lines[1:]))


@pytest.fixture(scope="module", params=VERSIONS)
def healthy(request: pytest.FixtureRequest) -> tuple[str, dict]:
    return request.param, run_child(request.param)


def test_every_construct_round_trips(healthy: tuple[str, dict]) -> None:
    assert {name: o for name, o in healthy[1]["constructs"].items() if o != "ok"} == {}


def test_else_pass_is_written_only_where_a_version_kept_the_arm(healthy: tuple[str, dict]) -> None:
    version, report = healthy
    written = report["written"]
    assert all(_else_pass(written[name]) == 0 for name in CONTROLS)
    if version == "3.11":  # 3.11 compiles both sources alike: nothing changes there
        assert all(_else_pass(text) == 0 for text in written.values())
        assert set(report["marks"].values()) == {0}
    else:
        # 3.12 compiles an ``except ... as`` clause's two endings alike: read right the first time
        needed = [name for name in WITH_ELSE if not (version == "3.12" and name == "named_clause")]
        assert all(_else_pass(written[name]) >= 1 for name in needed)
        assert _else_pass(written["one_of_two"]) == 1  # the if before the return has no else
        assert [report["marks"][name] for name in CONTROLS] == [0, 0, 0]
        assert all(report["marks"][name] >= 1 for name in needed)


@pytest.mark.parametrize("version", KEEPING)
def test_without_the_rule_the_kept_arms_are_refused(version: str) -> None:
    broken = run_child(version, mutation="never")
    assert _wrong(broken) == []
    refused = [name for name in WITH_ELSE if broken["constructs"][name].startswith("refused")]
    # 3.12 compiles an ``except ... as`` clause's two endings alike; everything else needs the rule
    assert set(refused) >= set(WITH_ELSE) - {"named_clause"}
    assert all(broken["constructs"][name] == "ok" for name in CONTROLS)


@pytest.mark.parametrize("version", VERSIONS)
def test_else_pass_written_everywhere_is_refused_never_wrong(version: str) -> None:
    broken = run_child(version, mutation="always")
    assert _wrong(broken) == []
    assert any(broken["constructs"][name].startswith("refused") for name in CONTROLS)


@pytest.mark.parametrize("version", KEEPING)
def test_trying_only_every_arm_at_once_refuses_a_partial_choice(version: str) -> None:
    broken = run_child(version, mutation="first_only")
    assert _wrong(broken) == []
    assert broken["constructs"]["one_of_two"].startswith("refused")


_STMT = st.sampled_from(["z += 1", "z = a // b", "z *= b // (a - 1)", "z -= 2", "z = 5"])
_COND = st.sampled_from(["a", "b", "a > i", "z > 3", "not b"])
_PAD = "    "


@st.composite
def _ifs(draw: st.DrawFn, depth: int) -> list[str]:
    """One or two if statements, each with no else, ``else: pass`` or else with a statement; an if
    may hold another."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 2))):
        lines += [f"if {draw(_COND)}:", _PAD + draw(_STMT)]
        if depth > 0 and draw(st.booleans()):
            lines += [_PAD + line for line in draw(_ifs(depth - 1))]
        arm = draw(st.sampled_from(["none", "pass", "pass", "stmt"]))
        if arm != "none":
            lines += ["else:", _PAD + ("pass" if arm == "pass" else draw(_STMT))]
    return lines


@st.composite
def _functions(draw: st.DrawFn) -> str:
    """The ifs ending a loop body, an except clause (named or not), a with body, a try body or the
    code before the return."""
    ifs = draw(_ifs(1))
    place = draw(st.sampled_from(["for", "while", "except", "except_as", "try", "plain"]))
    if place == "for":
        lines = ["for i in range(3):"] + [_PAD + s for s in ifs]
    elif place == "while":
        lines = ["i = 0", "while i < 3:", _PAD + "i += 1"] + [_PAD + s for s in ifs]
    elif place in ("except", "except_as"):
        head = "except ZeroDivisionError as err:" if place == "except_as" else "except ZeroDivisionError:"
        lines = ["i = 1", "try:", _PAD + "z = a // b", head] + [_PAD + s for s in ifs]
    elif place == "try":
        lines = ["i = 1", "try:"] + [_PAD + s for s in ifs] + ["except ZeroDivisionError:", _PAD + "z = 0"]
    else:
        lines = ["i = 1"] + ifs
    return "def f(a, b):\n    z = 1\n" + "".join(f"    {line}\n" for line in lines) + "    return z\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=10, max_size=10))
def test_drawn_empty_arms_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        report = run_child(version, sources)
        assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == []
        for mutation in (["always"] if version == "3.11" else ["always", "never"]):
            broken = run_child(version, sources, mutation)
            assert [(s, o) for s, o in zip(sources, broken["given"]) if o.startswith("wrong")] == []


def test_the_grammar_draws_what_the_rule_reads() -> None:
    # the grammar's shape the rule is for: read on every version, refused on 3.12+ without the rule
    source = ("def f(a, b):\n    z = 1\n    for i in range(3):\n        if a > i:\n            z += 1\n"
              "        else:\n            pass\n    return z\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]
    for version in KEEPING:
        assert run_child(version, [source], mutation="never")["given"][0].startswith("refused")
