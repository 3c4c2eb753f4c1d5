"""Test output prediction (literal parsing, never eval) and self-repair feedback and prompts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyplex_livecodebench.literals import call_text, last_assert, parse_literal, NotALiteral
from skyplex_livecodebench.testoutput import OutputItem, grade_test_output, output_items, output_prediction_prompt


def fenced(call: str, value_src: str) -> str:
    return f"Reasoning first.\n```python\nassert {call} == {value_src}\n```"


def test_every_expected_output_passes_and_neighbours_fail(problems):
    items = output_items(problems.values())
    assert len(items) >= 20 and all(it.problem.kind == "functional" for it in items)
    for it in items:
        expected = json.loads(it.expected)
        assert grade_test_output(it, fenced(it.call, repr(expected))).status == "AC", it.id
        wrong = [repr(str(expected)), "None", repr([expected])]
        if isinstance(expected, int):
            wrong += [repr(expected + 1), repr(expected - 1)]
        if isinstance(expected, list):
            wrong += [repr(expected + [0]), repr(expected[1:] if expected else [1])]
        for w in wrong:
            assert grade_test_output(it, fenced(it.call, w)).status == "WA", (it.id, w)


def test_call_text_uses_the_starter_parameter_names(problems):
    p = problems["2756"]
    assert call_text(p, p.public_tests[0]) == "buyChoco(prices = [1, 2, 2], money = 3)"
    assert "assert buyChoco(prices = [1, 2, 2], money = 3) == # TODO" in output_prediction_prompt(output_items([p])[0])[1].content


def test_predictions_are_never_evaluated(problems, tmp_path):
    it = output_items([problems["2727"]])[0]
    marker = tmp_path / "ran"
    for rhs in [f"__import__('pathlib').Path({str(marker)!r}).touch()", "(lambda: 2)()", "1 + 1", "2 if True else 3",
                "[i for i in range(2)]", "globals()"]:
        v = grade_test_output(it, fenced(it.call, rhs))
        assert v.status == "NO_ANSWER" and not v.passed, rhs
    assert not marker.exists()


@pytest.mark.parametrize("answer", ["", "I think 2", "```python\nprint(2)\n```", "assert countSeniors(x) != 2",
                                    "assert 2", "```python\nassert f(1) == [1,\n```"])
def test_answers_without_an_equality_assertion(problems, answer):
    it = output_items([problems["2727"]])[0]
    assert grade_test_output(it, answer).status == "NO_ANSWER"


def test_multiline_and_last_assertion_win(problems):
    it = output_items([problems["2777"]])[0]   # expected [-3, -1, 1, 3, 5]
    text = ("```python\nassert f() == [0]\n```\nCorrected:\n```python\nassert distinctDifferenceArray(nums = [1, 2, 3, 4, 5]) == [\n"
            "    -3, -1,\n    1, 3, 5]\n```")
    assert grade_test_output(it, text).status == "AC"


literals = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(literals, literals)
def test_literal_verdict_is_python_equality(v, w):
    """Grading a predicted literal w against an expected JSON value is exactly the benchmark's ``==``."""
    from skyplex_livecodebench.compare import compare_value
    from skyplex_livecodebench.problems import Problem
    from datetime import datetime

    try:
        expected_text = json.dumps(v, allow_nan=True)
    except (TypeError, ValueError):
        return
    expected = json.loads(expected_text)
    it = OutputItem("x#0", Problem("x", "x", "", "leetcode", "", datetime(2024, 1, 1), "easy", func_name="f"), 0,
                    "f(a = 1)", expected_text)
    assert grade_test_output(it, fenced("f(a = 1)", repr(w))).passed == compare_value(w, expected)
    assert grade_test_output(it, fenced("f(a = 1)", repr(expected))).passed
    value, normal = parse_literal(repr(w))
    assert parse_literal(normal)[0] == value


def test_literal_parser_limits():
    with pytest.raises(NotALiteral, match="longer"):
        parse_literal("[" * 200_000)
    with pytest.raises(NotALiteral):
        parse_literal("[" * 5000 + "]" * 5000)   # nested too deeply: refused, not a crash
    assert last_assert("assert f() == 'a # b'") == "'a # b'"


# --- self-repair -------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("sandbox_ok")
def test_feedback_names_the_failing_test(problems):
    from skyplex_livecodebench.grader import grade
    from skyplex_livecodebench.repair import feedback, repair_prompt

    p = problems["1873_A"]
    v = grade(p, "print('NO')")
    text = feedback(p, v)
    assert text.startswith("Wrong Answer") and p.public_tests[0].input.strip()[:5] in text
    assert "Expected:" in text and "YES" in text
    prompt = repair_prompt(p, "print('NO')", text)[1].content
    assert "print('NO')" in prompt and "### Feedback:" in prompt and text in prompt
    crash = grade(p, "raise ValueError('boom')")
    assert "Runtime Error" in feedback(p, crash) and "boom" in feedback(p, crash)
    assert feedback(p, grade(p, None)).startswith("No Code")
    func = problems["2727"]
    assert "class Solution" in repair_prompt(func, "x", "f")[1].content   # the starter code is the format
