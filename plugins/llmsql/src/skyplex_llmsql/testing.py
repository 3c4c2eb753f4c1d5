"""A deterministic stand-in model for tests and examples (importable by Spark workers).

:class:`EchoBackend` answers each prompt with a function of the prompt's text only, so a result
that lands on the wrong row is visible, and it records every batch it was sent. Cells are
``field: value`` lines; the answer is ``rule`` applied to them (by default the values joined by
``|`` in field-name order, so the answer does not depend on the planned field order).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from skyplex.interfaces.model import Completion, GenerationParams, ModelBackend, ModelInfo, Prompt, Usage


def prompt_values(prompt: str) -> dict[str, str]:
    """The ``field: value`` lines of an instruction-form prompt, by field."""
    _, _, body = prompt.partition("\n\n")
    out = {}
    for line in body.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            out[name] = value
    return out


def default_rule(prompt: str) -> str:
    values = prompt_values(prompt)
    return "|".join(values[k] for k in sorted(values)) if values else prompt


class EchoBackend(ModelBackend):
    """Answers ``rule(prompt)``; ``fail_on`` makes prompts containing that text raise (one bad row)."""

    name = "echo"

    def __init__(self, rule: Callable[[str], str] = default_rule, *, fail_on: str | None = None,
                 context_length: int | None = 4096) -> None:
        self.rule = rule
        self.fail_on = fail_on
        self.context_length = context_length
        self.batches: list[list[str]] = []
        self._lock = threading.Lock()

    def info(self) -> ModelInfo:
        return ModelInfo(backend="echo", model="echo", context_length=self.context_length, supports_prefix_reuse=False)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        texts = [p if isinstance(p, str) else "\n".join(m.content for m in p) for p in prompts]
        with self._lock:
            self.batches.append(texts)
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise RuntimeError(f"refused a prompt containing {self.fail_on!r}")
        return [Completion(text=self.rule(t), finish_reason="stop",
                           usage=Usage(prompt_tokens=self.count_tokens(t), completion_tokens=1)) for t in texts]
