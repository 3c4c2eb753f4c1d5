"""3.12/3.13 rules placing exception handlers where 3.11 put them (the handlers helper's rules in
``finally_copies.py`` and the modules named per rule in ``handlers312_child.py``): each interpreter
runs ``handlers312_child.py`` in a subprocess (the decompiler reads the bytecode of the interpreter
it runs in), with only the plugin's package on its path. Every output is judged by running it; each
rule, left out or broken on purpose, must only be refused, never wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

CHILD = Path(__file__).resolve().parent / "handlers312_child.py"
VERSIONS = ["3.12", "3.13"]
#: rule -> (the mutation leaving it out, the mutations breaking it)
MUTATIONS = {"returning": ("returning_off", ["returning_early"]),
             "returns_on_a_test": ("with_returns_off", ["with_returns_early"]),
             "nested_ends": ("nested_ends_off", ["nested_ends_early"]),
             "arm_end_nop": ("arm_nop_off", ["arm_nop_early"]),
             "except_before_copy": ("landings_off", ["landings_hop_past", "landings_except_only"]),
             "yield_in_finally": ("yield_args_strict", [])}  # (yield_args_any: never wrong, drawn below)


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    """The child's report under CPython ``version`` on ``sources``; skips where it is not installed."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


@pytest.fixture(scope="module", params=VERSIONS)
def healthy(request: pytest.FixtureRequest) -> dict:
    return run_child(request.param)


def _read(report: dict, rule: str) -> dict:
    """The rule's constructs this version reads (some are read on one version only)."""
    version = report["python"]
    return {name: o for name, o in report["constructs"][rule].items() if report["read_on"].get(name, version) == version}


def test_every_construct_round_trips(healthy: dict) -> None:
    outcomes = {(rule, name): o for rule in healthy["constructs"] for name, o in _read(healthy, rule).items()}
    assert outcomes and {key: o for key, o in outcomes.items() if o != "ok"} == {}
    others = [o for cases in healthy["constructs"].values() for o in cases.values()]
    assert [o for o in others if not (o == "ok" or o.startswith("refused:"))] == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("rule", list(MUTATIONS))
def test_without_the_rule_its_constructs_are_refused_and_broken_never_wrong(version: str, rule: str) -> None:
    off, broken = MUTATIONS[rule]
    healthy = run_child(version)
    read = _read(healthy, rule)
    report = run_child(version, mutation=off)
    assert {name: report["constructs"][rule][name].split(":")[0] for name in read} == {name: "refused" for name in read}
    for mutation in broken:
        report = run_child(version, mutation=mutation)
        outcomes = [o for cases in report["constructs"].values() for o in cases.values()]
        assert [o for o in outcomes if o.startswith("wrong")] == []
        if read:  # the mutation took effect
            assert sum(report["constructs"][rule][name] == "ok" for name in read) < len(read), mutation


_STMT = st.sampled_from(["a += 1", "b = a // b", "y = a * 2", "y -= b", "a = (a, b)[0]"])
_TEST = st.sampled_from(["a", "b > a", "3", "-2 or a"])
_VALUE = st.sampled_from(["a", "(a, b, y)", "7", "not 3", "a + y"])
_BEFORE = st.sampled_from([
    "with __import__('contextlib').nullcontext(b) as w:\n    {s}",
    "for i in range(2):\n    with __import__('contextlib').nullcontext(i) as w:\n        {s}",
    "if a:\n    with __import__('contextlib').nullcontext(b) as w:\n        {s}\n    y = 2",
    "for i in range(2):\n    try:\n        {s}\n    except ZeroDivisionError:\n        continue",
    "{s}"])


def _indent(block: str, pad: str) -> str:
    return "".join(f"{pad}{line}\n" for line in block.splitlines())


@st.composite
def _returning_finally(draw: st.DrawFn) -> str:
    """A statement whose handler goes back before the next one, then a ``try`` (maybe with an
    ``except`` clause) whose ``finally`` body returns on every path, or on some."""
    before = draw(_BEFORE).format(s=draw(_STMT))
    final = draw(st.lists(_STMT, max_size=2))
    shape = draw(st.sampled_from(["return", "test", "arms", "loop", "maybe", "maybe then", "plain"]))
    if shape == "test":
        final += [f"if {draw(_TEST)}:", f"    return {draw(_VALUE)}"]
    elif shape == "arms":
        final += [f"if {draw(_TEST)}:", f"    {draw(_STMT)}", "else:", f"    {draw(_STMT)}"]
    elif shape == "loop":
        final += ["for j in range(2):", f"    {draw(_STMT)}"]
    if shape == "plain":  # falls out of the statement on every path
        final += [draw(_STMT)]
    elif not shape.startswith("maybe"):
        final += [f"return {draw(_VALUE)}"]
    else:  # returns on a test only: the normal copy falls into the code after the statement
        final += [f"if {draw(_TEST)}:", f"    return {draw(_VALUE)}"]
        final += [draw(_STMT)] if shape == "maybe then" else []
    lines = ["try:"] + [f"    {s}" for s in draw(st.lists(_STMT, min_size=1, max_size=2))]
    for _ in range(draw(st.integers(0, 2))):  # try statements ending the try body
        lines += ["    try:", f"        {draw(_STMT)}", "    " + draw(st.sampled_from(
            ["finally:", "except ZeroDivisionError:", "except ZeroDivisionError as err:"])), f"        {draw(_STMT)}"]
    if draw(st.booleans()):
        lines += ["except ZeroDivisionError:", f"    {draw(_STMT)}"]
    lines += ["finally:"] + [f"    {s}" for s in final]
    body = _indent(before, "    ") + _indent("\n".join(lines), "    ")
    return "def f(a, b):\n    y = 1\n" + body + "    return (a, b, y)\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_returning_finally(), min_size=10, max_size=10))
