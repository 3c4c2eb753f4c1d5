"""3.12/3.13 rules for ``finally`` handlers laid out away from 3.11's place (``finally312.py``),
for 3.13's ``JUMP_BACKWARD_NO_INTERRUPT`` out of handlers (``tails.plain_back_jumps``) and for
3.13's copies of an ``except`` clause's exit (``tails.share_clause_exits``): each interpreter runs
``finally312_child.py`` in a subprocess (the decompiler reads the bytecode of the interpreter it
runs in), with only the plugin's source on its path. Every output is judged by running it; the
rules, broken on purpose, must only be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_depyf import interpreters

HERE = Path(__file__).resolve().parent
CHILD = HERE / "finally312_child.py"
VERSIONS = ["3.12", "3.13"]


def run_child(version: str, sources: list[str] = (), mutation: str = "none") -> dict:
    """The child's report under CPython ``version`` on ``sources`` (its own constructs when none are
    given); skips where that interpreter is not installed."""
    return interpreters.report(version, CHILD, mutation, stdin=json.dumps(list(sources)), missing=pytest.skip)


@pytest.fixture(scope="module", params=VERSIONS)
def healthy(request: pytest.FixtureRequest) -> dict:
    return run_child(request.param)


#: read only through the finally rule (refused before it, on both versions)
THROUGH_FINALLY = ["finally_if_return_after_returning_except", "finally_test_return_after_returning_except",
                   "finally_if_return_ending_loop_body",
                   "try_finally_ending_except_clause", "empty_finally_around_try_finally_in_except",
                   "finally_returning_after_except", "finally_returns_conditional_expression"]
THROUGH_FINALLY_313 = ["nested_try_finally_ending_named_except_clause"]
#: read only through finally312.kept_finally_returns (a folded test's line before a finally body's return)
THROUGH_RETURNS = ["finally_folded_test_return", "finally_folded_test_return_before_code"]
#: read only with the normal copy's folded test line kept (finally312._kept_return_line) and the
#: handler's copy of it spelt alike (finally312._folded_alike)
THROUGH_FOLDED = ["finally_folded_test_return_after_except", "finally_folded_test_return_constant_after_except"]
#: read only through finally_tails (a try statement and code after it in a finally body)
THROUGH_TAILS = ["try_except_then_code_in_finally", "try_named_except_then_code_in_finally",
                 "try_except_then_code_in_finally_after_except"]
#: constructs a version does not read yet, for another rule: refused, never wrong
NOT_READ: dict = {}


def test_every_construct_round_trips(healthy: dict) -> None:
    unread = NOT_READ.get(tuple(healthy["python"]), set())
    outcomes = healthy["constructs"]
    assert {name: o for name, o in outcomes.items() if name not in unread and o != "ok"} == {}
    assert all(outcomes[name].startswith("refused:") for name in unread)


def test_the_finally_handler_follows_the_normal_copy(healthy: dict) -> None:
    # 3.11's order: the normal copy (ending in the jump over the handler), then PUSH_EXC_INFO
    names = healthy["canonical"]["finally_if_return_after_returning_except"]
    raw = healthy["raw"]["finally_if_return_after_returning_except"]
    handler = [k for k, name in enumerate(names) if name == "PUSH_EXC_INFO"][-1]
    assert names[handler - 1] == "JUMP_FORWARD" and names[handler - 2] == "RETURN_VALUE"
    raw_handler = [k for k, name in enumerate(raw) if name == "PUSH_EXC_INFO"][-1]
    assert raw[raw_handler - 1] == "RERAISE"  # the compiler's own order: the except clause's clean-up first


def test_no_back_jump_without_interrupt_is_left_outside_send_loops(healthy: dict) -> None:
    for name, names in healthy["canonical"].items():
        if name != "yield_from_in_try":
            assert "JUMP_BACKWARD_NO_INTERRUPT" not in names, name
    assert "JUMP_BACKWARD_NO_INTERRUPT" in healthy["canonical"]["yield_from_in_try"]  # the SEND loop's own
    if healthy["python"] == [3, 13]:  # 3.13 spelled the except clause's exits that way too
        raw = healthy["raw"]["yield_from_in_try"]
        assert raw.count("JUMP_BACKWARD_NO_INTERRUPT") > 1


_STMT = st.sampled_from(["y += a // b", "y -= 1", "x = y * 2", "pass", "x ^= 10 // (b - 1)"])
_LEAVE = st.sampled_from(["return 7", "return y", "return (x, y)", "y += 3", "return (7 if a else y)"])
_TEST = st.sampled_from(["a", "a > b", "4", "b"])


@st.composite
def _functions(draw: st.DrawFn) -> str:
    """``try/except/finally`` with statements, tests, returns and a nested try/finally in its parts,
    maybe in a loop."""
    pad = "    "
    body = draw(st.lists(_STMT, min_size=1, max_size=2))
    clause = draw(st.sampled_from(["except ZeroDivisionError:", "except ZeroDivisionError as err:",
                                   "except (ZeroDivisionError, TypeError):"]))
    handler = draw(st.lists(_STMT, max_size=1))
    ending = draw(st.sampled_from(["test", "try", "loop"]))  # a test that may leave, a try/finally, a loop
    if ending == "test":
        handler += [f"if {draw(_TEST)}:", f"{pad}{draw(_LEAVE)}"]
    elif ending == "try":
        handler += ["try:", pad + draw(_STMT), "finally:", pad + draw(_STMT)]
    else:
        handler += ["for j in range(2):", f"{pad}if {draw(_TEST)}:", f"{pad}{pad}break", pad + draw(_STMT)]
    final = draw(st.lists(_STMT, max_size=1))
    if draw(st.booleans()):
        final += [f"if {draw(_TEST)}:", f"{pad}{draw(_LEAVE)}"]
    final = final or ["pass"]
    final += draw(st.sampled_from([[], [], ["return y"], ["return (x if b else y)"]]))  # a body that returns
    loop = draw(st.booleans())
    lines = ["try:"] + [pad + s for s in body] + [clause] + [pad + s for s in handler]
    lines += ["finally:"] + [pad + s for s in final]
    if loop:
        lines = ["for i in range(2):"] + [pad + s for s in lines]
    after = draw(st.sampled_from(["return (a, b, x, y)", "y += 1\n    return y"]))
    return "def f(a, b):\n    x = 0\n    y = 1\n" + "".join(f"    {line}\n" for line in lines) + f"    {after}\n"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=8, max_size=8))
def test_drawn_try_finally_functions_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        report = run_child(version, sources)
        wrong = [(source, o) for source, o in zip(sources, report["given"]) if o.startswith("wrong")]
        assert wrong == []


def test_the_rule_reads_functions_the_grammar_draws() -> None:
    # the grammar's shape the rule is for: a returning except clause keeps the try in place
    source = ("def f(a, b):\n    x = 0\n    y = 1\n    try:\n        y += a // b\n"
              "    except ZeroDivisionError as err:\n        if 4:\n            return 7\n"
              "    finally:\n        if a:\n            return y\n    return (a, b, x, y)\n")
    for version in VERSIONS:
        assert run_child(version, [source])["given"] == ["ok"]


@pytest.mark.parametrize("version", VERSIONS)
def test_without_the_rule_the_finally_constructs_are_refused(version: str) -> None:
    report = run_child(version, mutation="finally_off")
    names = THROUGH_FINALLY + (THROUGH_FINALLY_313 if version == "3.13" else [])
    assert {name: report["constructs"][name].split(":")[0] for name in names} == {name: "refused" for name in names}


@pytest.mark.parametrize("version", VERSIONS)
def test_without_the_tail_rules_their_constructs_are_refused(version: str) -> None:
    report = run_child(version, mutation="tails_off")
    assert {name: report["constructs"][name].split(":")[0] for name in THROUGH_TAILS} == {
        name: "refused" for name in THROUGH_TAILS}
    report = run_child(version, mutation="tail_first_off")  # the copies shared, the tail left after the handler
    assert report["constructs"]["try_except_then_code_in_finally_after_except"].startswith("refused:")
    assert report["constructs"]["try_except_then_code_in_finally"] == "ok"


_INNER_CLAUSE = st.sampled_from(["except ZeroDivisionError:", "except ZeroDivisionError as err:",
                                 "except (ZeroDivisionError, TypeError):", "finally:"])
_TAIL = st.sampled_from(["b = 2", "y -= 7", "x = y * 2", "y += a // b", "b = x"])


@st.composite
def _finally_with_try(draw: st.DrawFn) -> str:
    """A ``finally`` body holding a ``try`` statement and code after it, the outer statement maybe
    with an ``except`` clause of its own, maybe in a loop."""
    pad = "    "
    clause = draw(st.lists(_STMT, min_size=1, max_size=2))
    inner = ["try:", pad + draw(_STMT), draw(_INNER_CLAUSE)] + [pad + s for s in clause]
    final = draw(st.lists(_STMT, max_size=1)) + inner + draw(st.lists(_TAIL, min_size=0, max_size=2))
    lines = ["try:"] + [pad + s for s in draw(st.lists(_STMT, min_size=1, max_size=2))]
    if draw(st.booleans()):
        lines += ["except ZeroDivisionError:"] + [pad + s for s in draw(st.lists(_STMT, min_size=1, max_size=1))]
    lines += ["finally:"] + [pad + s for s in final]
    if draw(st.booleans()):
        lines = ["for i in range(2):"] + [pad + s for s in lines]
    after = draw(st.sampled_from(["return (a, b, x, y)", "y += 1\n    return y", "return y"]))
    return "def f(a, b):\n    x = 0\n    y = 1\n" + "".join(f"    {line}\n" for line in lines) + f"    {after}\n"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_finally_with_try(), min_size=8, max_size=8))
def test_drawn_finally_bodies_holding_a_try_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        report = run_child(version, sources)
        wrong = [(source, o) for source, o in zip(sources, report["given"]) if o.startswith("wrong")]
        assert wrong == []
        for mutation in ("tail_target", "unwired", "copy_end_broken"):
            broken = run_child(version, sources, mutation=mutation)
            assert [(source, o) for source, o in zip(sources, broken["given"]) if o.startswith("wrong")] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_finally_copy_end_finds_the_normal_copy_of_a_body_holding_a_try(version: str) -> None:
    # layout.relayout's plain comparison misses these copies; finally_copies.finally_copy_end, its
    # fallback, reads them: without it they are refused, and the end found one instruction early is
    # refused, never wrong
    wired, plain, broken = (run_child(version, mutation=m) for m in ("none", "unwired", "copy_end_broken"))
    assert set(wired["wired"].values()) == {"ok"}
    assert all(o.startswith("refused:") for o in plain["wired"].values())
    assert all(o.startswith("refused:") for o in broken["wired"].values())
    for report in (wired, broken):
        assert [o for o in report["constructs"].values() if o.startswith("wrong")] == []
    ok = lambda report: sum(o == "ok" for o in report["constructs"].values())  # noqa: E731
    assert ok(wired) == ok(plain)  # the fallback changes nothing the plain comparison reads


@pytest.mark.parametrize("version", VERSIONS)
def test_without_kept_returns_a_finally_handler_sharing_its_return_is_refused(version: str) -> None:
    report = run_child(version, mutation="finally_returns_off")
    assert {name: report["constructs"][name].split(":")[0] for name in THROUGH_RETURNS} == {
        name: "refused" for name in THROUGH_RETURNS}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_kept_folded_statement_left_a_nop_in_the_handler_is_refused_never_wrong(version: str) -> None:
    for mutation in ("folded_alike_off", "kept_line_off"):  # the handler's NOP left; the normal copy's
        report = run_child(version, mutation=mutation)
        assert {name: report["constructs"][name].split(":")[0] for name in THROUGH_FOLDED} == {
            name: "refused" for name in THROUGH_FOLDED}
        assert [o for o in report["constructs"].values() if o.startswith("wrong")] == []


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(_functions(), min_size=8, max_size=8))
def test_drawn_functions_with_returns_half_put_back_are_never_wrong(sources: list[str]) -> None:
    for version in VERSIONS:
        for mutation in ("finally_returns_short", "folded_alike_off", "kept_line_off"):
            broken = run_child(version, sources, mutation=mutation)
            assert [(source, o) for source, o in zip(sources, broken["given"]) if o.startswith("wrong")] == []


def test_without_the_clause_exit_rule_313_refuses_its_copies() -> None:
    report = run_child("3.13", mutation="clause_exits_off")
    names = ["break_out_of_loop_in_named_except_clause", "if_arms_leaving_named_except_clause",
             "with_in_except_in_loop"]
    assert {name: report["constructs"][name].split(":")[0] for name in names} == {name: "refused" for name in names}


@pytest.mark.parametrize("version,mutation", [("3.12", "finally_order"), ("3.13", "finally_order"),
                                              ("3.12", "exit_order"), ("3.13", "exit_order"),
                                              ("3.13", "back_jumps"), ("3.13", "clause_exits"),
                                              ("3.12", "return_target"), ("3.13", "return_target"),
                                              ("3.12", "tail_target"), ("3.13", "tail_target"),
                                              ("3.12", "finally_returns_short"), ("3.13", "finally_returns_short")])
def test_a_broken_rule_is_refused_never_wrong(version: str, mutation: str) -> None:
    healthy = run_child(version)
    broken = run_child(version, mutation=mutation)
    outcomes = list(broken["constructs"].values())
    assert [o for o in outcomes if o.startswith("wrong")] == []
    ok = lambda report: sum(o == "ok" for o in report["constructs"].values())  # noqa: E731
    assert ok(broken) < ok(healthy)  # the mutation took effect
