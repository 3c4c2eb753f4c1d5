"""Model backends: turn prompts (text or chat messages) into completions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Union

from pydantic import Field

from ..errors import InvalidInputError
from .common import SkyplexModel


class ChatMessage(SkyplexModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class TokenPrompt(SkyplexModel):
    """A prompt given as the model's own token ids (sent to the model exactly as is)."""

    token_ids: list[int] = Field(min_length=1)


#: A prompt is raw text (sent as is), a conversation (the backend applies its chat template), or
#: token ids (backends whose ``info().supports_token_prompts`` is true).
Prompt = Union[str, list[ChatMessage], TokenPrompt]


class NotSupportedError(InvalidInputError):
    """The backend cannot do what was asked (e.g. scoring, token-id prompts); another backend may."""

    error_type = "not_supported"


class OutputConstraint(SkyplexModel):
    """Restrict generated text to a formal language (grammar-constrained decoding).

    ``json`` with no schema means any JSON object; with ``json_schema``, JSON valid against it.
    Backends that cannot constrain output refuse the request (they never ignore the constraint).
    """

    type: Literal["json", "regex", "lark"] = "json"
    json_schema: dict[str, Any] | None = None
    pattern: str | None = Field(default=None, description="type 'regex': the text must match it in full.")
    grammar: str | None = Field(default=None, description="type 'lark': a Lark grammar (llguidance dialect).")


class GenerationParams(SkyplexModel):
    max_tokens: int = Field(default=64, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=5.0, description="0 means greedy decoding.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, description="Makes sampled decoding repeatable; in a batch, prompt i samples with seed + i.")
    stop: list[str] = Field(default_factory=list, max_length=16)
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=20)
    prefix_reuse: bool = Field(
        default=True, description="Let the backend prefill a prefix shared by the batch once and reuse it."
    )
    constraint: OutputConstraint | None = Field(
        default=None, description="Grammar the output must follow; refused by backends that cannot enforce it."
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


class ScoreRequest(SkyplexModel):
    """Score ``continuation`` after ``context``: log P(continuation | context).

    Text is tokenised as the whole ``context + continuation`` and split after the context's own
    tokens, so the continuation's tokens are those the model would see in the joined text. Token ids
    are used as given. An empty context means the model's end-of-text token stands before the
    continuation (the first token needs something to be predicted from).
    """

    context: str | list[int] = ""
    continuation: str | list[int]


class ContinuationScore(SkyplexModel):
    """Per-token logprobs of one continuation, their sum, and whether greedy decoding picks it."""

    logprob: float = Field(description="Sum of the continuation's token logprobs.")
    is_greedy: bool = Field(description="Every continuation token is the most likely one at its position.")
    tokens: list[TokenLogprob] = Field(description="One entry per continuation token, in order.")
    context_tokens: int = Field(description="Tokens the context took (the end-of-text token when it was empty).")


class PromptLogprobs(SkyplexModel):
    """Logprob of each prompt token given the ones before it (OpenAI's ``echo`` with logprobs)."""

    token_ids: list[int]
    logprobs: list[TokenLogprob | None] = Field(description="One per token; the first is None (nothing precedes it).")
    next_token: TokenLogprob | None = Field(default=None, description="With next_token=True: the most likely next token.")
    next_token_ends: bool = Field(default=False, description="That token ends the text (an end-of-text token).")


class ModelInfo(SkyplexModel):
    backend: str
    model: str
    context_length: int | None = None
    supports_logprobs: bool = True
    supports_prefix_reuse: bool = False
    supports_score: bool = Field(default=False, description="score() and prompt_logprobs() work.")
    supports_token_prompts: bool = Field(default=False, description="generate() takes TokenPrompt prompts.")
    supports_constraints: bool = Field(default=False, description="GenerationParams.constraint is enforced.")
    aliases: list[str] = Field(default_factory=list, description="Other names of the model (e.g. its hub id).")
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

    def score(self, requests: Sequence[ScoreRequest], *, top_logprobs: int = 0) -> list[ContinuationScore]:
        """log P(continuation | context) per request, in order, with per-token logprobs.

        ``top_logprobs`` alternatives are recorded per token. Backends that cannot score raise
        :class:`NotSupportedError` (and say ``supports_score=False`` in ``info()``).
        """
        raise NotSupportedError(f"model backend {self.name!r} cannot score text (no prompt logprobs)", field="model")

    def prompt_logprobs(
        self, prompts: Sequence[str | list[int]], *, top_logprobs: int = 0, next_token: bool = False
    ) -> list[PromptLogprobs]:
        """Each prompt's token logprobs given the tokens before it (the first token has none); with
        ``next_token`` also the greedy next token, when the backend can give it from the same pass."""
        raise NotSupportedError(f"model backend {self.name!r} cannot return prompt logprobs (echo)", field="model")

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids for ``text`` (no special tokens added)."""
        raise NotSupportedError(f"model backend {self.name!r} does not expose its tokenizer", field="model")

    def detokenize(self, token_ids: Sequence[int]) -> str:
        """The text of ``token_ids``."""
        raise NotSupportedError(f"model backend {self.name!r} does not expose its tokenizer", field="model")

    def tokenizer_info(self) -> dict[str, Any]:
        """Special tokens and chat template of the tokenizer (what evaluation clients ask for)."""
        raise NotSupportedError(f"model backend {self.name!r} does not expose its tokenizer", field="model")

    def close(self) -> None:
        """Release weights, connections, threads."""