def test_drawn_returning_finally_bodies_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ["none", "returning_off", "returning_early", "with_returns_off", "with_returns_early",
                         "nested_ends_off", "nested_ends_early"]:
            report = run_child(version, sources, mutation=mutation)
            assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == [], mutation


_FOLD = st.sampled_from(["3", "2 or 8", "-1", "a"])


@st.composite
def _finally_in_arm(draw: st.DrawFn) -> str:
    """A ``try`` with an ``except`` clause and a ``finally`` body (maybe holding a ``try`` of its own,
    maybe an ``if``/``else``, maybe returning under a folded test) in an ``if`` arm, maybe ``elif``."""
    final = draw(st.lists(_STMT, max_size=1))
    if draw(st.booleans()):
        final += ["try:", f"    {draw(_STMT)}", draw(st.sampled_from(["finally:", "except ZeroDivisionError:"])),
                  f"    {draw(_STMT)}"]
    if draw(st.booleans()):
        final += [f"if {draw(_TEST)}:", f"    {draw(_STMT)}", "else:", f"    {draw(_STMT)}"]
    ending = draw(st.sampled_from(["fold", "fold", "none", "return"]))
    if ending == "fold":
        final += [f"if {draw(_FOLD)}:", f"    return {draw(_VALUE)}"]
    elif ending == "return":
        final += [f"return {draw(_VALUE)}"]
    final = final or ["pass"]
    clause = draw(st.sampled_from(["except ZeroDivisionError:", "except ZeroDivisionError as err:",
                                   "except (ZeroDivisionError, TypeError):"]))
    lines = ["try:", f"    {draw(_STMT)}", clause, f"    {draw(_STMT)}", "finally:"] + [f"    {s}" for s in final]
    arm = draw(st.sampled_from(["if", "elif", "else"]))
    head = {"if": [f"if {draw(_TEST)}:"], "elif": [f"if {draw(_TEST)}:", "    y = 3", f"elif {draw(_TEST)}:"],
            "else": [f"if {draw(_TEST)}:", "    y = 3", "else:"]}[arm]
    body = "".join(f"    {line}\n" for line in head) + _indent("\n".join(lines), "        ")
    return "def f(a, b):\n    y = 1\n" + body + "    return (a, b, y)\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_finally_in_arm(), min_size=10, max_size=10))
def test_drawn_finally_statements_in_if_arms_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ["none", "landings_off", "landings_hop_past", "landings_except_only", "arm_nop_off",
                         "arm_nop_early"]:
            report = run_child(version, sources, mutation=mutation)
            assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == [], mutation


_YIELD = st.sampled_from(["yield y", "yield (a, y)", "y = (yield a) or y", "yield from range(a % 3)"])


@st.composite
def _yielding_finally(draw: st.DrawFn) -> str:
    """A generator's ``try`` (maybe with ``except`` clauses, maybe in a loop) whose ``finally`` body
    yields, maybe before a return."""
    final = draw(st.lists(st.one_of(_STMT, _YIELD), min_size=1, max_size=2))
    if not any("yield" in line for line in final):
        final.append(draw(_YIELD))
    final += draw(st.sampled_from([[], [], ["return y"], ["if a:", "    return a"]]))
    lines = ["try:"] + [f"    {s}" for s in draw(st.lists(st.one_of(_STMT, _YIELD), min_size=1, max_size=2))]
    if draw(st.booleans()):
        lines += ["except ZeroDivisionError:", f"    {draw(_STMT)}"]
    lines += ["finally:"] + [f"    {s}" for s in final]
    if draw(st.booleans()):
        lines = ["for i in range(2):"] + [f"    {s}" for s in lines]
    return "def f(a, b):\n    y = 1\n" + _indent("\n".join(lines), "    ") + "    yield (a, b, y)\n"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_yielding_finally(), min_size=10, max_size=10))
def test_drawn_yielding_finally_bodies_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ["none", "yield_args_strict", "yield_args_any"]:
            report = run_child(version, sources, mutation=mutation)
            assert [(s, o) for s, o in zip(sources, report["given"]) if o.startswith("wrong")] == [], mutation
