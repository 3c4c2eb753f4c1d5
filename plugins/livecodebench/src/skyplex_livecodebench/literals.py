"""Reading a model's predicted value: the right-hand side of an ``assert ... == VALUE``, parsed as a
Python literal (``ast.literal_eval``), never evaluated. Shared by code execution and test output prediction."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from skyplex import InvalidInputError

from .problems import Problem, TestCase

#: predictions longer than this are refused unread (a literal parser on megabytes of nesting is a hazard)
MAX_PREDICTION_CHARS = 100_000
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


class NotALiteral(ValueError):
    """The prediction is missing or is not a plain Python literal (a call, a name, arithmetic...)."""


def parse_literal(text: str) -> tuple[Any, str]:
    """``(value, normalised source)`` of a literal, or :class:`NotALiteral` naming why not.

    The normalised source (``ast.unparse``) has no comments or line breaks outside strings, so it can be
    placed inside a larger expression without changing its meaning."""
    text = text.strip()
    if not text:
        raise NotALiteral("the prediction is empty")
    if len(text) > MAX_PREDICTION_CHARS:
        raise NotALiteral(f"the prediction is longer than {MAX_PREDICTION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
        value = ast.literal_eval(tree)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise NotALiteral(f"the prediction {text[:80]!r} is not a Python literal ({type(exc).__name__})") from None
    try:
        return value, ast.unparse(tree)
    except (ValueError, RecursionError):
        raise NotALiteral("the prediction cannot be normalised (nested too deeply)") from None


def assert_rhs(statement: str) -> str | None:
    """The source of VALUE in ``assert CALL == VALUE`` (None when ``statement`` is not such an assert)."""
    try:
        tree = ast.parse(statement.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return None
    return ast.get_source_segment(statement.strip(), test.comparators[0])


def last_assert(text: str) -> str | None:
    """The predicted value's source from the last ``assert`` statement in ``text`` (fenced blocks first)."""
    blocks = _FENCE.findall(text)
    for region in [*reversed(blocks), text]:
        lines = region.split("\n")
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].lstrip().startswith("assert"):
                # an assertion may continue over several lines (a long list): try growing spans
                for j in range(i + 1, min(len(lines), i + 200) + 1):
                    rhs = assert_rhs("\n".join(line.strip() if k == i else line for k, line in enumerate(lines[i:j], i)))
                    if rhs is not None:
                        return rhs
    return None


def parameter_names(problem: Problem) -> list[str] | None:
    """The method's parameter names from the starter code (without ``self``), or None if unreadable."""
    if not problem.starter_code or not problem.func_name:
        return None
    src = problem.starter_code.rstrip() + "\n" + " " * 8 + "pass\n"
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == problem.func_name:
            names = [a.arg for a in node.args.args]
            return names[1:] if names and names[0] == "self" else names
    return None


def call_text(problem: Problem, case: TestCase) -> str:
    """The test as a Python call, ``name(a = 1, b = [2])``, as the benchmark's prediction prompts show it."""
    if not problem.func_name:
        raise InvalidInputError(f"problem {problem.question_id} is not functional (no method to call)")
    try:
        args = [json.loads(line) for line in case.input.split("\n")]
    except ValueError:
        raise InvalidInputError(f"problem {problem.question_id}: a test input is not one JSON value per line") from None
    names = parameter_names(problem)
    if names is not None and len(names) == len(args):
        inner = ", ".join(f"{n} = {a!r}" for n, a in zip(names, args))
    else:
        inner = ", ".join(repr(a) for a in args)
    return f"{problem.func_name}({inner})"
