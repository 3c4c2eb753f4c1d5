"""OpenAI-compatible request and response bodies (the subset skyplex's model backends can honour).

Requests ignore fields they do not know (OpenAI clients send extras such as ``user``); fields they do
know are validated, so a bad value answers 400 naming the field. Responses follow OpenAI's shapes, so
the official clients parse them; each logprob entry also carries ``token_id`` (an extension).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, WrapValidator, field_validator
from pydantic_core import PydanticCustomError

from ..errors import InvalidInputError
from ..interfaces import ChatMessage, GenerationParams, OutputConstraint, TokenLogprob, Usage

# request scalars take JSON's own types only: `true` is not a count, "0.5" is not a temperature
SInt = Annotated[int, Strict()]
SBool = Annotated[bool, Strict()]
SFloat = Annotated[float, Strict()]

#: below this a temperature is treated as 0 (greedy), as vLLM does: dividing logits by it overflows
MIN_TEMPERATURE = 1e-5
#: the smallest top_p passed on to a sampler (see _Request._sampling)
MIN_TOP_P = 1e-6
#: seeds are 64-bit, as in OpenAI's API
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


def _one_message(expected: str) -> Any:
    """A wrap validator that reports a failed union as one sentence, not pydantic's per-member paths."""

    def validate(value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            # keep a nested error's position (e.g. which token id) but none of the union's member names
            inner = exc.errors()[0]
            where = [p for p in inner.get("loc", ()) if isinstance(p, int)]
            at = f" (problem at index {'.'.join(map(str, where))}: {inner.get('msg')})" if where else ""
            raise PydanticCustomError("invalid_type", "must be {expected}{at}", {"expected": expected, "at": at}) from None

    return WrapValidator(validate)

# requests -----------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = Field(default=None, description="A model backend name or alias (see /v1/models); default: the configured one.")
    max_tokens: SInt | None = Field(default=None, ge=0, le=32768, description="Default 16 (completions) or 64 (chat).")
    temperature: SFloat | None = Field(
        default=None, ge=0.0, le=2.0, description="Default 1. 0 (or below 1e-5) means greedy decoding."
    )
    top_p: SFloat | None = Field(default=None, gt=0.0, le=1.0, description="Default 1.")
    seed: SInt | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    stop: str | list[str] | None = Field(default=None, description="Up to 16 stop strings.")
    n: SInt = Field(default=1, ge=1, le=16, description="Completions per prompt.")
    stream: SBool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = Field(
        default=None, description="json_object or json_schema: the output is constrained to valid JSON."
    )

    logit_bias: dict[str, float] | None = Field(default=None, description="Not supported: refused unless empty.")
    presence_penalty: SFloat | None = Field(default=None, ge=-2.0, le=2.0, description="Not supported: refused unless 0.")
    frequency_penalty: SFloat | None = Field(default=None, ge=-2.0, le=2.0, description="Not supported: refused unless 0.")

    def refuse_unsupported(self) -> None:
        """A 400 naming the first field set to something this gateway would otherwise have to ignore."""
        if self.logit_bias:
            raise InvalidInputError("logit_bias is not supported; leave it out", field="logit_bias")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise InvalidInputError(f"{name} is not supported; leave it out or send 0", field=name)

    def _sampling(self) -> dict[str, Any]:
        temperature = 1.0 if self.temperature is None else self.temperature
        return {
            "temperature": 0.0 if temperature < MIN_TEMPERATURE else temperature,
            # any top_p below 1/vocabulary keeps only the most likely token; 1e-6 says the same in float32
            # (1e-300 rounds to 0 there, and a zero nucleus would leave nothing to sample)
            "top_p": 1.0 if self.top_p is None else max(self.top_p, MIN_TOP_P),
            "seed": self.seed,
            "stop": self.stop or [],
            "constraint": self.response_format.constraint() if self.response_format else None,
        }

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
    include_usage: SBool = False


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(default="response", max_length=64)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: SBool | None = None


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: plain text, any JSON object, or JSON valid against a schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def constraint(self) -> OutputConstraint | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return OutputConstraint(type="json", json_schema={"type": "object"})
        if self.json_schema is None or self.json_schema.json_schema is None:
            raise InvalidInputError(
                "response_format of type json_schema needs json_schema.schema (a JSON Schema object)",
                field="response_format.json_schema.schema",
            )
        return OutputConstraint(type="json", json_schema=self.json_schema.json_schema)


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDef


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"] = "function"
    function: NamedFunction


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str | list[TextPart] | None, _one_message("a string, a list of text parts, or null")] = Field(
        default=None, description="Text, or a list of text parts (joined)."
    )
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = Field(default=None, description="An assistant's earlier tool calls.")
    tool_call_id: str | None = None

    def to_chat_message(self) -> ChatMessage:
        if isinstance(self.content, list):
            text = "".join(part.text for part in self.content)
        else:
            text = self.content or ""
        # 'developer' is OpenAI's newer name for the system role
        role = "system" if self.role == "developer" else self.role
        if self.tool_calls and not text:
            # an earlier tool call goes back to the model in the form it was asked to write it in
            text = "\n".join(_tool_call_text(call) for call in self.tool_calls)
        return ChatMessage(role=role, content=text)


def _tool_call_text(call: dict[str, Any]) -> str:
    import json

    function = call.get("function") or {}
    arguments = function.get("arguments") or "{}"
    try:
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        pass
    return json.dumps({"name": function.get("name", ""), "arguments": arguments})


