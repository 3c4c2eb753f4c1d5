"""Small generated tasks with known answers, for seeing the voting law on a small local model.

:func:`digit_arithmetic` writes few-shot single-digit arithmetic prompts ("3 + 4 = "), whose answer
is one digit token: the answer distribution is then exactly the next-token distribution over the
ten digits, readable in one forward pass (:func:`digit_distribution`). The prompt ends in a space
because tokenizers like SmolLM2's split " 7" into " " and "7": the space is already in the prompt,
just as it is in the model's own text "3 + 4 = 7". :func:`digit_sequences` ("2, 4, 6, ") is a
second task of the same single-digit form.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from skyplex.errors import InvalidInputError
from skyplex.interfaces.model import GenerationParams, ModelBackend

DIGITS = tuple("0123456789")


def _pair(op: str, rng: random.Random) -> tuple[int, int, int]:
    while True:
        a, b = rng.randint(0, 9), rng.randint(1, 9)
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        if 0 <= value <= 9:
            return a, b, value


def digit_arithmetic(n: int, *, seed: int = 0, shots: int = 3, ops: str = "+-*") -> list[dict]:
    """``n`` few-shot arithmetic queries whose answers are single digits: ``{id, prompt, answer, op}``."""
    if n < 1 or shots < 0 or not ops or set(ops) - set("+-*"):
        raise InvalidInputError("need n >= 1, shots >= 0 and ops from '+-*'", field="n")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        op = ops[i % len(ops)]
        lines = []
        for _ in range(shots):
            a, b, v = _pair(op, rng)
            lines.append(f"{a} {op} {b} = {v}")
        a, b, v = _pair(op, rng)
        lines.append(f"{a} {op} {b} = ")
        out.append({"id": f"arith-{seed}-{i}", "prompt": "\n".join(lines), "answer": str(v), "op": op})
    return out


def digit_sequences(n: int, *, seed: int = 0, shots: int = 3, length: int = 3) -> list[dict]:
    """``n`` few-shot "continue the sequence" queries whose next term is a single digit:
    ``{id, prompt, answer, step}``. Steps run over -3..3 without 0, so counting up by one (easy for a
    small model) and down by three (hard) are mixed in one task."""
    if n < 1 or shots < 0 or not 2 <= length <= 3:
        raise InvalidInputError("need n >= 1, shots >= 0 and 2 <= length <= 3 (a step of 3 over more "
                                "terms leaves the digits)", field="n")
    steps = (1, -1, 2, -2, 3, -3)
    rng = random.Random(seed)

    def line(step: int) -> tuple[str, int]:
        lo = max(0, -step * length)  # every term, the next one included, stays within 0..9
        hi = min(9, 9 - step * length)
        start = rng.randint(lo, hi)
        terms = [start + step * i for i in range(length + 1)]
        return ", ".join(str(t) for t in terms[:-1]) + ", ", terms[-1]

    out = []
    for i in range(n):
        step = steps[i % len(steps)]
        lines = [f"{head}{value}" for head, value in (line(rng.choice(steps)) for _ in range(shots))]
        head, value = line(step)
        lines.append(head)
        out.append({"id": f"seq-{seed}-{i}", "prompt": "\n".join(lines), "answer": str(value), "step": step})
    return out


def digit_distribution(backend: ModelBackend, prompts: Sequence[str]) -> list[dict[str, float]]:
    """Per prompt, the probability of each digit as the next token (from the top-20 logprobs of one
    greedy step; a digit outside the top 20 gets 0, a lower bound under 1e-3 or so)."""
    params = GenerationParams(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=20, prefix_reuse=False)
    out = []
    for c in backend.generate(list(prompts), params):
        top = c.logprobs[0].top if c.logprobs else {}
        out.append({d: math.exp(top[d]) for d in DIGITS if d in top})
    return out
