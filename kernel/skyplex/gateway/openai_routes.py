"""OpenAI-compatible routes: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``, and the
tokenizer routes vLLM offers (``/tokenize``, ``/detokenize``, ``/tokenizer_info``).

``model`` names a registered model backend or one of its aliases (e.g. the model's hub id).
Non-streamed generation goes through the backend's :class:`~.batching.RequestCoalescer`, so
concurrent HTTP requests share one batched ``generate`` call; streamed requests use
``backend.stream`` and arrive as SSE chunks ending with ``data: [DONE]``. ``echo`` with logprobs
scores the prompt with ``backend.prompt_logprobs`` (``max_tokens`` 0 scores without generating),
through the backend's :class:`~.batching.ScoreCoalescer`, so concurrent one-prompt scoring requests
(what evaluation harnesses send) share one batched pass.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidInputError, NotFoundError, SkyplexError
from ..interfaces import GenerationParams, ModelBackend, NotSupportedError, Prompt, PromptLogprobs, TokenPrompt
from ..kernel import Kernel
from . import openai_streams as streams
from . import openai_tools as tools
from .batching import RequestCoalescer, ScoreCoalescer, can_coalesce
from .openai_schemas import (
    AssistantMessage,
    ChatChoice,
    ChatChoiceLogprobs,
    ChatCompletion,
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    DetokenizeResponse,
    ModelCard,
    ModelList,
    TextCompletion,
    TokenizeRequest,
    TokenizeResponse,
    TokenizerInfo,
    UsageOut,
)

log = logging.getLogger(__name__)


class ModelRouting:
    """Finds backends by name or alias and owns their request batchers (one per backend)."""

    def __init__(
        self, kernel: Kernel, *, batch_window_s: float | None, max_batch: int, batch_max_wait_s: float | None = None
    ) -> None:
        self.kernel = kernel
        self.batch_window_s = batch_window_s
        self.batch_max_wait_s = batch_max_wait_s
        self.max_batch = max_batch
        self._coalescers: dict[str, RequestCoalescer] = {}
        self._score_coalescers: dict[str, ScoreCoalescer] = {}
        self._coalesce_scoring: dict[str, bool] = {}
        self._coalesce: dict[str, bool] = {}
        self._aliases: dict[str, str] | None = None
        self._lock = threading.Lock()

    def aliases(self) -> dict[str, str]:
        """Alias -> backend name, from each usable backend's ``info().aliases`` (asked once)."""
        if self._aliases is None:
            found: dict[str, str] = {}
            for name in self.kernel.models.names():
                try:
                    for alias in self.kernel.models.get(name).info().aliases:
                        found.setdefault(alias, name)
                except Exception:  # noqa: BLE001 - a backend that cannot even describe itself has no aliases
                    continue
            self._aliases = found
        return self._aliases

    def resolve(self, name: str | None) -> str:
        """The backend name to use for a request's ``model`` (404 naming the available ones)."""
        name = name or self.kernel.settings.default_model
        if name in self.kernel.models:
            return name
        alias = self.aliases().get(name)
        if alias is not None:
            return alias
        available = ", ".join(self.kernel.models.names()) or "none"
        raise NotFoundError(
            f"model {name!r} is not served here; set 'model' to one of: {available} (see GET /v1/models)",
            field="model",
        )

    def unavailable_reason(self, name: str) -> str | None:
        """Why backend ``name`` cannot answer here, or None when it can."""
        registry = self.kernel.models
        check = getattr(registry, "unavailable_reason", None)
        if check is not None:
            return check(name)
        try:
            registry.get(name).info()
        except SkyplexError as exc:
            return exc.message
        except ImportError as exc:
            return f"missing dependency: {exc.name or exc}"
        return None

    async def backend(self, name: str) -> ModelBackend:
        backend = self.kernel.models.loaded().get(name)
        if backend is None:  # first use builds it (maybe loading weights): keep that off the event loop
            backend = await run_in_threadpool(self.kernel.models.get, name)
        return backend

    async def generate(
        self,
        name: str,
        prompts: list[Prompt],
        params: GenerationParams,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> list[Any]:
        """Completions of ``prompts``. With ``disconnected`` (the request's ``is_disconnected``), a backend
        that can cancel (``submit()`` returning a handle with ``result()`` and ``cancel()``) stops
        generating for a client that went away instead of finishing work nobody will read."""
        backend = await self.backend(name)
        submit = getattr(backend, "submit", None)
        if disconnected is not None and callable(submit):
            quick = getattr(backend, "submit_is_quick", None)  # submit() returns at once: call it here
            return await _cancellable(submit, prompts, params, disconnected, inline=bool(quick and quick()))
        coalescer = None
        if can_coalesce(params) and self.batch_window_s is not None:
            if name in self._coalesce:
                coalescer = self._coalescers.get(name)
            else:  # asks backend.info() once, which may touch disk
                coalescer = await run_in_threadpool(self._coalescer, name, backend)
        if coalescer is None:
            return await run_in_threadpool(backend.generate, prompts, params)
        import asyncio

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

    async def prompt_logprobs(
        self, name: str, backend: ModelBackend, prompts: list[str | list[int]], top_logprobs: int, next_token: bool
    ) -> list[PromptLogprobs]:
        """``backend.prompt_logprobs``, coalesced with concurrent requests into one batched call (evaluation
        clients send one prompt per request) unless coalescing is off or the backend batches on its side."""
        if name in self._coalesce_scoring:
            coalescer = self._score_coalescers.get(name)
        else:  # asks backend.info() once, which may touch disk
            coalescer = await run_in_threadpool(self._score_coalescer, name, backend)
        if coalescer is None:
            return await run_in_threadpool(
                lambda: backend.prompt_logprobs(prompts, top_logprobs=top_logprobs, next_token=next_token)
            )
        import asyncio

        return await asyncio.wrap_future(coalescer.submit(prompts, top_logprobs, next_token))

    def _score_coalescer(self, name: str, backend: ModelBackend) -> ScoreCoalescer | None:
        if self.batch_window_s is None:
            return None
        with self._lock:
            if name not in self._coalesce_scoring:
                # a backend may batch generation itself yet score only what one call hands it
                details = backend.info().details
                self._coalesce_scoring[name] = bool(details.get("coalesce_scoring", details.get("coalesce_requests", True)))
            if not self._coalesce_scoring[name]:
                return None
            if name not in self._score_coalescers:
                self._score_coalescers[name] = ScoreCoalescer(
                    backend,
                    window_s=self.batch_window_s or 0.0,
                    max_wait_s=self.batch_max_wait_s,
                    max_batch=self.max_batch,
                    name=name,
                )
            return self._score_coalescers[name]

    def score_coalescer(self, name: str) -> ScoreCoalescer | None:
        """The scoring batcher serving ``name``, if one has been started (for tests and metrics)."""
        return self._score_coalescers.get(name)

    def close(self) -> None:
        with self._lock:
            coalescers: list[RequestCoalescer | ScoreCoalescer] = [*self._coalescers.values(), *self._score_coalescers.values()]
            self._coalescers.clear()
            self._score_coalescers.clear()
        for coalescer in coalescers:
            coalescer.close()


#: how often a non-streamed generation checks whether its client is still there (seconds)
DISCONNECT_POLL_S = 0.25


async def _cancellable(
    submit: Callable[..., Any],
    prompts: list[Prompt],
    params: GenerationParams,
    disconnected: Callable[[], Awaitable[bool]],
    *,
    inline: bool = False,
) -> list[Any]:
    import asyncio

    # a worker-thread hand-off costs tens of milliseconds on a busy machine: skip it where submit is quick
    pending = submit(prompts, params) if inline else await run_in_threadpool(submit, prompts, params)
    wait = getattr(pending, "wait", None)
    if inspect.iscoroutinefunction(wait):  # awaitable handle (remote servers): no worker thread held
        result = asyncio.ensure_future(wait())
    else:
        result = asyncio.ensure_future(run_in_threadpool(pending.result))
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=DISCONNECT_POLL_S)
            if done:
                return result.result()
            if await disconnected():
                log.info("client went away; cancelling its generation of %d prompt(s)", len(prompts))
                pending.cancel()
                return await result  # raises the backend's cancellation error; nobody reads it
    finally:
        if not result.done():  # this handler itself was cancelled (server shutting down)
            pending.cancel()


