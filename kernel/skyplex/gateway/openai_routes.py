"""OpenAI-compatible routes: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``.

``model`` names a registered model backend. Non-streamed requests go through the backend's
:class:`~.batching.RequestCoalescer`, so concurrent HTTP requests share one batched ``generate`` call;
streamed ones use ``backend.stream`` and arrive as SSE chunks ending with ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ..errors import InvalidInputError, NotFoundError
from ..interfaces import Completion, GenerationParams, ModelBackend, Prompt
from ..kernel import Kernel
from .batching import RequestCoalescer, can_coalesce
from .openai_schemas import (
    AssistantMessage,
    ChatChoice,
    ChatChoiceLogprobs,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    ModelCard,
    ModelList,
    StreamedTextChoice,
    TextCompletion,
    TextCompletionChunk,
    UsageOut,
)

log = logging.getLogger(__name__)


class ModelRouting:
    """Finds backends by name and owns their request batchers (one per backend)."""

    def __init__(
        self, kernel: Kernel, *, batch_window_s: float | None, max_batch: int, batch_max_wait_s: float | None = None
    ) -> None:
        self.kernel = kernel
        self.batch_window_s = batch_window_s
        self.batch_max_wait_s = batch_max_wait_s
        self.max_batch = max_batch
        self._coalescers: dict[str, RequestCoalescer] = {}
        self._coalesce: dict[str, bool] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str | None) -> str:
        """The backend name to use for a request's ``model`` (404 naming the available ones)."""
        name = name or self.kernel.settings.default_model
        if name not in self.kernel.models:
            available = ", ".join(self.kernel.models.names()) or "none"
            raise NotFoundError(
                f"model {name!r} is not served here; set 'model' to one of: {available} (see GET /v1/models)",
                field="model",
            )
        return name

    async def backend(self, name: str) -> ModelBackend:
        backend = self.kernel.models.loaded().get(name)
        if backend is None:  # first use builds it (maybe loading weights): keep that off the event loop
            backend = await run_in_threadpool(self.kernel.models.get, name)
        return backend

    async def generate(self, name: str, prompts: list[Prompt], params: GenerationParams) -> list[Completion]:
        backend = await self.backend(name)
        coalescer = None
        if can_coalesce(params) and self.batch_window_s is not None:
            if name in self._coalesce:
                coalescer = self._coalescers.get(name)
            else:  # asks backend.info() once, which may touch disk
                coalescer = await run_in_threadpool(self._coalescer, name, backend)
        if coalescer is None:
            return await run_in_threadpool(backend.generate, prompts, params)
        return await asyncio.wrap_future(coalescer.submit(prompts, params))

    def _coalescer(self, name: str, backend: ModelBackend) -> RequestCoalescer | None:
        if self.batch_window_s is None:
            return None
        with self._lock:
            if name not in self._coalesce:
                # backends that batch on their own side (remote servers) say so; queueing here would only add latency
                self._coalesce[name] = bool(backend.info().details.get("coalesce_requests", True))
            if not self._coalesce[name]:
                return None
            if name not in self._coalescers:
                self._coalescers[name] = RequestCoalescer(
                    backend,
                    window_s=self.batch_window_s,
                    max_wait_s=self.batch_max_wait_s,
                    max_batch=self.max_batch,
                    name=name,
                )
            return self._coalescers[name]

    def coalescer(self, name: str) -> RequestCoalescer | None:
        """The batcher serving ``name``, if one has been started (for tests and metrics)."""
        return self._coalescers.get(name)

    def close(self) -> None:
        with self._lock:
            coalescers = list(self._coalescers.values())
            self._coalescers.clear()
        for coalescer in coalescers:
            coalescer.close()


def _routing(request: Request) -> ModelRouting:
    return request.app.state.model_routing


def _params(build: Callable[[], GenerationParams]) -> GenerationParams:
    try:
        return build()
    except ValidationError as exc:  # request fields are validated already; this guards the mapping
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise InvalidInputError(f"invalid generation parameter '{field}': {err['msg']}", field=field) from None


def _finish_reason_of_stream(backend: ModelBackend, text: str, params: GenerationParams) -> str:
    # backend.stream yields text only, so the reason is inferred: a full token budget means 'length'
    return "length" if backend.count_tokens(text) >= params.max_tokens else "stop"


def _sse(model: BaseModel) -> bytes:
    return f"data: {model.model_dump_json()}\n\n".encode()


SSE_DONE = b"data: [DONE]\n\n"

STREAM_DOC = {
    200: {
        "description": "JSON, or with `stream: true` server-sent events (`data: <chunk>` ... `data: [DONE]`).",
    }
}