class ChatCompletionRequest(_Request):
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: SInt | None = Field(default=None, ge=1, le=32768, description="Alias of max_tokens.")
    logprobs: SBool = False
    top_logprobs: SInt | None = Field(default=None, ge=0, le=20)
    tools: list[Tool] | None = Field(default=None, max_length=64, description="Functions the model may call.")
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = Field(
        default=None, description="Default 'auto' when tools are given."
    )

    def generation_params(self) -> GenerationParams:
        max_tokens = self.max_completion_tokens or self.max_tokens or 64
        return GenerationParams(
            max_tokens=max_tokens,
            logprobs=self.logprobs,
            top_logprobs=(self.top_logprobs or 0) if self.logprobs else 0,
            **self._sampling(),
        )


TokenIds = list[Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)]]
PromptIn = Annotated[
    Union[str, list[str], TokenIds, list[TokenIds]],
    _one_message("a string, a list of strings, a list of token ids, or a list of token-id lists"),
]


class CompletionRequest(_Request):
    prompt: PromptIn = Field(description="Text, a list of texts, token ids, or a list of token-id lists (one choice each).")
    logprobs: SInt | None = Field(default=None, ge=0, le=20, description="Return logprobs with this many alternatives.")
    echo: SBool = Field(default=False, description="Return the prompt before the completion (with its logprobs, the first null).")
    suffix: str | None = Field(default=None, description="Not supported: refused unless empty.")
    best_of: SInt | None = Field(default=None, ge=1, le=16, description="Only equal to n (the default) is supported.")

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.suffix:
            raise InvalidInputError("suffix (text insertion) is not supported; leave it out", field="suffix")
        if self.best_of is not None and self.best_of != self.n:
            raise InvalidInputError("best_of other than n is not supported; leave it out", field="best_of")

    @field_validator("prompt")
    @classmethod
    def _some_prompt(cls, value: Any) -> Any:
        if isinstance(value, list) and (not value or any(isinstance(v, list) and not v for v in value)):
            raise PydanticCustomError("empty", "give at least one prompt, and at least one token in each token list")
        return value

    def prompts(self) -> list[str | list[int]]:
        """Each prompt: text or token ids."""
        value = self.prompt
        if isinstance(value, str):
            return [value]
        if value and all(isinstance(v, int) for v in value):
            return [list(value)]
        return list(value)

    def generation_params(self) -> GenerationParams:
        return GenerationParams(
            max_tokens=self.max_tokens or 16,
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
            **self._sampling(),
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


class FunctionCall(BaseModel):
    name: str
    arguments: str = Field(description="The arguments as a JSON string.")


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = Field(default=None, exclude_if=lambda v: v is None)


FinishReason = Literal["stop", "length", "tool_calls"]


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason
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
    tool_calls: list[dict[str, Any]] | None = Field(default=None, exclude_if=lambda v: v is None)


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: FinishReason | None = None
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
    token_logprobs: list[float | None] = Field(description="With echo, the prompt's first token has null.")
    top_logprobs: list[dict[str, float] | None] | None = None
    text_offset: list[int]
    token_ids: list[int | None] | None = Field(default=None, description="skyplex extension: the tokens' ids.")

    @classmethod
    def of(
        cls,
        logprobs: list[TokenLogprob | None] | None,
        top_n: int,
        start_offset: int = 0,
        first_token: tuple[str, int] | None = None,
    ) -> CompletionLogprobs | None:
        """OpenAI's shape; ``first_token`` (text, id) stands for an echoed prompt's unscored first token."""
        if logprobs is None:
            return None
        offsets, pos, tokens, ids = [], start_offset, [], []
        for lp in logprobs:
            text, tid = (lp.token, lp.token_id) if lp is not None else (first_token or ("", None))
            offsets.append(pos)
            tokens.append(text)
            ids.append(tid)
            pos += len(text)
        return cls(
            tokens=tokens,
            token_logprobs=[lp.logprob if lp is not None else None for lp in logprobs],
            top_logprobs=[
                dict(sorted(lp.top.items(), key=lambda kv: -kv[1])[:top_n]) if lp is not None else None
                for lp in logprobs
            ]
            if top_n
            else None,
            text_offset=offsets,
            token_ids=ids,
        )


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: CompletionLogprobs | None = None
    prompt_token_ids: list[int] | None = Field(default=None, description="skyplex extension (with echo): the prompt's ids.")


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
    choices: list[StreamedTextChoice]
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


# tokenizer routes (as vLLM offers them) ----------------------------------------------------------


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = None
    prompt: str | None = Field(default=None, description="Text to tokenise.")
    messages: list[ChatMessageIn] | None = Field(default=None, description="Or a conversation (chat template applied).")
    add_special_tokens: SBool = Field(default=False, description="Accepted for compatibility; no special tokens are added.")
    add_generation_prompt: SBool = True
    return_token_strs: SBool = False


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int | None
    tokens: list[int]
    token_strs: list[str] | None = None


class DetokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = None
    tokens: TokenIds


class DetokenizeResponse(BaseModel):
    prompt: str


class TokenizerInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    tokenizer_class: str | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    unk_token: str | None = None
    chat_template: str | None = None
    vocab_size: int | None = None
    model_max_length: int | None = None


_Request.model_rebuild()
ChatCompletionRequest.model_rebuild()
CompletionRequest.model_rebuild()
TextCompletionChunk.model_rebuild()
