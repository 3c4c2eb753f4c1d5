"""Code execution grading: a right prediction always passes, a wrong or non-literal one never does.

The sandbox runs the assertion; the oracle in the property test is Python's own ``==`` on the host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyplex import InvalidInputError
from skyplex_livecodebench.execution import (ExecutionItem, execution_prompt, extract_prediction, grade_execution,
                                             item_from_record, load_execution_items)

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def items():
    return load_execution_items(DATA / "execution_items.jsonl")


def answer(item: ExecutionItem, value_src: str) -> str:
    return f"[THOUGHT]trace[/THOUGHT]\n[ANSWER]\nassert {item.input} == {value_src}\n[/ANSWER]"


def mutations(src: str) -> list[str]:
    """Wrong values near the right one: off by one, another type, one element more or less."""
    import ast

    v = ast.literal_eval(src)
    out = [repr(str(v)), "None", repr((v,))]
    if isinstance(v, bool):
        out.append(repr(not v))
    elif isinstance(v, int):
        out += [repr(v + 1), repr(v - 1), repr(float(v) + 0.5)]
    elif isinstance(v, list):
        out += [repr(v + [0]), repr(v[:-1]) if v else "[0]", repr(tuple(v) + (1,))]
        if v and isinstance(v[0], int):
            out.append(repr([v[0] + 1, *v[1:]]))
    return out


@pytest.mark.usefixtures("sandbox_ok")
def test_right_predictions_pass_and_mutated_ones_fail(items):
    pairs = [(it, answer(it, it.output)) for it in items]
    wrong = [(it, answer(it, m)) for it in items for m in mutations(it.output)]
    verdicts = grade_execution(pairs + wrong)
    right_v, wrong_v = verdicts[: len(pairs)], verdicts[len(pairs):]
    assert [v.status for v in right_v] == ["AC"] * len(pairs), [v.message for v in right_v if not v.passed]
    assert not [(p[1], v.status) for p, v in zip(wrong, wrong_v) if v.passed]
    assert {v.status for v in wrong_v} == {"WA"}


@pytest.mark.parametrize("text", [
    "[ANSWER]assert f(x = 3) == f(x = 3)[/ANSWER]",            # repeats the call
    "[ANSWER]assert f(x = 3) == 1 + 5[/ANSWER]",               # arithmetic, not a literal
    "[ANSWER]assert f(x = 3) == __import__('os').getcwd()[/ANSWER]",
    "[ANSWER]assert f(x = 3) == x[/ANSWER]",                   # a name
    "[ANSWER]assert f(x = 3) != 6[/ANSWER]",                   # not an equality
    "[ANSWER][/ANSWER]", "the value is six", "",
])
def test_non_literal_predictions_never_reach_the_sandbox(text):
    item = item_from_record({"id": "t", "code": "def f(x):\n    return 2 * x\n", "input": "f(x = 3)", "output": "6"})
    [v] = grade_execution([(item, text)])
    assert v.status == "NO_ANSWER" and not v.passed


@pytest.mark.usefixtures("sandbox_ok")
def test_a_comment_cannot_cut_the_assertion_short():
    item = item_from_record({"id": "t", "code": "def f(x):\n    return 2 * x\n", "input": "f(x = 3)", "output": "6"})
    # a literal followed by a comment: normalised before it is placed in the assertion, so it still compares
    verdicts = grade_execution([(item, "[ANSWER]\nassert f(x = 3) == 7 # or 6\n[/ANSWER]"),
                                (item, "[ANSWER]\nassert f(x = 3) == 6 # sure\n[/ANSWER]")])
    assert [v.status for v in verdicts] == ["WA", "AC"]


@pytest.mark.usefixtures("sandbox_ok")
def test_programs_that_exit_print_or_fail_do_not_pass():
    exits = item_from_record({"id": "e", "code": "def f(x):\n    exit(0)\n", "input": "f(x = 1)", "output": "None"})
    prints = item_from_record({"id": "p", "code": "def f(x):\n    print('skyplex-ok-')\n    return x\n",
                               "input": "f(x = 1)", "output": "1"})
    raises = item_from_record({"id": "r", "code": "def f(x):\n    return 1 // 0\n", "input": "f(x = 1)", "output": "0"})
    loops = item_from_record({"id": "l", "code": "def f(x):\n    while True:\n        x += 1\n", "input": "f(x = 1)",
                              "output": "0"})
    from skyplex_livecodebench.grader import Limits

    verdicts = grade_execution([(exits, "[ANSWER]None[/ANSWER]"), (prints, "[ANSWER]1[/ANSWER]"),
                                (raises, "[ANSWER]0[/ANSWER]"), (loops, "[ANSWER]0[/ANSWER]")], limits=Limits(cpu_s=1))
    assert [v.status for v in verdicts] == ["RE", "AC", "RE", "TLE"]


literals = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.integers(-5, 5) | st.text(max_size=3), inner, max_size=3),
    max_leaves=8)


@pytest.mark.usefixtures("sandbox_ok")
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(literals, literals), min_size=1, max_size=8))
def test_verdict_agrees_with_python_equality(pairs):
    """For a program returning v and a prediction w, AC exactly when v == w (the benchmark's ==)."""
    graded = []
    for i, (v, w) in enumerate(pairs):
        item = item_from_record({"id": f"h{i}", "code": f"def f():\n    return {v!r}\n", "input": "f()",
                                 "output": repr(v)})
        graded.append((item, f"[ANSWER]\nassert f() == {w!r}\n[/ANSWER]"))
        graded.append((item, f"[ANSWER]\nassert f() == {v!r}\n[/ANSWER]"))
    verdicts = grade_execution(graded, workers=1)
    for k, (v, w) in enumerate(pairs):
        assert verdicts[2 * k].passed == (v == w), (v, w, verdicts[2 * k])
        assert verdicts[2 * k + 1].passed, (v, verdicts[2 * k + 1])


def test_prompt_and_extraction(items):
    item = items[0]
    direct, cot = execution_prompt(item)[1].content, execution_prompt(item, cot=True)[1].content
    assert f"assert {item.input} == ??" in direct and "[THOUGHT]" in cot and "[THOUGHT]" not in direct
    assert extract_prediction("[ANSWER]\n```python\nassert f(1) == [1, 2]\n```\n[/ANSWER]") == "[1, 2]"
    assert extract_prediction("[ANSWER]assert f(1) == 3[/ANSWER] [ANSWER]assert f(1) == 4[/ANSWER]") == "4"
    assert extract_prediction("```python\nassert f(1) == {'a': 1}\n```") == "{'a': 1}"
    assert extract_prediction("no answer") is None


@pytest.mark.parametrize("rec,needle", [
    ({"code": "x", "input": "f(1)"}, "output"),
    ({"code": "x", "input": "f(", "output": "1"}, "call expression"),
    ({"code": "x", "input": "1 + 2", "output": "1"}, "must be a call"),
    ({"code": "x", "input": "f(1)", "output": "g()"}, "not a Python literal"),
    ([1], "JSON object"),
])
def test_bad_items_are_named(rec, needle):
    with pytest.raises(InvalidInputError, match=needle):
        item_from_record(rec)


def test_committed_items_match_their_source(items):
    problems = {json.loads(line)["question_id"] for line in (DATA / "problems.jsonl").read_text().splitlines()}
    assert len(items) >= 20 and all(it.question_id in problems for it in items)
