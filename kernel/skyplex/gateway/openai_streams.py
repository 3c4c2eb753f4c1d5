"""Pieces of the OpenAI routes: parameter mapping, echo, choices, and server-sent event streams.

Streams are *primed*: the first piece of text is produced before the response starts, so a request
the backend refuses (an empty prompt, a prompt over the context) gets a proper 4xx instead of a 200
whose body breaks off. Usage in a stream is the backend's own count when its ``stream`` returns the
finished :class:`Completion` (the local backend's does), so ``prompt_tokens`` includes the chat template.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidInputError
from ..interfaces import Completion, GenerationParams, ModelBackend, Prompt, PromptLogprobs, TokenLogprob, TokenPrompt, Usage
from . import openai_tools as tools
from .openai_schemas import (
    ChatChoiceLogprobs,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    StreamedTextChoice,
    TextCompletionChunk,
    UsageOut,
)

if TYPE_CHECKING:
    from .openai_routes import ModelRouting

log = logging.getLogger(__name__)
SSE_DONE = b"data: [DONE]\n\n"
_CHUNKS: dict[str, type[BaseModel]] = {"ChatCompletionChunk": ChatCompletionChunk, "TextCompletionChunk": TextCompletionChunk}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema with every ``$defs`` reference written out in place (no dangling refs)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return expand(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return expand(schema)


def sse_event_schema(data: dict[str, Any], *, done: bool = False) -> dict[str, Any]:
    """Schema of one server-sent event whose ``data`` is JSON following ``data`` (OpenAPI 3.1 reads a
    ``text/event-stream`` schema as describing each event); ``done`` also admits OpenAI's ``[DONE]``."""
    payload: dict[str, Any] = {"type": "string", "contentMediaType": "application/json", "contentSchema": data}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"event": {"type": "string"}, "data": {"anyOf": [{"const": "[DONE]"}, payload]} if done else payload},
    }


