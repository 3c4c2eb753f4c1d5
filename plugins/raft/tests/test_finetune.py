"""LoRA fine-tuning on the real local SmolLM2: a crash at each durable write resumes to the same adapter,
the merged model loads in the kernel's ``local`` backend, and bad input is refused by name.

Runs are tiny (48-token sequences, 3 steps, rank 2) so the suite stays minutes on a small CPU machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from skyplex.errors import InvalidInputError, ModelUnavailableError
from skyplex_raft import finetune as ft
from skyplex_raft.builder import RaftOptions, build_examples, write_jsonl
from skyplex_raft.questions import template_questions

pytest.importorskip("peft")
TINY = {"max_steps": 3, "max_seq_len": 48, "r": 2, "alpha": 4, "target_modules": "q_proj,v_proj",
        "save_every": 1, "merge": False, "threads": 2, "dropout": 0.1}


class Crash(Exception):
    """Stands for the process dying at an injected point."""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, make_corpus) -> Path:
    chunks = make_corpus(16, 3)
    examples, _ = build_examples(chunks, template_questions(chunks), RaftOptions(k=2, p=0.8, test_fraction=0.0))
    path = tmp_path_factory.mktemp("raft") / "train.jsonl"
    write_jsonl(examples, path)
    return path


def run(dataset: Path, out: Path, data_dir: Path, progress=None, **overrides) -> dict:
    options, _ = ft.lora_options_from({**TINY, **overrides})
    return ft.finetune_lora(dataset, "local", out, options, data_dir=data_dir, progress=progress)


def adapter_tensors(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "adapter" / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory, skyplex_model_cache_dir):
    """An uninterrupted run: what every crashed-and-resumed run must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    seen = []
    summary = run(dataset, out, skyplex_model_cache_dir, progress=lambda d, t, m: seen.append((d, t, m)))
    return out, summary, seen


def test_uninterrupted_run_reports_progress_and_writes_the_adapter(reference):
    out, summary, seen = reference
    assert [(d, t) for d, t, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(m.startswith(f"step {d}/3 loss ") for d, _, m in seen)
    assert summary["steps"] == 3 and summary["resumed_from_step"] == 0 and len(summary["losses"]) == 3
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 2 and sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    tensors = adapter_tensors(out)
    # LoRA's B matrices start at zero; three optimizer steps must have moved them
    assert any(float(t.abs().max()) > 0 for name, t in tensors.items() if "lora_B" in name)
    assert json.loads((out / "training.json").read_text())["fingerprint"] == summary["fingerprint"]


def _crash_in_progress(at_step):
    def progress(done, total, message):
        if done == at_step:
            raise Crash(f"died after step {done}")
    return progress


@pytest.mark.parametrize("point", ["after-step-1", "after-step-2", "checkpoint-write-1", "checkpoint-write-3",
                                   "checkpoint-rename-2", "adapter-save"])
def test_a_crash_at_each_durable_write_resumes_to_the_same_adapter(point, dataset, reference, tmp_path,
                                                                   skyplex_model_cache_dir, monkeypatch):
    import torch

    ref_out, ref_summary, _ = reference
    real_save, real_replace = ft._save_checkpoint, ft.os.replace
    calls = {"n": 0}
    progress = None
    if point.startswith("after-step"):
        progress = _crash_in_progress(int(point[-1]))
    elif point.startswith("checkpoint-write"):
        def torn_save(path, state):  # the process dies while writing: a partial temp file is left behind
            calls["n"] += 1
            if calls["n"] == int(point[-1]):
                path.with_name(path.name + ".tmp").write_bytes(b"\x80partial")
                raise Crash("died mid-write")
            real_save(path, state)
        monkeypatch.setattr(ft, "_save_checkpoint", torn_save)
    elif point.startswith("checkpoint-rename"):
        def dying_save(path, state):  # written in full, killed before the rename makes it the checkpoint
            calls["n"] += 1
            if calls["n"] == int(point[-1]):
                torch.save(state, path.with_name(path.name + ".tmp"))
                raise Crash("died before rename")
            real_save(path, state)
        monkeypatch.setattr(ft, "_save_checkpoint", dying_save)
    else:
        import peft

        def dying_adapter_save(self, *a, **kw):
            raise Crash("died saving the adapter")
        monkeypatch.setattr(peft.PeftModel, "save_pretrained", dying_adapter_save)
    with pytest.raises(Crash):
        run(dataset, tmp_path, skyplex_model_cache_dir, progress=progress)
    monkeypatch.undo()
    assert ft.os.replace is real_replace
    summary = run(dataset, tmp_path, skyplex_model_cache_dir)
    expected_start = {"after-step-1": 1, "after-step-2": 2, "checkpoint-write-1": 0, "checkpoint-write-3": 2,
                      "checkpoint-rename-2": 1, "adapter-save": 3}[point]
    assert summary["resumed_from_step"] == expected_start
    assert summary["losses"] == pytest.approx(ref_summary["losses"], abs=1e-5)
    ref, got = adapter_tensors(ref_out), adapter_tensors(tmp_path)
    assert ref.keys() == got.keys()
    for name in ref:
        assert torch.allclose(ref[name], got[name], atol=1e-6), name


def test_merged_model_loads_in_the_local_backend_and_matches_the_adapter(dataset, tmp_path, skyplex_model_cache_dir):
    import torch
    from peft import PeftModel
    from skyplex.interfaces import GenerationParams
    from skyplex.models.local import LocalBackend
    from transformers import AutoModelForCausalLM

    summary = run(dataset, tmp_path, skyplex_model_cache_dir, max_steps=1, merge=True)
    model_dir = Path(summary["model_dir"])
    ids = torch.tensor([[1, 504, 3458, 314, 260, 1345, 30]])
    base = AutoModelForCausalLM.from_pretrained(summary["base_folder"], dtype=torch.float32)
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
        adapter_logits = adapted(input_ids=ids).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)(input_ids=ids).logits
    assert torch.allclose(adapter_logits, merged_logits, atol=1e-3)
    assert not torch.allclose(base_logits, merged_logits, atol=1e-6)  # the adapter did change the model
    backend = LocalBackend(model_dir=model_dir, threads=2)
    try:
        (completion,) = backend.generate([[{"role": "user", "content": "Say hello."}]],
                                         GenerationParams(max_tokens=4, temperature=0.0))
        assert completion.usage.completion_tokens >= 1
    finally:
        backend.close()