def _routing(request: Request) -> ModelRouting:
    return request.app.state.model_routing


def _check_support(backend: ModelBackend, name: str, params: GenerationParams, *, token_prompts: bool = False) -> None:
    """Refuse, with a 400 naming the field, what this backend would otherwise silently ignore."""
    if params.constraint is None and not token_prompts:
        return  # nothing to check: info() may be costly (a remote server's backend scrapes its metrics)
    info = backend.info()
    if params.constraint is not None and not info.supports_constraints:
        raise NotSupportedError(
            f"model {name!r} cannot constrain its output, so 'response_format' and 'tools' are refused "
            "rather than ignored; use a model whose backend supports them (the local one does)",
            field="response_format",
        )
    if token_prompts and not info.supports_token_prompts:
        raise NotSupportedError(f"model {name!r} takes text prompts only; send 'prompt' as text", field="prompt")


def _card(name: str, entry: dict[str, Any], **extra: Any) -> ModelCard:
    meta = {k: v for k, v in entry.items() if k not in ("name", "kind", "plugin", "description")}
    return ModelCard(id=name, owned_by=entry["plugin"], description=entry["description"], meta={**meta, **extra})


def openai_router() -> APIRouter:
    router = APIRouter(tags=["openai"])

    @router.get("/v1/models", response_model=ModelList, summary="Models that can answer now (OpenAI model list)")
    async def list_models(request: Request) -> ModelList:
        routing = _routing(request)
        kernel: Kernel = request.app.state.kernel

        def cards() -> list[ModelCard]:
            out = []
            aliases = routing.aliases()
            for entry in kernel.models.describe():
                if routing.unavailable_reason(entry["name"]) is not None:
                    continue  # `skyplex models list` says why; the API lists only what answers
                out.append(_card(entry["name"], entry))
                out += [_card(a, entry, alias_of=entry["name"]) for a, n in aliases.items() if n == entry["name"]]
            return out

        return ModelList(data=await run_in_threadpool(cards))

    @router.get("/v1/models/{model:path}", response_model=ModelCard, summary="One model backend")
    def get_model(request: Request, model: str) -> ModelCard:
        name = _routing(request).resolve(model)
        entry = request.app.state.kernel.models.entry(name).describe()
        return _card(model, entry, **({"alias_of": name} if name != model else {}))

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses=streams.stream_doc("ChatCompletionChunk"),
        summary="Chat completion (OpenAI-compatible)",
    )
    async def chat_completions(request: Request, body: ChatCompletionRequest) -> Any:
        routing = _routing(request)
        name = routing.resolve(body.model)
        body.refuse_unsupported()
        if body.max_tokens == 0 and body.max_completion_tokens is None:
            raise InvalidInputError("max_tokens must be at least 1 for chat completions", field="max_tokens")
        params = streams.params_of(body.generation_params)
        messages, constraint, tool_mode = tools.plan_tools(
            [m.to_chat_message() for m in body.messages], body.tools, body.tool_choice
        )
        if constraint is not None:
            if params.constraint is not None:
                raise InvalidInputError("send either tools or response_format, not both", field="response_format")
            params = params.model_copy(update={"constraint": constraint})
        backend = await routing.backend(name)
        if params.constraint is not None:
            await run_in_threadpool(_check_support, backend, name, params)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            chunks = streams.chat_chunks(routing, backend, name, messages, params, body, rid, created, tool_mode)
            return await streams.primed(chunks)
        outs = await routing.generate(name, [messages] * body.n, params, request.is_disconnected)
        choices = []
        for i, out in enumerate(outs):
            calls = tools.parse_calls(out.text, tool_mode)
            choices.append(
                ChatChoice(
                    index=i,
                    message=AssistantMessage(content=None if calls else out.text, tool_calls=calls),
                    finish_reason="tool_calls" if calls else out.finish_reason,
                    logprobs=ChatChoiceLogprobs.of(out.logprobs, params.top_logprobs),
                )
            )
        return ChatCompletion(id=rid, created=created, model=body.model or name, choices=choices, usage=UsageOut.of([o.usage for o in outs]))

    @router.post(
        "/v1/completions",
        response_model=TextCompletion,
        responses=streams.stream_doc("TextCompletionChunk"),
        summary="Text completion (OpenAI-compatible; token-id prompts and echo too)",
    )
    async def completions(request: Request, body: CompletionRequest) -> Any:
        routing = _routing(request)
        name = routing.resolve(body.model)
        body.refuse_unsupported()
        scoring_only = body.max_tokens == 0
        if scoring_only and not body.echo:
            raise InvalidInputError("max_tokens 0 generates nothing; use it with echo to score the prompt", field="max_tokens")
        params = streams.params_of(body.generation_params)
        prompts = body.prompts()
        backend = await routing.backend(name)
        token_prompts = any(not isinstance(p, str) for p in prompts)
        if params.constraint is not None or token_prompts:
            await run_in_threadpool(_check_support, backend, name, params, token_prompts=token_prompts)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            if len(prompts) != 1 or scoring_only:
                raise InvalidInputError(
                    "streaming supports a single prompt that generates; send one prompt and max_tokens >= 1",
                    field="prompt",
                )
            chunks = streams.text_chunks(routing, backend, name, prompts[0], params, body, rid, created)
            return await streams.primed(chunks)
        # lm-eval's loglikelihood request (echo, logprobs, one greedy token): the scoring pass also
        # yields the greedy next token, so no separate generation is needed
        one_greedy = (
            body.echo
            and body.logprobs is not None
            and body.max_tokens == 1
            and body.n == 1
            and params.temperature == 0.0
            and not params.stop
            and params.constraint is None
        )
        echoed = None
        if body.echo:
            scored = None
            if body.logprobs is not None:
                scored = await routing.prompt_logprobs(name, backend, prompts, body.logprobs, one_greedy)
            echoed = await run_in_threadpool(streams.echo_prompts, backend, prompts, body.logprobs, one_greedy, scored)
        outs: list[Any] = [None] * (len(prompts) * body.n)
        found = [e.as_greedy_completion() for e in echoed] if one_greedy and echoed else []
        if found and all(c is not None for c in found):
            outs = found
        elif not scoring_only:
            sent: list[Prompt] = [p if isinstance(p, str) else TokenPrompt(token_ids=p) for p in prompts]
            outs = await routing.generate(name, [p for p in sent for _ in range(body.n)], params, request.is_disconnected)
        choices, usages = [], []
        for i, out in enumerate(outs):
            echo = echoed[i // body.n] if echoed is not None else None
            choice, usage = streams.completion_choice(i, out, echo, body.logprobs, params.top_logprobs)
            choices.append(choice)
            usages.append(usage)
        return TextCompletion(id=rid, created=created, model=body.model or name, choices=choices, usage=UsageOut.of(usages))

    # tokenizer routes, where vLLM has them (evaluation clients look for them at the server root)
    @router.post("/tokenize", response_model=TokenizeResponse, summary="Token ids of a text or conversation")
    async def tokenize(request: Request, body: TokenizeRequest) -> TokenizeResponse:
        routing = _routing(request)
        name = routing.resolve(body.model)
        backend = await routing.backend(name)
        if (body.prompt is None) == (body.messages is None):
            raise InvalidInputError("send exactly one of 'prompt' (text) or 'messages' (a conversation)", field="prompt")

        def run() -> TokenizeResponse:
            if body.messages is not None:
                prompt = [m.to_chat_message() for m in body.messages]
                info = backend.tokenizer_info()
                text = streams.render_chat(info, prompt, body.add_generation_prompt)
            else:
                text = body.prompt or ""
            ids = backend.tokenize(text) if text else []
            strs = [backend.detokenize([t]) for t in ids] if body.return_token_strs else None
            return TokenizeResponse(count=len(ids), max_model_len=backend.info().context_length, tokens=ids, token_strs=strs)

        return await run_in_threadpool(run)

    @router.post("/detokenize", response_model=DetokenizeResponse, summary="Text of token ids")
    async def detokenize(request: Request, body: DetokenizeRequest) -> DetokenizeResponse:
        routing = _routing(request)
        backend = await routing.backend(routing.resolve(body.model))
        return DetokenizeResponse(prompt=await run_in_threadpool(backend.detokenize, body.tokens))

    @router.get("/tokenizer_info", response_model=TokenizerInfo, summary="Special tokens and chat template")
    async def tokenizer_info(request: Request, model: str | None = Query(default=None)) -> TokenizerInfo:
        routing = _routing(request)
        backend = await routing.backend(routing.resolve(model))
        return TokenizerInfo(**await run_in_threadpool(backend.tokenizer_info))

    return router
