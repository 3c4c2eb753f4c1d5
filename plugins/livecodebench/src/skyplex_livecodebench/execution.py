"""Code execution: given a program and a call, the model predicts the value the call returns.

The prediction must be a plain Python literal (a call, a name or arithmetic is refused on the host, so
an answer that just repeats the call cannot pass). It is graded by running the assertion
``assert (CALL) == (PREDICTION)`` after the program, in the sandbox, as a real process with the same
limits as code generation. A pass also needs a random token printed after the assertion, so a program
that exits early (``exit()``) or prints something of its own cannot pass by accident.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from skyplex import InvalidInputError
from skyplex.interfaces.model import ChatMessage

from .grader import Limits, Verdict
from .literals import NotALiteral, last_assert, parse_literal
from .problems import Problem, TestCase, parse_date

SYSTEM = "You are an expert Python programmer who can run code in your head exactly, step by step."
DIRECT = ("Below is a Python program and an assertion that calls it. Replace ?? with the value the call returns, "
          "written as a Python literal (no expressions, no function calls), even if the program looks wrong. "
          "Write only the completed assertion between [ANSWER] and [/ANSWER].")
COT = ("Below is a Python program and an assertion that calls it. First trace the execution step by step between "
       "[THOUGHT] and [/THOUGHT]. Then replace ?? with the value the call returns, written as a Python literal (no "
       "expressions, no function calls), and write the completed assertion between [ANSWER] and [/ANSWER].")
EXAMPLE = ("```python\ndef f(s):\n    return s + s[::-1]\n\nassert f(s = \"ab\") == ??\n```\n"
           "[ANSWER]\nassert f(s = \"ab\") == \"abba\"\n[/ANSWER]\n\n")
_ANSWER = re.compile(r"\[ANSWER\](.*?)(?:\[/ANSWER\]|$)", re.S)
_FENCE_LINE = re.compile(r"^\s*```[^\n]*$", re.M)


@dataclass(frozen=True)
class ExecutionItem:
    """One program and one call (``input``, a Python call expression) with the value it returns (``output``)."""

    id: str
    question_id: str
    code: str
    input: str
    output: str
    contest_date: datetime = field(default=datetime(1970, 1, 1))
    difficulty: str = "unknown"
    platform: str = "unknown"


def item_from_record(rec: object, where: str = "item", *, need_output: bool = True) -> ExecutionItem:
    """An :class:`ExecutionItem` from one record (the benchmark's execution fields); without
    ``need_output`` the reference value may be absent (grading never reads it)."""
    if not isinstance(rec, dict):
        raise InvalidInputError(f"{where} must be a JSON object")
    if not need_output and "output" not in rec:
        rec = {**rec, "output": "None"}
    missing = [k for k in ("code", "input", "output") if not isinstance(rec.get(k), str)]
    if missing:
        raise InvalidInputError(f"{where} needs string fields {', '.join(missing)} (program, call, value); "
                                "is this a code execution items file?")
    try:
        call = ast.parse(rec["input"].strip(), mode="eval").body
    except SyntaxError:
        raise InvalidInputError(f"{where}.input must be one Python call expression like f(x = 1)") from None
    if not isinstance(call, ast.Call):
        raise InvalidInputError(f"{where}.input must be a call like f(x = 1), got {rec['input'][:60]!r}")
    try:
        parse_literal(rec["output"])
    except NotALiteral as exc:
        raise InvalidInputError(f"{where}.output: {exc}") from None
    qid = str(rec.get("question_id", rec.get("id", where)))
    return ExecutionItem(str(rec.get("id", qid)), qid, rec["code"], rec["input"].strip(), rec["output"].strip(),
                         parse_date(rec.get("contest_date", "1970-01-01"), f"{where}.contest_date"),
                         str(rec.get("difficulty", "unknown")), str(rec.get("platform", "unknown")))


def load_execution_items(path: str | Path) -> list[ExecutionItem]:
    """Items from a JSONL file (one record a line) or a JSON list."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        records = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise InvalidInputError(f"{p}: not valid JSON or JSONL ({exc})") from None
    if not records:
        raise InvalidInputError(f"{p} holds no items")
    items = [item_from_record(r, f"{p}[{i}]") for i, r in enumerate(records)]
    if len({i.id for i in items}) != len(items):
        raise InvalidInputError(f"{p}: item ids must be unique")
    return items


def execution_prompt(item: ExecutionItem, *, cot: bool = False) -> list[ChatMessage]:
    """Direct or chain-of-thought prompt, with one worked example."""
    body = (f"{COT if cot else DIRECT}\n\nExample:\n{EXAMPLE}Now this one:\n"
            f"```python\n{item.code.rstrip()}\n\nassert {item.input} == ??\n```\n")
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=body)]