def openai_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])

    @router.get("/models", response_model=ModelList, summary="Model backends (OpenAI model list)")
    def list_models(request: Request) -> ModelList:
        kernel: Kernel = request.app.state.kernel
        cards = []
        for entry in kernel.models.describe():
            meta = {k: v for k, v in entry.items() if k not in ("name", "kind", "plugin", "description")}
            cards.append(ModelCard(id=entry["name"], owned_by=entry["plugin"], description=entry["description"], meta=meta))
        return ModelList(data=cards)

    @router.get("/models/{model}", response_model=ModelCard, summary="One model backend")
    def get_model(request: Request, model: str) -> ModelCard:
        name = _routing(request).resolve(model)
        entry = request.app.state.kernel.models.entry(name).describe()
        meta = {k: v for k, v in entry.items() if k not in ("name", "kind", "plugin", "description")}
        return ModelCard(id=name, owned_by=entry["plugin"], description=entry["description"], meta=meta)

    @router.post(
        "/chat/completions",
        response_model=ChatCompletion,
        responses={**STREAM_DOC, 200: {**STREAM_DOC[200], "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/ChatCompletionChunk"}}}}},
        summary="Chat completion (OpenAI-compatible)",
    )
    async def chat_completions(request: Request, body: ChatCompletionRequest) -> Any:
        routing = _routing(request)
        name = routing.resolve(body.model)
        params = _params(body.generation_params)
        prompt: Prompt = [m.to_chat_message() for m in body.messages]
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            backend = await routing.backend(name)
            return _stream(_chat_chunks(routing, backend, name, prompt, params, rid, created, include_usage))
        (out,) = await routing.generate(name, [prompt], params)
        return ChatCompletion(
            id=rid,
            created=created,
            model=name,
            choices=[
                ChatChoice(
                    index=0,
                    message=AssistantMessage(content=out.text),
                    finish_reason=out.finish_reason,
                    logprobs=ChatChoiceLogprobs.of(out.logprobs, params.top_logprobs),
                )
            ],
            usage=UsageOut.of([out.usage]),
        )

    @router.post(
        "/completions",
        response_model=TextCompletion,
        responses={**STREAM_DOC, 200: {**STREAM_DOC[200], "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/TextCompletionChunk"}}}}},
        summary="Text completion (OpenAI-compatible)",
    )
    async def completions(request: Request, body: CompletionRequest) -> Any:
        routing = _routing(request)
        name = routing.resolve(body.model)
        params = _params(body.generation_params)
        prompts = body.prompts()
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            if len(prompts) != 1:
                raise InvalidInputError("streaming supports a single prompt; send a string, not a list", field="prompt")
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            backend = await routing.backend(name)
            return _stream(_text_chunks(routing, backend, name, prompts[0], params, rid, created, include_usage))
        outs = await routing.generate(name, list(prompts), params)
        return TextCompletion(
            id=rid,
            created=created,
            model=name,
            choices=[
                CompletionChoice(
                    index=i,
                    text=out.text,
                    finish_reason=out.finish_reason,
                    logprobs=CompletionLogprobs.of(out.logprobs, params.top_logprobs),
                )
                for i, out in enumerate(outs)
            ],
            usage=UsageOut.of([o.usage for o in outs]),
        )

    return router


def _stream(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def _pieces(
    routing: ModelRouting, backend: ModelBackend, name: str, prompt: Prompt, params: GenerationParams
) -> AsyncIterator[tuple[str, Completion | None]]:
    """Text pieces of one completion; with logprobs, one piece carrying the whole completion.

    ``backend.stream`` yields text only, so a request for logprobs is generated in full and sent as
    one chunk: slower to first token, but the logprobs are right.
    """
    if params.logprobs:
        (out,) = await routing.generate(name, [prompt], params)
        yield out.text, out
        return
    pieces: Iterator[str] = backend.stream(prompt, params)
    async for piece in iterate_in_threadpool(pieces):  # stream() blocks between tokens
        if piece:
            yield piece, None


async def _chat_chunks(
    routing: ModelRouting,
    backend: ModelBackend,
    name: str,
    prompt: Prompt,
    params: GenerationParams,
    rid: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    def chunk(choice: ChatChunkChoice | None, usage: UsageOut | None = None) -> bytes:
        return _sse(ChatCompletionChunk(id=rid, created=created, model=name, choices=[choice] if choice else [], usage=usage))

    yield chunk(ChatChunkChoice(delta=ChatDelta(role="assistant", content="")))
    text, full = "", None
    async for piece, out in _pieces(routing, backend, name, prompt, params):
        text, full = text + piece, out
        logprobs = ChatChoiceLogprobs.of(out.logprobs, params.top_logprobs) if out else None
        yield chunk(ChatChunkChoice(delta=ChatDelta(content=piece), logprobs=logprobs))
    finish = full.finish_reason if full else await run_in_threadpool(_finish_reason_of_stream, backend, text, params)
    yield chunk(ChatChunkChoice(delta=ChatDelta(), finish_reason=finish))
    if include_usage:
        yield chunk(None, await _stream_usage(backend, prompt, text, full))
    yield SSE_DONE


async def _text_chunks(
    routing: ModelRouting,
    backend: ModelBackend,
    name: str,
    prompt: str,
    params: GenerationParams,
    rid: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    def chunk(choice: StreamedTextChoice | None, usage: UsageOut | None = None) -> bytes:
        return _sse(TextCompletionChunk(id=rid, created=created, model=name, choices=[choice] if choice else [], usage=usage))

    text, full = "", None
    async for piece, out in _pieces(routing, backend, name, prompt, params):
        text, full = text + piece, out
        logprobs = CompletionLogprobs.of(out.logprobs, params.top_logprobs) if out else None
        yield chunk(StreamedTextChoice(text=piece, logprobs=logprobs))
    finish = full.finish_reason if full else await run_in_threadpool(_finish_reason_of_stream, backend, text, params)
    yield chunk(StreamedTextChoice(text="", finish_reason=finish))
    if include_usage:
        yield chunk(None, await _stream_usage(backend, prompt, text, full))
    yield SSE_DONE


async def _stream_usage(backend: ModelBackend, prompt: Prompt, text: str, full: Completion | None) -> UsageOut:
    if full is not None:
        return UsageOut.of([full.usage])

    def count() -> tuple[int, int]:
        prompt_text = prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)
        return backend.count_tokens(prompt_text), backend.count_tokens(text) if text else 0

    # counted, not measured: stream() does not report usage (chat prompts omit template tokens)
    prompt_tokens, completion_tokens = await run_in_threadpool(count)
    return UsageOut(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens)