def stream_doc(chunk: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for a route answering JSON, or with ``stream: true`` an event stream of ``chunk`` objects."""
    return {
        200: {
            "description": f"JSON, or with `stream: true` server-sent events: `data: <{chunk}>` ... `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": sse_event_schema(inline_schema(_CHUNKS[chunk]), done=True)}},
        },
        503: {"description": "The model backend cannot run here (missing weights or dependency)."},
    }


def params_of(build: Callable[[], GenerationParams]) -> GenerationParams:
    """Generation parameters from a request, a mapping failure reported as a 400 naming the field."""
    try:
        return build()
    except ValidationError as exc:  # request fields are validated already; this guards the mapping
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise InvalidInputError(f"invalid generation parameter '{field}': {err['msg']}", field=field) from None


def render_chat(info: dict[str, Any], messages: list[Any], add_generation_prompt: bool) -> str:
    """A conversation as the model's chat template writes it (for ``/tokenize`` with messages)."""
    template = info.get("chat_template")
    if not template:
        raise InvalidInputError("this model has no chat template; send 'prompt' text instead", field="messages")
    import jinja2

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    rendered = env.from_string(template).render(
        messages=[m.model_dump() for m in messages], add_generation_prompt=add_generation_prompt, **{
            k: info.get(k) for k in ("bos_token", "eos_token")
        }
    )
    return rendered


# echo ------------------------------------------------------------------------------------------------
@dataclass
class Echo:
    """A prompt sent back with its completion: its text, token ids and (when asked) logprobs."""

    text: str
    token_ids: list[int]
    logprobs: list[TokenLogprob | None] | None
    first_token: str
    next_token: TokenLogprob | None = None
    next_token_ends: bool = False

    def as_greedy_completion(self) -> Completion | None:
        """The 1-token greedy completion the scoring pass already found, or None when it did not."""
        if self.next_token is None:
            return None
        ends = self.next_token_ends
        return Completion(
            text="" if ends else self.next_token.token,
            finish_reason="stop" if ends else "length",
            usage=Usage(prompt_tokens=len(self.token_ids), completion_tokens=1),
            logprobs=[self.next_token],
        )


def echo_prompts(
    backend: ModelBackend,
    prompts: list[str | list[int]],
    logprobs: int | None,
    next_token: bool = False,
    scored: list[PromptLogprobs] | None = None,
) -> list[Echo]:
    """Every prompt's text and ids, scored in one batched call when logprobs are wanted (with
    ``next_token``, that call also finds each prompt's greedy next token); ``scored`` is that call's
    result when the caller already has it (from the request batcher)."""
    if logprobs is not None and scored is None:
        scored = backend.prompt_logprobs(prompts, top_logprobs=logprobs, next_token=next_token)
    if scored is not None:
        ids_of = [s.token_ids for s in scored]
        lps: list[list[TokenLogprob | None] | None] = [s.logprobs for s in scored]
    else:
        ids_of = [backend.tokenize(p) if isinstance(p, str) else list(p) for p in prompts]
        lps = [None] * len(prompts)
    out = []
    for i, (prompt, ids, lp) in enumerate(zip(prompts, ids_of, lps)):
        text = prompt if isinstance(prompt, str) else backend.detokenize(ids)
        echo = Echo(text, ids, lp, backend.detokenize(ids[:1]) if ids else "")
        if scored is not None:
            echo.next_token, echo.next_token_ends = scored[i].next_token, scored[i].next_token_ends
        out.append(echo)
    return out


def completion_choice(
    index: int, out: Completion | None, echo: Echo | None, logprobs: int | None, top_n: int
) -> tuple[CompletionChoice, Usage]:
    """One ``choices`` entry of a text completion, echo first, and its usage."""
    text = (echo.text if echo else "") + (out.text if out else "")
    entries: list[TokenLogprob | None] | None = None
    if logprobs is not None:
        entries = [*(echo.logprobs or [] if echo else []), *(out.logprobs or [] if out else [])]
    usage = out.usage if out is not None else Usage(prompt_tokens=len(echo.token_ids) if echo else 0)
    choice = CompletionChoice(
        index=index,
        text=text,
        finish_reason=out.finish_reason if out is not None else "length",
        logprobs=CompletionLogprobs.of(
            entries, top_n, first_token=(echo.first_token, echo.token_ids[0]) if echo and echo.token_ids else None
        ),
        prompt_token_ids=echo.token_ids if echo else None,
    )
    return choice, usage


# streams ---------------------------------------------------------------------------------------------
async def primed(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """Start ``chunks`` (so errors before the first piece become HTTP errors), then stream the rest."""
    first = await chunks.__anext__()

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


_END = object()


def _step(iterator: Iterator[str]) -> Any:
    """Next piece, or (_END, the generator's return value) when it is done."""
    try:
        return next(iterator)
    except StopIteration as stop:
        return (_END, stop.value)


async def pieces(
    routing: ModelRouting, backend: ModelBackend, name: str, prompt: Prompt, params: GenerationParams
) -> AsyncIterator[tuple[str, Completion | None]]:
    """Text pieces of one completion; the last item carries the whole Completion when known.

    Requests for logprobs or constrained output are generated in full and sent as one piece
    (``backend.stream`` yields text only): slower to first token, but exact.
    """
    if params.logprobs or params.constraint is not None:
        (out,) = await routing.generate(name, [prompt], params)
        yield out.text, out
        return
    astream = getattr(backend, "astream", None)
    quick = getattr(backend, "submit_is_quick", None)
    if callable(astream) and callable(quick) and quick():  # streams on this loop: no worker thread per piece
        async for item in _on_loop(astream(prompt, params)):
            yield item
        return
    iterator = backend.stream(prompt, params)
    try:
        while True:
            item = await run_in_threadpool(_step, iterator)
            if isinstance(item, tuple) and item and item[0] is _END:
                final = item[1] if isinstance(item[1], Completion) else None
                report = getattr(iterator, "completion", None)  # streams that are objects say it this way
                if final is None and callable(report):
                    final = await run_in_threadpool(report)
                yield "", final
                return
            if item:
                yield item, None
    finally:
        # the client went away (or the stream failed): stop generating for nobody
        _abandon(iterator)


async def _on_loop(stream: AsyncIterator[Any]) -> AsyncIterator[tuple[str, Completion | None]]:
    """(piece, None) for each text piece of a backend's async stream, then ("", the Completion or None);
    the stream is closed however this ends (a client that went away aborts the backend's request)."""
    final = None
    try:
        async for item in stream:
            if isinstance(item, Completion):
                final = item
            elif item:
                yield item, None
        yield "", final
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def _abandon(iterator: Any) -> None:
    """Stop a backend stream early: ``cancel()`` where it has one (safe while another thread waits on
    it), else ``close()`` a generator that is not running right now."""
    cancel = getattr(iterator, "cancel", None)
    if callable(cancel):
        cancel()
        return
    close = getattr(iterator, "close", None)
    if callable(close):
        try:
            close()
        except ValueError:  # "generator already executing" in a worker thread: it ends with its request
            pass


async def _finish(backend: ModelBackend, prompt: Prompt, text: str, full: Completion | None, params: GenerationParams) -> tuple[str, Usage]:
    if full is not None:
        return full.finish_reason, full.usage

    def count() -> tuple[str, Usage]:
        # a backend whose stream() reports nothing: counted, not measured (chat templates not included)
        if isinstance(prompt, TokenPrompt):
            prompt_tokens = len(prompt.token_ids)
        else:
            prompt_tokens = backend.count_tokens(prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt))
        completion_tokens = backend.count_tokens(text) if text else 0
        reason = "length" if completion_tokens >= params.max_tokens else "stop"
        return reason, Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    return await run_in_threadpool(count)


def _sse(model: BaseModel) -> bytes:
    return f"data: {model.model_dump_json(exclude_none=False)}\n\n".encode()


async def chat_chunks(
    routing: ModelRouting,
    backend: ModelBackend,
    name: str,
    prompt: Prompt,
    params: GenerationParams,
    body: ChatCompletionRequest,
    rid: str,
    created: int,
    tool_mode: str,
) -> AsyncIterator[bytes]:
    def chunk(choice: ChatChunkChoice | None, usage: UsageOut | None = None) -> bytes:
        return _sse(ChatCompletionChunk(id=rid, created=created, model=name, choices=[choice] if choice else [], usage=usage))

    usages = []
    for index in range(body.n):
        stream = pieces(routing, backend, name, prompt, params)
        item = await stream.__anext__()  # before anything is sent: errors become HTTP errors
        yield chunk(ChatChunkChoice(index=index, delta=ChatDelta(role="assistant", content="")))
        text, full, called = "", None, False
        while item is not None:
            piece, out = item
            text, full = text + piece, out or full
            calls = tools.parse_calls(out.text, tool_mode) if out is not None and tool_mode != "none" else None
            if calls:
                deltas = [{"index": i, **c.model_dump()} for i, c in enumerate(calls)]
                yield chunk(ChatChunkChoice(index=index, delta=ChatDelta(tool_calls=deltas)))
                called = True
            elif piece:
                logprobs = ChatChoiceLogprobs.of(out.logprobs, params.top_logprobs) if out else None
                yield chunk(ChatChunkChoice(index=index, delta=ChatDelta(content=piece), logprobs=logprobs))
            item = await anext(stream, None)
        if called and full is not None:
            reason, usage = "tool_calls", full.usage
        else:
            reason, usage = await _finish(backend, prompt, text, full, params)
        usages.append(usage)
        yield chunk(ChatChunkChoice(index=index, delta=ChatDelta(), finish_reason=reason))
    if body.stream_options and body.stream_options.include_usage:
        yield chunk(None, UsageOut.of(usages))
    yield SSE_DONE


async def text_chunks(
    routing: ModelRouting,
    backend: ModelBackend,
    name: str,
    prompt: str | list[int],
    params: GenerationParams,
    body: CompletionRequest,
    rid: str,
    created: int,
) -> AsyncIterator[bytes]:
    def chunk(choice: StreamedTextChoice | None, usage: UsageOut | None = None) -> bytes:
        return _sse(TextCompletionChunk(id=rid, created=created, model=name, choices=[choice] if choice else [], usage=usage))

    sent: Prompt = prompt if isinstance(prompt, str) else TokenPrompt(token_ids=prompt)
    echo = None
    if body.echo:
        (echo,) = await run_in_threadpool(echo_prompts, backend, [prompt], body.logprobs)
    usages = []
    for index in range(body.n):
        stream = pieces(routing, backend, name, sent, params)
        item = await stream.__anext__()  # before anything is sent: errors become HTTP errors
        offset = 0
        if echo is not None:
            lps = None
            if body.logprobs is not None:
                lps = CompletionLogprobs.of(
                    echo.logprobs, params.top_logprobs, first_token=(echo.first_token, echo.token_ids[0])
                )
            yield chunk(StreamedTextChoice(index=index, text=echo.text, logprobs=lps))
            offset = len(echo.text)
        text, full = "", None
        while item is not None:
            piece, out = item
            text, full = text + piece, out or full
            if piece:
                logprobs = CompletionLogprobs.of(out.logprobs, params.top_logprobs, offset) if out else None
                yield chunk(StreamedTextChoice(index=index, text=piece, logprobs=logprobs))
            item = await anext(stream, None)
        reason, usage = await _finish(backend, sent, text, full, params)
        usages.append(usage)
        yield chunk(StreamedTextChoice(index=index, text="", finish_reason=reason))
    if body.stream_options and body.stream_options.include_usage:
        yield chunk(None, UsageOut.of(usages))
    yield SSE_DONE