def extract_prediction(answer: str) -> str | None:
    """The predicted value's source: from the last ``[ANSWER]`` block (an assertion, or a bare value),
    else from the last assertion anywhere in the answer."""
    blocks = _ANSWER.findall(answer)
    if blocks:
        region = _FENCE_LINE.sub("", blocks[-1]).strip()
        if "assert" in region:
            return last_assert(region)
        return region or None
    return last_assert(answer)


def assertion_program(item: ExecutionItem, prediction: str, token: str) -> str:
    """The program run in the sandbox: the item's code with its output silenced, the assertion, the token."""
    return ("import sys as _skyplex_sys, io as _skyplex_io\n_skyplex_stdout = _skyplex_sys.stdout\n"
            "_skyplex_sys.stdout = _skyplex_io.StringIO()\n"
            f"{item.code.rstrip()}\n\n"
            f"assert ({item.input}) == ({prediction}), 'the call returned something else'\n"
            f"_skyplex_sys.stdout = _skyplex_stdout\nprint({token!r})\n")


def grade_execution(pairs: Sequence[tuple[ExecutionItem, str]], *, limits: Limits | None = None, workers: int = 2,
                    progress: Callable[[int, int, str], None] | None = None) -> list[Verdict]:
    """Grade ``(item, model answer)`` pairs: literal check on the host, the assertion in the sandbox.
    (No journal: each grading draws fresh tokens; a job resumes from its cached answers instead.)"""
    from .batch import grade_many

    verdicts: list[Verdict | None] = [None] * len(pairs)
    tasks, where = [], []
    for i, (item, answer) in enumerate(pairs):
        src = extract_prediction(answer)
        try:
            if src is None:
                raise NotALiteral("the answer has no [ANSWER] block or assertion")
            _, literal = parse_literal(src)
        except NotALiteral as exc:
            verdicts[i] = Verdict(item.id, "NO_ANSWER", 1, first_failure=0, message=str(exc))
            continue
        token = "skyplex-ok-" + secrets.token_hex(16)
        problem = Problem(item.id, item.id, "", item.platform, "", item.contest_date, item.difficulty,
                          public_tests=[TestCase("", token + "\n", "stdin")])
        tasks.append((problem, assertion_program(item, literal, token)))
        where.append(i)
    for i, v in zip(where, grade_many(tasks, workers=workers, limits=limits, progress=progress)):
        verdicts[i] = _execution_verdict(v)
    return [v for v in verdicts if v is not None]


def _execution_verdict(v: Verdict) -> Verdict:
    """Recast a program verdict: a failed assertion is a wrong prediction; no token means the program
    ended (or printed) before the assertion could be checked."""
    if v.status == "RE" and "AssertionError: the call returned something else" in v.message:
        return Verdict(v.question_id, "WA", 1, 0, 0, "the call returns a different value", cpu_s=v.cpu_s)
    if v.status == "WA":
        return Verdict(v.question_id, "RE", 1, 0, 0, "the program ended before the assertion was checked", cpu_s=v.cpu_s)
    return Verdict(v.question_id, v.status, 1, v.tests_passed, v.first_failure, v.message, cpu_s=v.cpu_s,
                   tolerant_pass=None)
