"""Model backends for tests that need a model's behaviour but not a model: no weights, no network.

``FakeModelBackend`` answers every prompt by a fixed rule (by default it echoes the prompt's last
line), and ``ScriptedModelBackend`` answers with replies the test wrote, recording every call. Both
keep the :class:`~skyplex.interfaces.ModelBackend` contract (they pass ``ModelBackendConformance``):
one completion per prompt, ``max_tokens`` and ``stop`` respected, a logprob per token (and
``top_logprobs`` alternatives when asked), ``stream`` equal to ``generate``. A "token" is a word with
the spaces that follow it, so counts are easy to predict in tests. Register them in a test kernel like any backend::

    class Models:
        @hookimpl
        def skyplex_register_models(self, register):
            register("scripted", lambda: ScriptedModelBackend(["SELECT 1", "SELECT 2"]))
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..interfaces import ChatMessage, Completion, GenerationParams, ModelBackend, ModelInfo, TokenLogprob, Usage

_TOKEN = re.compile(r"\s*\S+\s*|\s+")

#: what a reply rule may be: the reply text from the prompt's text
ReplyRule = Callable[[str], str]


def prompt_text(prompt: Any) -> str:
    """A prompt as plain text: text as is, a conversation as ``role: content`` lines."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and all(isinstance(m, ChatMessage) for m in prompt):
        return "\n".join(f"{m.role}: {m.content}" for m in prompt)
    raise InvalidInputError(
        f"this test backend takes text or chat prompts, not {type(prompt).__name__}", field="prompt"
    )


def split_tokens(text: str) -> list[str]:
    """``text`` as the fake backends' tokens: words with their surrounding spaces; joined back exactly."""
    return _TOKEN.findall(text)


def echo_last_line(prompt: str) -> str:
    """The default reply rule: the prompt's last non-empty line (or ``ok`` for an empty prompt)."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    last = lines[-1] if lines else "ok"
    return last.split(": ", 1)[1] if re.match(r"^(system|user|assistant|tool): ", last) else last


class _RuleBackend(ModelBackend):
    """Shared machinery: reply text by a rule, then cut to ``max_tokens`` and ``stop`` like a model."""

    backend_name = "fake"

    def __init__(self, model: str) -> None:
        self.model = model
        self.calls: list[tuple[list[Any], GenerationParams]] = []
        self._lock = threading.Lock()

    def reply(self, prompt: str) -> str:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def info(self) -> ModelInfo:
        return ModelInfo(backend=self.backend_name, model=self.model, context_length=4096, supports_logprobs=True)

    def count_tokens(self, text: str) -> int:
        return max(1, len(split_tokens(text)))

    def generate(self, prompts: Sequence[Any], params: GenerationParams | None = None) -> list[Completion]:
        params = params or GenerationParams()
        with self._lock:
            self.calls.append((list(prompts), params))
            replies = [self.reply(prompt_text(p)) for p in prompts]
        return [self._complete(prompt_text(p), reply, params) for p, reply in zip(prompts, replies)]

    def stream(self, prompt: Any, params: GenerationParams | None = None) -> Iterator[str]:
        (completion,) = self.generate([prompt], params)
        yield from split_tokens(completion.text)

    def _complete(self, prompt: str, reply: str, params: GenerationParams) -> Completion:
        tokens = split_tokens(reply) or ["ok"]
        text = "".join(tokens[: params.max_tokens])
        finish = "length" if len(tokens) > params.max_tokens else "stop"
        cuts = [text.find(s) for s in params.stop if s and s in text]
        if cuts:
            text, finish = text[: min(cuts)], "stop"
        kept = split_tokens(text)
        logprobs = None
        if params.logprobs:
            # a fixed, plausible distribution: later tokens are a little less certain
            logprobs = [TokenLogprob(token=t, token_id=i, logprob=-0.1 * (i + 1),
                                     top=self._alternatives(t, -0.1 * (i + 1), params.top_logprobs))
                        for i, t in enumerate(kept)]
        usage = Usage(prompt_tokens=self.count_tokens(prompt), completion_tokens=len(kept))
        return Completion(text=text, finish_reason=finish, usage=usage, logprobs=logprobs)

    @staticmethod
    def _alternatives(token: str, logprob: float, count: int) -> dict[str, float]:
        """``count`` most likely tokens: the chosen one first, then ``[alt1]``, ``[alt2]`` ... each one
        nat less likely (the brackets test that displays escape markup)."""
        top: dict[str, float] = {}
        k = 0
        while len(top) < count:
            name = token if k == 0 else f"[alt{k}]"
            top.setdefault(name, logprob - k)  # a reply may itself contain "[alt1]": never a duplicate
            k += 1
        return top


class FakeModelBackend(_RuleBackend):
    """A deterministic stand-in model: each reply is ``rule(prompt text)``, by default the prompt's last line.

    ``calls`` records every ``generate`` batch with its params, for tests that check what was asked.
    """

    backend_name = "fake"

    def __init__(self, rule: ReplyRule | None = None, *, model: str = "fake-model") -> None:
        super().__init__(model)
        self.rule = rule or echo_last_line

    def reply(self, prompt: str) -> str:
        return self.rule(prompt)


class ScriptedModelBackend(_RuleBackend):
    """Replies a test wrote: a list (used in order, one per prompt) or a mapping (the reply of the
    first key found in the prompt). An unscripted prompt fails the call with a message naming it,
    so a test never passes on a reply it did not expect.
    """

    backend_name = "scripted"

    def __init__(
        self,
        replies: Sequence[str] | Mapping[str, str],
        *,
        model: str = "scripted-model",
        repeat: bool = False,
    ) -> None:
        super().__init__(model)
        if isinstance(replies, str):
            raise InvalidInputError("give the scripted replies as a list or a mapping, not one string")
        self.by_substring = dict(replies) if isinstance(replies, Mapping) else None
        self.queue = [] if isinstance(replies, Mapping) else list(replies)
        self.repeat = repeat
        self.used = 0

    def reply(self, prompt: str) -> str:
        if self.by_substring is not None:
            for key, text in self.by_substring.items():
                if key in prompt:
                    return text
            raise AssertionError(f"no scripted reply for a prompt containing none of {list(self.by_substring)}: "
                                 f"{prompt[-120:]!r}")
        if not self.queue:
            raise AssertionError("the scripted model has no replies")
        if self.used >= len(self.queue) and not self.repeat:
            raise AssertionError(f"the scripted model ran out of replies after {len(self.queue)}: {prompt[-120:]!r}")
        text = self.queue[self.used % len(self.queue)]
        self.used += 1
        return text

    @property
    def remaining(self) -> int:
        """Replies of a list script not used yet."""
        return max(0, len(self.queue) - self.used)