def test_a_checkpoint_of_another_run_is_refused(dataset, reference, tmp_path, skyplex_model_cache_dir):
    import shutil

    ref_out, _, _ = reference
    shutil.copy(ref_out / ft.CHECKPOINT, tmp_path / ft.CHECKPOINT)
    with pytest.raises(InvalidInputError, match="holds a checkpoint of another run"):
        run(dataset, tmp_path, skyplex_model_cache_dir, learning_rate=1e-3)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"), ("", "holds no examples"), ('{"text": "x"}\n', "line 1: not a chat record"),
    ("not json\n", "line 1: not a chat record"),
])
def test_bad_datasets_are_named(tmp_path, skyplex_model_cache_dir, content, message):
    path = tmp_path / "d.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        run(path, tmp_path / "out", skyplex_model_cache_dir)


def test_a_base_model_that_cannot_load_is_named(dataset, tmp_path):
    options, _ = ft.lora_options_from(TINY)
    with pytest.raises(ModelUnavailableError, match="base model 'no-such-model' cannot be loaded"):
        ft.finetune_lora(dataset, "no-such-model", tmp_path, options, data_dir=tmp_path)


@pytest.mark.parametrize(("options", "message"), [
    ({"r": 0}, "r=0 must be at least 1"), ({"max_seq_len": 4}, "max_seq_len=4 is too short"),
    ({"dropout": 1.5}, "dropout=1.5 is outside"), ({"max_steps": "many"}, "option max_steps='many'"),
    ({"target_modules": ""}, "target_modules"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(InvalidInputError, match=message):
        ft.lora_options_from(options)


def test_long_examples_lose_the_middle_of_the_prompt_not_the_answer(skyplex_local_backend):
    tokenizer = skyplex_local_backend._tokenizer_loaded()
    docs = " ".join(f"word{i}" for i in range(400))
    messages = [{"role": "system", "content": "Answer from the documents."},
                {"role": "user", "content": f"{docs}\n\nQuestion: what is last?"},
                {"role": "assistant", "content": "<ANSWER>: word399"}]
    ids, labels, truncated = ft.encode_example(tokenizer, messages, 64)
    assert truncated and len(ids) == len(labels) == 64
    answer = [t for t in labels if t != -100]
    assert "<ANSWER>: word399" in tokenizer.decode(answer)
    assert tokenizer.decode(ids).startswith("<|im_start|>system")
    assert "Question: what is last?" in tokenizer.decode(ids)
    short, short_labels, cut = ft.encode_example(tokenizer, messages[:1] + [
        {"role": "user", "content": "Q?"}, messages[2]], 64)
    assert not cut and short_labels.count(-100) == len(short) - len(answer)
