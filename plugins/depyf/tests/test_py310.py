"""The decompiler under CPython 3.10: ``py310_child.py`` runs in a 3.10 subprocess (the decompiler
reads the bytecode of the interpreter it runs in) with only the plugin's package on its path, and
each function is read through ``py310.py``'s rewrites into the 3.11 operations, proven by
recompiling under 3.10 itself, then run on fixed inputs against the original."""

from __future__ import annotations

import dis
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skyplex_depyf
from skyplex_depyf import opcodes

HERE = Path(__file__).resolve().parent
SOURCE = Path(skyplex_depyf.__file__).resolve().parents[1]  # the folder holding the package
CHILD = HERE / "py310_child.py"
#: constructs whose 3.10 reading stops at a rule of the 3.11 rules (they refuse these on 3.11 too)
RULES_OWN_LIMITS = {"chained_comparison_in_if", "loops_with_breaks"}
#: constructs 3.10 lays out in a way no rule reads yet: refused naming the instruction
NOT_READ_ON_310 = {"try_else_returning_in_if_arm"}
#: the constructs that read on 3.10 (those of ``versions_child.py`` and ``py310_child.py``); one added
#: to ``versions_child.py`` later is held to the rule every output is held to: proven, or refused
READ_ON_310 = {
    "and_or_values", "assert_and_raise", "attribute_augmented", "calls_of_every_kind", "cell_comprehension",
    "closure_and_nested_def", "closure_with_default", "comprehension_in_call", "comprehension_over_closure",
    "comprehension_stored_over_its_variable", "comprehensions", "every_operator", "fstring_conversions",
    "generator", "generator_delegating", "global_callable_chains", "keyword_call", "long_loop", "method_call",
    "nested_comprehension", "nested_return_before_else", "return_constant", "slice_augmented", "slices",
    "subscript_augmented", "try_except_finally", "try_except_finally_in_loop", "try_finally_returning",
    "try_in_if_before_elif", "try_returning", "try_returning_constant_except_returning",
    "unary_plus_and_tuple_unpack", "walrus_and_fstring", "while_in_for", "with_in_if_before_else",
    "with_in_try", "with_statement", "with_then_return", "try_except_else", "try_finally_then_return",
    "finally_with_conditional_expression", "match_none_before_other_cases", "match_or_pattern_returning",
    "match_class_patterns", "match_mapping_parts", "match_class_parts",
    "match_captured_parts", "match_wildcard_parts", "match_alternative_parts",
    "folded_if_after_conditional_expression", "folded_if_after_try", "folded_if_after_while",
    "try_ending_finally_body", "try_as_ending_finally_body", "try_ending_finally_body_in_loop",
    "match_lone_literal_case", "if_with_empty_else", "match_cases_leaving_past_else",
    "match_captures_before_tests", "match_nested_parts", "match_captures_below_nested_parts",
    "match_wildcards_in_nested_parts", "finally_copies_keeping_their_returns",
    "return_copied_into_conditional_expression", "with_ending_finally_in_handler"}


