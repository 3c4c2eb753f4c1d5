"""The ``openai`` model backend: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs).

Each prompt is one HTTP request; a batch is sent concurrently (at most ``concurrency`` in flight).
Retries are this module's own loop, not the client's (which is built with ``max_retries=0``), so the
policy is explicit and tested: connection errors, timeouts, 408, 429 and 5xx are retried with
exponential backoff and jitter (honouring ``Retry-After``); other errors are not retried.
The ``openai`` package is imported on first use, never when the plugin registers.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InvalidInputError, ModelUnavailableError, NotFoundError, SkyplexError
from ..hookspecs import hookimpl
from ..interfaces import (
    Completion,
    ContinuationScore,
    GenerationParams,
    ModelBackend,
    ModelInfo,
    NotSupportedError,
    Prompt,
    PromptLogprobs,
    ScoreRequest,
    TokenLogprob,
    TokenPrompt,
    Usage,
)

if TYPE_CHECKING:
    from ..kernel import Kernel

log = logging.getLogger(__name__)
T = TypeVar("T")

#: HTTP statuses worth another try: the server may answer differently in a moment.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class OpenAIBackend(ModelBackend):
    """A model served by an OpenAI-compatible HTTP API, called through the ``openai`` client."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        concurrency: int = 8,
        max_retries: int = 3,
        timeout: float = 60.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        kernel: Kernel | None = None,
    ) -> None:
        """Configure the backend; nothing connects until the first request.

        Unset values come from ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and ``SKYPLEX_OPENAI_MODEL``.
        ``max_retries`` is the number of retries after the first attempt; ``timeout`` is per request,
        in seconds; the n-th retry waits about ``backoff_s * 2**n`` seconds (at most ``backoff_max_s``).
        """
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.model = model or os.environ.get("SKYPLEX_OPENAI_MODEL") or None
        if not self.model:
            raise InvalidInputError(
                "the openai backend needs a model name: pass model=..., set SKYPLEX_OPENAI_MODEL, or set "
                "models.openai.model in the skyplex config (the name the server knows, e.g. 'gpt-4o-mini')",
                field="models.openai.model",
            )
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if self.base_url is None:
                raise InvalidInputError(
                    "the openai backend needs an API key for api.openai.com: set OPENAI_API_KEY, or point "
                    "OPENAI_BASE_URL at a server that needs none",
                    field="OPENAI_API_KEY",
                )
            api_key = "unused"  # self-hosted servers often take no key, but the client insists on one
        self._api_key = api_key
        for what, value, low in (("concurrency", concurrency, 1), ("max_retries", max_retries, 0)):
            if not isinstance(value, int) or value < low:
                raise InvalidInputError(f"{what} must be an integer >= {low}, got {value!r}", field=f"models.openai.{what}")
        if timeout <= 0 or backoff_s < 0 or backoff_max_s < 0:
            raise InvalidInputError("timeout must be > 0 and the backoff times >= 0", field="models.openai.timeout")
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: attempts made per request, newest last (what the retry tests look at)
        self.attempts: list[int] = []
        self._sleep: Callable[[float], None] = time.sleep
        self._random: Callable[[], float] = random.random

    # plumbing --------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise ModelUnavailableError(
                        "the openai backend needs the 'openai' package: pip install 'skyplex[openai]'"
                    ) from exc
                # retries are ours (see module docstring), so the client's own are off
                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self.timeout
                )
            return self._client

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="skyplex-openai")
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, client = self._pool, self._client
            self._pool = self._client = None
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()

    # retry policy ----------------------------------------------------------------------------
    def backoff(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): exponential, with jitter.

        Jitter spreads the retries of many clients hit by the same outage; a server's ``Retry-After``
        is honoured when it asks for longer (still capped at ``backoff_max_s``).
        """
        ceiling = min(self.backoff_max_s, self.backoff_s * (2**retry))
        delay = ceiling * (0.5 + 0.5 * self._random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        import openai

        attempt = 0
        while True:
            attempt += 1
            try:
                result = call()
            except openai.APIStatusError as exc:
                if exc.status_code not in RETRYABLE_STATUSES or attempt > self.max_retries:
                    self.attempts.append(attempt)
                    raise _as_skyplex_error(exc, self, what, attempt) from exc
                retry_after = _retry_after(exc)
                reason = f"HTTP {exc.status_code}"
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                if attempt > self.max_retries:
                    self.attempts.append(attempt)
                    raise _as_skyplex_error(exc, self, what, attempt) from exc
                retry_after = None
                reason = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"
            else:
                self.attempts.append(attempt)
                return result
            delay = self.backoff(attempt - 1, retry_after)
            log.info("%s on %s: %s; retry %d/%d in %.2fs", what, self._where(), reason, attempt, self.max_retries, delay)
            self._sleep(delay)

    def _where(self) -> str:
        return self.base_url or "api.openai.com"

    # the interface ---------------------------------------------------------------------------
    def info(self) -> ModelInfo:
        return ModelInfo(
            backend="openai",
            model=self.model or "",
            supports_logprobs=True,
            supports_prefix_reuse=False,  # up to the server (vLLM does it); not visible from here
            supports_score=True,  # through echo + logprobs, where the server offers them (vLLM, skyplex)
            supports_token_prompts=True,
            details={
                "base_url": self._where(),
                "concurrency": self.concurrency,
                "max_retries": self.max_retries,
                "timeout_s": self.timeout,
                # the server batches for itself; coalescing in the gateway would only queue requests
                "coalesce_requests": False,
            },
        )

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        """One completion per prompt, in order; up to ``concurrency`` requests in flight."""
        params = params or GenerationParams()
        if not prompts:
            return []
        if len(prompts) == 1:
            return [self._generate_one(prompts[0], params)]
        # prompt i samples with seed + i, as on the local backend: K copies of one prompt in a seeded
        # batch are K samples, not one sample K times, and each stays repeatable on its own
        per_prompt = [
            params if params.seed is None else params.model_copy(update={"seed": params.seed + i}) for i in range(len(prompts))
        ]
        return list(self._executor().map(self._generate_one, prompts, per_prompt))

    def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> Iterator[str]:
        """Text pieces as the server streams them; a failure before the first piece is retried."""
        params = params or GenerationParams()
        if isinstance(prompt, str):
            request = lambda: self.client.completions.create(  # noqa: E731
                prompt=prompt, stream=True, **self._common(params)
            )
        else:
            request = lambda: self.client.chat.completions.create(  # noqa: E731
                messages=_messages(prompt), stream=True, **self._common(params)
            )
        chunks = self._with_retries("streamed completion", request)
        import openai

        try:
            for chunk in chunks:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                piece = choice.text if isinstance(prompt, str) else (choice.delta.content if choice.delta else None)
                if piece:
                    yield piece
        except openai.OpenAIError as exc:
            raise ModelUnavailableError(f"the stream from {self._where()} broke off: {exc}") from exc
        finally:
            chunks.close()

    # scoring -----------------------------------------------------------------------------------
    def _echo(self, prompt: str | list[int], top_logprobs: int) -> Any:
        """One echo request: the prompt's own logprobs (and one throwaway greedy token)."""
        from ..errors import InvalidInputError

        kwargs = {"model": self.model, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": max(1, top_logprobs)}
        try:
            resp = self._with_retries("scoring", lambda: self.client.completions.create(prompt=prompt, **kwargs))
        except InvalidInputError as exc:  # the server refused echo or logprobs: say what is missing
            raise NotSupportedError(
                f"{self._where()} cannot score prompts (completions with echo and logprobs were refused: {exc.message}); "
                "scoring needs a server that returns prompt logprobs, such as vLLM or skyplex serve",
                field="model",
            ) from None
        choice = resp.choices[0] if resp.choices else None
        lp = choice.logprobs if choice is not None else None
        prompt_tokens = resp.usage.prompt_tokens if resp.usage is not None else None
        if lp is None or not lp.token_logprobs or prompt_tokens is None or len(lp.token_logprobs) < prompt_tokens:
            raise NotSupportedError(
                f"{self._where()} answered an echo request without the prompt's logprobs; scoring needs a server "
                "that returns them, such as vLLM or skyplex serve",
                field="model",
            )
        return choice, lp, prompt_tokens

    def prompt_logprobs(
        self, prompts: Sequence[str | list[int]], *, top_logprobs: int = 0, next_token: bool = False
    ) -> list[PromptLogprobs]:
        """Each prompt's token logprobs from the server's echo (the first is None)."""

        def one(prompt: str | list[int]) -> PromptLogprobs:
            choice, lp, n = self._echo(prompt, top_logprobs)
            entries = _entries(lp, n, top_logprobs)
            if not isinstance(prompt, str):
                ids = list(prompt)
            elif getattr(choice, "prompt_token_ids", None):
                ids = list(choice.prompt_token_ids)
            else:
                ids = [e.token_id if e is not None and e.token_id is not None else -1 for e in entries]
                if -1 in ids:  # servers that echo tokens without ids (vLLM): ask its tokenizer
                    try:
                        known = self.tokenize(prompt)
                    except NotSupportedError:
                        known = []
                    if len(known) == len(ids):
                        ids = known
            return PromptLogprobs(token_ids=ids, logprobs=[None, *entries[1:]])

        return list(self._executor().map(one, prompts)) if len(prompts) > 1 else [one(p) for p in prompts]

    def score(self, requests: Sequence[ScoreRequest], *, top_logprobs: int = 0) -> list[ContinuationScore]:
        """log P(continuation | context) from echo logprobs: token ids are sent as given; text is sent
        joined and split where the continuation's characters start (the server's ``text_offset``)."""
        from ..errors import InvalidInputError

        def one(item: tuple[int, ScoreRequest]) -> ContinuationScore:
            index, request = item
            if not request.context or not request.continuation:
                raise InvalidInputError(
                    f"request {index}: context and continuation must both be non-empty to score through a server "
                    "(the first token of a prompt has no logprob)",
                    field=f"requests[{index}]",
                )
            if isinstance(request.context, str) != isinstance(request.continuation, str):
                raise InvalidInputError(
                    f"request {index}: give context and continuation both as text or both as token ids",
                    field=f"requests[{index}]",
                )
            if isinstance(request.context, str):
                prompt: str | list[int] = request.context + request.continuation
            else:
                prompt = list(request.context) + list(request.continuation)
            _, lp, n = self._echo(prompt, max(1, top_logprobs))
            entries = _entries(lp, n, max(1, top_logprobs))
            if isinstance(request.context, str):
                offsets = list(lp.text_offset or [])[:n]
                start = next((i for i, o in enumerate(offsets) if o >= len(request.context)), n)
            else:
                start = len(request.context)
            tokens = [e for e in entries[start:] if e is not None]
            if not tokens or start == 0:
                raise InvalidInputError(f"request {index}: the continuation has no tokens of its own", field=f"requests[{index}]")
            greedy = all(e.logprob >= max(e.top.values(), default=e.logprob) - 1e-6 for e in tokens)
            for e in tokens:
                e.top = dict(sorted(e.top.items(), key=lambda kv: -kv[1])[:top_logprobs])
            return ContinuationScore(logprob=sum(e.logprob for e in tokens), is_greedy=greedy, tokens=tokens, context_tokens=start)

        items = list(enumerate(ScoreRequest.model_validate(r) for r in requests))
        return list(self._executor().map(one, items)) if len(items) > 1 else [one(i) for i in items]

    # one request -------------------------------------------------------------------------------
    def _common(self, params: GenerationParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        return kwargs

    def _generate_one(self, prompt: Prompt, params: GenerationParams) -> Completion:
        kwargs = self._common(params)
        if isinstance(prompt, TokenPrompt):  # OpenAI's completions API takes token ids as the prompt
            if params.logprobs:
                kwargs["logprobs"] = params.top_logprobs
            ids = list(prompt.token_ids)
            resp = self._with_retries("completion", lambda: self.client.completions.create(prompt=ids, **kwargs))
            return self._from_text_completion(resp, "")
        if isinstance(prompt, str):
            if params.logprobs:
                kwargs["logprobs"] = params.top_logprobs
            resp = self._with_retries("completion", lambda: self.client.completions.create(prompt=prompt, **kwargs))
            return self._from_text_completion(resp, prompt)
        if params.logprobs:
            kwargs["logprobs"] = True
            if params.top_logprobs:
                kwargs["top_logprobs"] = params.top_logprobs
        resp = self._with_retries(
            "chat completion", lambda: self.client.chat.completions.create(messages=_messages(prompt), **kwargs)
        )
        return self._from_chat_completion(resp, prompt)

    def _from_chat_completion(self, resp: Any, prompt: Prompt) -> Completion:
        if not resp.choices:
            raise SkyplexError(f"{self._where()} answered a chat completion with no choices")
        choice = resp.choices[0]
        text = (choice.message.content if choice.message else None) or ""
        logprobs = None
        if choice.logprobs is not None and choice.logprobs.content is not None:
            logprobs = [
                TokenLogprob(
                    token=item.token,
                    token_id=getattr(item, "token_id", None),  # skyplex gateway extension, else None
                    logprob=item.logprob,
                    top={top.token: top.logprob for top in (item.top_logprobs or [])},
                )
                for item in choice.logprobs.content
            ]
        return Completion(
            text=text,
            finish_reason=_finish_reason(choice.finish_reason),
            usage=self._usage(resp.usage, prompt, text),
            logprobs=logprobs,
        )

    def _from_text_completion(self, resp: Any, prompt: str) -> Completion:
        if not resp.choices:
            raise SkyplexError(f"{self._where()} answered a completion with no choices")
        choice = resp.choices[0]
        text = choice.text or ""
        logprobs = None
        lp = choice.logprobs
        if lp is not None and lp.tokens is not None:
            ids = getattr(lp, "token_ids", None) or [None] * len(lp.tokens)
            tops = lp.top_logprobs or [None] * len(lp.tokens)
            logprobs = [
                TokenLogprob(token=tok, token_id=tid, logprob=float(value), top=dict(top or {}))
                for tok, value, top, tid in zip(lp.tokens, lp.token_logprobs or [], tops, ids)
            ]
        return Completion(
            text=text,
            finish_reason=_finish_reason(choice.finish_reason),
            usage=self._usage(resp.usage, prompt, text),
            logprobs=logprobs,
        )

    def _usage(self, usage: Any, prompt: Prompt, text: str) -> Usage:
        if usage is None:  # some servers omit it; estimate rather than report zero
            prompt_text = prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)
            return Usage(prompt_tokens=self.count_tokens(prompt_text), completion_tokens=self.count_tokens(text) if text else 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", None) or 0
        return Usage(
            prompt_tokens=usage.prompt_tokens or 0,
            completion_tokens=usage.completion_tokens or 0,
            cached_prompt_tokens=cached,
        )


def _entries(lp: Any, n: int, top_n: int) -> list[TokenLogprob | None]:
    """The first ``n`` (prompt) entries of an OpenAI completions logprobs object."""
    ids = list(getattr(lp, "token_ids", None) or [None] * len(lp.tokens))
    tops = list(lp.top_logprobs or [None] * len(lp.tokens))
    out: list[TokenLogprob | None] = []
    for i in range(n):
        value = lp.token_logprobs[i]
        if value is None:
            out.append(None)
            continue
        out.append(TokenLogprob(token=lp.tokens[i], token_id=ids[i], logprob=float(value), top=dict(tops[i] or {})))
    return out


def _messages(prompt: Sequence[Any]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in prompt]


def _finish_reason(reason: str | None) -> str:
    # 'length' is the only reason that means "cut short"; stop, content_filter, tool calls all ended it
    return "length" if reason == "length" else "stop"


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: not worth parsing, the backoff covers it
        return None


def _as_skyplex_error(exc: Exception, backend: OpenAIBackend, what: str, attempts: int) -> SkyplexError:
    """The client's error, restated for people with what to do about it."""
    import openai

    where = backend._where()
    if isinstance(exc, openai.APIStatusError):
        detail = _server_message(exc)
        status = exc.status_code
        if status in (400, 422):
            return InvalidInputError(f"{where} rejected the {what}: {detail}")
        if status == 404:
            return NotFoundError(
                f"{where} does not know model {backend.model!r} (or the route): {detail}; check the model name "
                "and that OPENAI_BASE_URL ends with /v1",
                field="model",
            )
        if status in (401, 403):
            return ModelUnavailableError(f"{where} refused the API key (HTTP {status}): {detail}; check OPENAI_API_KEY")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return ModelUnavailableError(f"{where} failed the {what}{tries}: HTTP {status}: {detail}")
    kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "could not be reached"
    return ModelUnavailableError(
        f"{where} {kind} ({attempts} attempts, {backend.timeout:g}s timeout each): {exc}; check that the server is "
        "up and OPENAI_BASE_URL is right, or raise models.openai.timeout / max_retries"
    )


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))


@hookimpl
def skyplex_register_models(register):
    """Register the OpenAI-compatible HTTP backend as ``openai``."""
    register(
        "openai",
        OpenAIBackend,
        description="Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs) over HTTP",
    )
