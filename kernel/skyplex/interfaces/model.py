"""Model backends: turn prompts (text or chat messages) into completions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Union

from pydantic import Field

from .common import SkyplexModel


class ChatMessage(SkyplexModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


#: A prompt is raw text (sent as is) or a conversation (the backend applies its chat template).
Prompt = Union[str, list[ChatMessage]]


class GenerationParams(SkyplexModel):
    max_tokens: int = Field(default=64, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=5.0, description="0 means greedy decoding.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, description="Makes sampled decoding repeatable.")
    stop: list[str] = Field(default_factory=list, max_length=16)
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=20)
    prefix_reuse: bool = Field(
        default=True, description="Let the backend prefill a prefix shared by the batch once and reuse it."
    )


class TokenLogprob(SkyplexModel):
    token: str
    token_id: int | None = None
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


class Usage(SkyplexModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = Field(default=0, description="Prompt tokens served from a reused prefix.")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Completion(SkyplexModel):
    text: str
    finish_reason: Literal["stop", "length"]
    usage: Usage
    logprobs: list[TokenLogprob] | None = None


class ModelInfo(SkyplexModel):
    backend: str
    model: str
    context_length: int | None = None
    supports_logprobs: bool = True
    supports_prefix_reuse: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class ModelBackend(ABC):
    """One way of running an LLM. Implementations batch internally; callers pass whole batches."""

    name: str = "unnamed"

    @abstractmethod
    def info(self) -> ModelInfo:
        """What model this serves and what it supports. Must not load weights."""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        """One completion per prompt, in order."""

    def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> Iterator[str]:
        """Text pieces of one completion as they are produced; backends that can, override this."""
        yield self.generate([prompt], params)[0].text

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` for this model; a rough estimate unless the backend overrides it."""
        return max(1, len(text) // 4)

    def close(self) -> None:
        """Release weights, connections, threads."""