def interpreter() -> str | None:
    """pyenv's CPython 3.10, else one on PATH."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob("versions/3.10.*/bin/python3.10"))
    return str(found[-1]) if found else shutil.which("python3.10")


def run_child(seed: int = 1, functions: int = 40, generators: int = 20, mutation: str = "none",
              matches: int = 40) -> dict:
    path = interpreter()
    if path is None:
        pytest.skip("CPython 3.10 is not installed (no pyenv version 3.10.x, no python3.10 on PATH)")
    env = dict(os.environ, PYTHONPATH=str(SOURCE), PYTHONHASHSEED="0")
    done = subprocess.run([path, str(CHILD), str(seed), str(functions), str(generators), mutation,
                           str(matches)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=HERE)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["python"] == [3, 10]
    return report


@pytest.fixture(scope="module")
def healthy() -> dict:
    return run_child()


def outcomes(report: dict) -> list[str]:
    return list(report["constructs"].values()) + report["generated"] + report["generators"] + list(
        report["methods"].values()) + report["matches"] + list(report["async"].values())


def test_constructs_round_trip_on_310(healthy: dict) -> None:
    constructs = healthy["constructs"]
    assert {name: constructs.get(name) for name in READ_ON_310 if constructs.get(name) != "ok"} == {}
    for name in NOT_READ_ON_310 | RULES_OWN_LIMITS:
        assert constructs[name].startswith("refused: offset "), constructs[name]
    assert all(o == "ok" or o.startswith("refused: ") for o in constructs.values())


def test_methods_using_super_and_handlers_are_proven_on_310(healthy: dict) -> None:
    assert healthy["methods"] == {name: "ok" for name in healthy["methods"]}


def test_what_is_not_read_is_refused_with_a_one_line_reason(healthy: dict) -> None:
    refused = [o for o in outcomes(healthy) if o.startswith("refused")]
    assert refused and all("\n" not in o for o in refused)
    # the front end's own refusals name the instruction; the rare "internal" one comes from a 3.11 rule
    # (the same functions are refused the same way on 3.11)
    assert sum("internal" in o for o in refused) <= 2, refused
    block_refusals = [o for o in refused if "CPython 3.10 exception blocks" in o]
    assert all(o.startswith("refused: offset ") for o in block_refusals)


def test_generated_sample_is_never_silently_wrong(healthy: dict) -> None:
    assert [o for o in outcomes(healthy) if o.startswith("wrong")] == []
    generated = Counter(o.split(":")[0] for o in healthy["generated"])
    generators = Counter(o.split(":")[0] for o in healthy["generators"])
    # seed 1: 30 of 40 functions and 17 of 20 generators when this was written
    assert generated["ok"] >= 28 and generators["ok"] >= 15, (generated, generators)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_any_seeded_sample_is_proven_or_refused_never_wrong(seed: int) -> None:
    # the seed picks the generated functions and generators the 3.10 child round-trips
    report = run_child(seed=seed, functions=12, generators=4)
    assert [o for o in report["generated"] + report["generators"] if o.startswith("wrong")] == []
    assert all(o == "ok" or o.startswith("refused: ") for o in report["generated"] + report["generators"])


def async_cases() -> Any:
    """``py310_async.py``, the async functions the 3.10 child judges (loaded by path: the tests run in
    importlib mode)."""
    spec = importlib.util.spec_from_file_location("py310_async", HERE / "py310_async.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_async_with_and_async_for_round_trip_on_310(healthy: dict) -> None:
    cases, found = async_cases(), healthy["async"]
    assert found.keys() == cases.ASYNC_310.keys()
    read = set(cases.ASYNC_310) - cases.REFUSED_ON_311
    assert {name: found[name] for name in read if found[name] != "ok"} == {}
    assert all(found[name].startswith("refused: ") for name in cases.REFUSED_ON_311), found


def test_async_functions_refused_on_310_are_refused_by_the_311_rules_too() -> None:
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the 3.11 rules are run on the interpreter they are written for")
    cases = async_cases()
    found = {name: cases.judge_async(source) for name, source in cases.ASYNC_310.items()}
    assert {name for name, outcome in found.items() if outcome != "ok"} == cases.REFUSED_ON_311, found
    assert all(outcome.startswith("refused: ") for outcome in found.values() if outcome != "ok"), found


def test_match_sample_reads_nested_patterns_on_310(healthy: dict) -> None:
    # patterns nested in a class or mapping pattern's parts (the match grammar of ``corpus.py``):
    # 40 of 40 of seed 1 when the tuple rules were written (31 before them, 9 refused)
    matches = Counter(o.split(":")[0] for o in healthy["matches"])
    assert matches["ok"] >= 38 and set(matches) <= {"ok", "refused"}, matches


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_any_seeded_match_sample_is_proven_or_refused_never_wrong(seed: int) -> None:
    report = run_child(seed=seed, functions=0, generators=0, matches=30)
    assert all(o == "ok" or o.startswith("refused: ") for o in report["matches"]), report["matches"]
    assert sum(o == "ok" for o in report["matches"]) >= 24  # the 90% target, less a margin for one seed


@pytest.mark.parametrize("mutation", ["operators", "rotations", "jumps", "calls", "keywords", "handlers",
                                      "else_blocks", "tails", "owners", "match_flags",
                                      "none_tests", "match_exits", "copy_chains", "part_reads", "tuple_pops", "unpacks",
                                      "rotations_as_310", "shallow_rotations", "folded_statements",
                                      "finally_pushes", "cleanup_order", "empty_else", "past_else",
                                      "aenter_awaits", "async_with_levels", "async_for_ends", "copied_around",
                                      "longest_copy_only", "into_with_handlers"])
def test_a_broken_310_rule_is_refused_never_wrong(healthy: dict, mutation: str) -> None:
    # each mutation breaks one 3.10 rewrite in the child; the recompile check must catch every output
    broken = run_child(mutation=mutation)
    assert [o for o in outcomes(broken) if o.startswith("wrong")] == []
    ok = lambda report: sum(o == "ok" for o in outcomes(report))  # noqa: E731
    assert ok(broken) < ok(healthy)  # the mutation took effect


def test_code_after_a_statement_is_put_back_once_on_310(healthy: dict) -> None:
    # a ``try`` ending a ``finally`` body: 3.10 copies the code after the outer statement into the
    # exits of both; it is put back once (a second copy would be dead code the recompile check lets by)
    assert healthy["returns"] == {name: 1 for name in healthy["returns"]} and healthy["returns"]
    broken = run_child(functions=0, generators=0, mutation="tail_twice")
    assert any(n is not None and n > 1 for n in broken["returns"].values()), broken["returns"]


def test_binary_operators_carry_311s_numbers_and_symbols() -> None:
    if sys.version_info[:2] != (3, 11):
        pytest.skip("3.11's own operator table is read from its dis module")
    nb_ops = dis._nb_ops  # type: ignore[attr-defined]
    for name, (number, symbol) in opcodes.BINARY_OPS_310.items():
        inplace = name.startswith("INPLACE_")
        assert nb_ops[number][1] == symbol, name
        assert nb_ops[number][0] == "NB_" + ("INPLACE_" if inplace else "") + {"MODULO": "REMAINDER"}.get(
            name.split("_", 1)[1], name.split("_", 1)[1]), name


def test_every_310_operator_instruction_has_a_rule() -> None:
    path = interpreter()
    if path is None:
        pytest.skip("CPython 3.10 is not installed")
    names = subprocess.run([path, "-c", "import dis; print(' '.join(dis.opmap))"], capture_output=True,
                           text=True, timeout=60).stdout.split()
    operators = {n for n in names if n.startswith(("BINARY_", "INPLACE_")) and n != "BINARY_SUBSCR"}
    assert operators and operators == set(opcodes.BINARY_OPS_310)
    stack = {n for n in names if n.startswith(("ROT_", "DUP_TOP"))}
    assert stack == set(opcodes.ROTATIONS_310) | set(opcodes.COPIES_310) | {"ROT_N"}
