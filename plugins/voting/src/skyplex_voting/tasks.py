"""Small generated tasks with known answers, for seeing the voting law on a small local model.

:func:`digit_arithmetic` writes few-shot single-digit arithmetic prompts ("3 + 4 = "), whose answer
is one digit token: the answer distribution is then exactly the next-token distribution over the
ten digits, readable in one forward pass (:func:`digit_distribution`). The prompt ends in a space
because tokenizers like SmolLM2's split " 7" into " " and "7": the space is already in the prompt,
just as it is in the model's own text "3 + 4 = 7".
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


def digit_distribution(backend: ModelBackend, prompts: Sequence[str]) -> list[dict[str, float]]:
    """Per prompt, the probability of each digit as the next token (from the top-20 logprobs of one
    greedy step; a digit outside the top 20 gets 0, a lower bound under 1e-3 or so)."""
    params = GenerationParams(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=20, prefix_reuse=False)
    out = []
    for c in backend.generate(list(prompts), params):
        top = c.logprobs[0].top if c.logprobs else {}
        out.append({d: math.exp(top[d]) for d in DIGITS if d in top})
    return out
