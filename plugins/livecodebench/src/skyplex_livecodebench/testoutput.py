"""Test output prediction: given a statement, the function's signature and a test input, the model
writes the expected output. The answer is parsed with a literal parser (never ``eval``) and compared
with the test's expected value by the benchmark's ``==``; no program runs, so no sandbox is needed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from skyplex import InvalidInputError
from skyplex.interfaces.model import ChatMessage

from .compare import compare_value, compare_value_tolerant
from .grader import Verdict
from .literals import NotALiteral, call_text, last_assert, parse_literal
from .problems import Problem

SYSTEM = ("You are an expert Python programmer helping to write test cases. Given a problem, a function's "
          "signature and an input, work out the function's correct output and write the whole assertion, with the "
          "output as a Python literal, in one markdown code block.")


@dataclass(frozen=True)
class OutputItem:
    """One test of a functional problem: the call shown to the model and the expected value (JSON text)."""

    id: str
    problem: Problem
    test_index: int
    call: str
    expected: str


def output_items(problems: Iterable[Problem], tests: str = "public") -> list[OutputItem]:
    """Every test of every functional (LeetCode-style) problem, in order; stdin problems are skipped
    (the benchmark's scenario uses only problems with a function to call)."""
    items = []
    for p in problems:
        if p.kind != "functional":
            continue
        for i, case in enumerate(p.tests(tests)):  # type: ignore[arg-type]
            items.append(OutputItem(f"{p.question_id}#{i}", p, i, call_text(p, case), case.output))
    return items


def output_prediction_prompt(item: OutputItem) -> list[ChatMessage]:
    """The statement, the signature, and an assertion whose right-hand side the model completes."""
    user = (f"### Problem:\n{item.problem.content}\n\n### Function:\n```python\n{item.problem.starter_code.rstrip()}\n```\n\n"
            f"Complete this test case with the correct output:\n\n```python\nassert {item.call} == # TODO\n```\n")
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=user)]


def grade_test_output(item: OutputItem, answer: str) -> Verdict:
    """AC when the answer's last ``assert ... == VALUE`` has a literal VALUE equal to the expected output."""
    qid = item.id
    rhs = last_assert(answer)
    if rhs is None:
        return Verdict(qid, "NO_ANSWER", 1, first_failure=0, message="the answer has no 'assert ... == VALUE' line")
    try:
        value, _ = parse_literal(rhs)
    except NotALiteral as exc:
        return Verdict(qid, "NO_ANSWER", 1, first_failure=0, message=str(exc))
    try:
        expected = json.loads(item.expected)
    except ValueError:
        raise InvalidInputError(f"{qid}: the expected output is not JSON; fix the problem file") from None
    tolerant = compare_value_tolerant(value, expected)
    if compare_value(value, expected):
        return Verdict(qid, "AC", 1, 1, tolerant_pass=tolerant)
    return Verdict(qid, "WA", 1, 0, 0, f"predicted {rhs[:200]}, expected {item.expected[:200]}", tolerant_pass=tolerant)
