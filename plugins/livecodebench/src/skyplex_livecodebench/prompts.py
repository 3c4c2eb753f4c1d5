"""Code-generation prompts in the benchmark's format (a system message, the statement, starter code)."""

from __future__ import annotations

from skyplex.interfaces.model import ChatMessage

from .problems import Problem

SYSTEM = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
          "generate a correct Python program that matches the specification and passes all tests.")
STDIN_FORMAT = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test "
                "on the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python "
                "program runs, it reads the inputs, runs the algorithm and writes output to STDOUT.")
STARTER_FORMAT = ("You will use the following starter code to write the solution to the problem and enclose your "
                  "code within delimiters.")


def generation_prompt(problem: Problem) -> list[ChatMessage]:
    """Chat messages asking for a solution; the answer's last fenced block is graded."""
    body = f"### Question:\n{problem.content}\n\n"
    if problem.starter_code:
        body += f"### Format: {STARTER_FORMAT}\n```python\n{problem.starter_code}\n```\n\n"
    else:
        body += f"### Format: {STDIN_FORMAT}\n```python\n# YOUR CODE HERE\n```\n\n"
    body += "### Answer: (use the provided format with backticks)\n\n"
    return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=body)]
