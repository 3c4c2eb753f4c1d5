"""Self-repair: a failed program and the feedback from its verdict go back to the model, whose new
program is graded exactly as code generation (the same sandbox, tests and comparison)."""

from __future__ import annotations

from typing import Literal

from skyplex.interfaces.model import ChatMessage

from .grader import Verdict
from .problems import Problem
from .prompts import STARTER_FORMAT, STDIN_FORMAT

SYSTEM = ("You are an expert Python programmer. A user's program for a problem fails its tests. First explain in "
          "at most three sentences what is wrong, then give the whole corrected program in one code block.")
_NAMES = {"WA": "Wrong Answer", "TLE": "Time Limit Exceeded", "RE": "Runtime Error", "MLE": "Memory Limit Exceeded",
          "OLE": "Output Limit Exceeded", "NO_CODE": "No Code"}


def _clip(text: str, n: int = 600) -> str:
    return text if len(text) <= n else text[: n - 20] + f"... ({len(text)} chars)"


def feedback(problem: Problem, verdict: Verdict, tests: Literal["public", "private", "all"] = "public") -> str:
    """The verdict as text for the model: what went wrong, on which input, what was expected, the diff."""
    if verdict.passed:
        return "The program passes every test."
    name = _NAMES.get(verdict.status, verdict.status)
    if verdict.status == "NO_CODE":
        return f"{name}: the answer had no code block enclosed in ``` fences."
    lines = [f"{name}: {verdict.message}".rstrip(": ")]
    cases = problem.tests(tests)
    if verdict.first_failure is not None and 0 <= verdict.first_failure < len(cases):
        case = cases[verdict.first_failure]
        lines.append(f"Inputs:\n{_clip(case.input)}")
        lines.append(f"Expected:\n{_clip(case.output)}")
    if verdict.diff:
        lines.append(f"Output differs from the expected output at {_clip(verdict.diff)}")
    return "\n".join(lines)


def repair_prompt(problem: Problem, code: str, feedback_text: str) -> list[ChatMessage]:
    """The statement, the failed program, the feedback, and the format the fixed program must use."""
    fmt = (f"{STARTER_FORMAT}\n```python\n{problem.starter_code}\n```" if problem.starter_code
           else f"{STDIN_FORMAT}\n```python\n# YOUR CODE HERE\n```")
    body = (f"### Question:\n{problem.content}\n\n### Answer:\n```python\n{code}\n```\n\n"
            f"### Feedback:\n{feedback_text}\n\n### Format: {fmt}\n\n"
            "### Answer: (explain the error, then give the fixed program with backticks)\n\n")
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=body)]
