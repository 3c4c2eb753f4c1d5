"""OpenAI-compatible request and response bodies (the subset skyplex's model backends can honour).

Requests ignore fields they do not know (OpenAI clients send extras such as ``user``); fields they do
know are validated, so a bad value answers 400 naming the field. Responses follow OpenAI's shapes, so
the official clients parse them; each logprob entry also carries ``token_id`` (an extension).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..interfaces import ChatMessage, GenerationParams, TokenLogprob, Usage

# requests -----------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = Field(default=None, description="A model backend name (see /v1/models); default: the configured one.")
    max_tokens: int | None = Field(default=None, ge=1, le=32768, description="Default 64.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = Field(default=None, description="Up to 16 stop strings.")
    n: int = Field(default=1, ge=1, le=1, description="Only 1 is supported.")
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str]:
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > 16:
            raise ValueError("at most 16 stop strings are supported")
        if any(s == "" for s in stops):
            raise ValueError("stop strings must not be empty")
        return stops


class StreamOptions(BaseModel):
    include_usage: bool = False


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = Field(description="Text, or a list of text parts (joined).")
    name: str | None = None

    def to_chat_message(self) -> ChatMessage:
        if isinstance(self.content, list):
            text = "".join(part.text for part in self.content)
        else:
            text = self.content or ""
        # 'developer' is OpenAI's newer name for the system role
        role = "system" if self.role == "developer" else self.role
        return ChatMessage(role=role, content=text)


class ChatCompletionRequest(_Request):
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768, description="Alias of max_tokens.")
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def generation_params(self) -> GenerationParams:
        return GenerationParams(
            max_tokens=self.max_completion_tokens or self.max_tokens or 64,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=self.stop or [],
            logprobs=self.logprobs,
            top_logprobs=(self.top_logprobs or 0) if self.logprobs else 0,
        )


class CompletionRequest(_Request):
    prompt: str | list[str] = Field(description="A prompt, or a list of prompts (one choice each).")
    logprobs: int | None = Field(default=None, ge=0, le=20, description="Return logprobs with this many alternatives.")
    echo: Literal[False] = Field(default=False, description="Not supported (must be false).")

    @field_validator("prompt")
    @classmethod
    def _some_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one prompt")
        return value

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def generation_params(self) -> GenerationParams:
        return GenerationParams(
            max_tokens=self.max_tokens or 16,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=self.stop or [],
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
        )


# responses ----------------------------------------------------------------------------------------


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)

    @classmethod
    def of(cls, usages: list[Usage]) -> UsageOut:
        prompt = sum(u.prompt_tokens for u in usages)
        completion = sum(u.completion_tokens for u in usages)
        cached = sum(u.cached_prompt_tokens for u in usages)
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
        )


class TopLogprobOut(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class ChatTokenLogprob(TopLogprobOut):
    token_id: int | None = Field(default=None, description="skyplex extension: the token's id.")
    top_logprobs: list[TopLogprobOut] = Field(default_factory=list)


class ChatChoiceLogprobs(BaseModel):
    content: list[ChatTokenLogprob] | None = None

    @classmethod
    def of(cls, logprobs: list[TokenLogprob] | None, top_n: int) -> ChatChoiceLogprobs | None:
        if logprobs is None:
            return None
        return cls(
            content=[
                ChatTokenLogprob(
                    token=lp.token,
                    token_id=lp.token_id,
                    logprob=lp.logprob,
                    bytes=list(lp.token.encode()),
                    top_logprobs=[
                        TopLogprobOut(token=t, logprob=v, bytes=list(t.encode()))
                        for t, v in sorted(lp.top.items(), key=lambda kv: -kv[1])[:top_n]
                    ],
                )
                for lp in logprobs
            ]
        )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: ChatChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: UsageOut
    system_fingerprint: str | None = None


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: ChatChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: UsageOut | None = None


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None = None
    text_offset: list[int]
    token_ids: list[int | None] | None = Field(default=None, description="skyplex extension: the tokens' ids.")

    @classmethod
    def of(cls, logprobs: list[TokenLogprob] | None, top_n: int, start_offset: int = 0) -> CompletionLogprobs | None:
        if logprobs is None:
            return None
        offsets, pos = [], start_offset
        for lp in logprobs:
            offsets.append(pos)
            pos += len(lp.token)
        return cls(
            tokens=[lp.token for lp in logprobs],
            token_logprobs=[lp.logprob for lp in logprobs],
            top_logprobs=[dict(sorted(lp.top.items(), key=lambda kv: -kv[1])[:top_n]) for lp in logprobs]
            if top_n
            else None,
            text_offset=offsets,
            token_ids=[lp.token_id for lp in logprobs],
        )


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: CompletionLogprobs | None = None


class TextCompletion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: UsageOut
    system_fingerprint: str | None = None


class TextCompletionChunk(BaseModel):
    """One server-sent event of a streamed text completion."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice | StreamedTextChoice]
    usage: UsageOut | None = None


class StreamedTextChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: CompletionLogprobs | None = None


class ModelCard(BaseModel):
    """A model backend, in OpenAI's model-object shape plus skyplex's description fields."""

    model_config = ConfigDict(protected_namespaces=())

    id: str = Field(description="The backend name to pass as `model`.")
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = Field(description="The plugin that registered the backend.")
    description: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


ChatCompletionRequest.model_rebuild()
CompletionRequest.model_rebuild()
TextCompletionChunk.model_rebuild()
