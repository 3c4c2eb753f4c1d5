"""``skyplex raft probe --model-dir`` and ``skyplex raft attribute --model-dir``: the documented command shapes run
against a model folder of their own (a tiny randomly initialised Llama, 17 layers so the probe's layer 16
exists, with the local SmolLM2's tokenizer), not the packaged model; a folder that is missing or holds no
config.json is one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from skyplex.testing.docs import run_cli
from skyplex_raft.builder import RaftOptions, build_examples, write_jsonl
from skyplex_raft.fictional import fictional_corpus


def run_skyplex(argv: list[str], data_dir: Path):
    return run_cli(argv, plugins={"raft"}, data_dir=data_dir, builtins=True)


def split(path: Path, entities: int, seed: int, n: int) -> Path:
    """``n`` abstain-mode questions about ``entities`` fictional institutions of ``seed``, half with the oracle."""
    chunks, questions = fictional_corpus(entities, seed)
    examples, _ = build_examples(chunks, questions, RaftOptions(k=2, p=0.5, distractors="bm25", test_fraction=0.0,
                                                                seed=seed, abstain=True))
    present = [e for e in examples if e.oracle_present][:n // 2]
    absent = [e for e in examples if not e.oracle_present][:n - n // 2]
    write_jsonl(present + absent, path)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, skyplex_local_backend) -> Path:
    """A saved transformers folder: a random 17-layer Llama of width 32 and the local model's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    skyplex_local_backend.count_tokens("x")  # the packaged model converted, so its tokenizer is on disk
    tokenizer = AutoTokenizer.from_pretrained(str(skyplex_local_backend.cache_dir))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=17,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    LlamaForCausalLM(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("splits")
    return {"train": split(root / "train.jsonl", 6, 0, 10), "dev": split(root / "dev.jsonl", 6, 1, 6),
            "test": split(root / "raft.test.jsonl", 6, 2, 4)}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("per_document", [False, True])
def test_the_probe_reads_and_answers_with_the_model_dir(tmp_path, monkeypatch, tiny_model, splits, per_document):
    """The probe's features are the tiny model's (hidden width 32: the probe's weights have 32 or 64 entries),
    and the command's output is the documented one."""
    import skyplex_raft.probe as probe

    widths = []
    real_fit = probe.fit_logistic

    def recording_fit(x, absent, l2):
        widths.append(x.shape[1])
        return real_fit(x, absent, l2)

    monkeypatch.setattr(probe, "fit_logistic", recording_fit)
    if per_document:
        import skyplex_raft.docprobe as docprobe

        monkeypatch.setattr(docprobe, "fit_logistic", recording_fit)
    monkeypatch.chdir(tmp_path)
    argv = ["raft", "probe", "--train", str(splits["train"]), "--calibrate-on", str(splits["dev"]), "--dataset",
            str(splits["test"]), "--max-tokens", "2", "--model-dir", str(tiny_model), "--json",
            *(["--per-document"] if per_document else [])]
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["layer"] in (8, 12, 16) and isinstance(payload["threshold"], float)
    assert widths and set(widths) <= {32, 64}
    scores = {s["metric"]: s for s in payload["scores"]}
    assert scores["abstain@oracle"]["n"] == 2 and scores["abstain@distractors"]["n"] == 2


@pytest.mark.timeout(900)
def test_attribution_scores_and_answers_with_the_model_dir(tmp_path, monkeypatch, tiny_model, splits):
    """``attribute --model-dir``: the backend it scores with is the folder's model."""
    from skyplex.models.local import LocalBackend

    opened = []
    real_init = LocalBackend.__init__

    def recording_init(self, *args, **kwargs):
        opened.append(kwargs.get("model_dir"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(LocalBackend, "__init__", recording_init)
    monkeypatch.chdir(tmp_path)
    argv = ["raft", "attribute", "--dataset", str(splits["test"]), "--calibrate-on", str(splits["dev"]),
            "--model-dir", str(tiny_model), "--max-words", "3", "--json"]
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert opened == [tiny_model]
    payload = json.loads(result.stdout)
    assert isinstance(payload["threshold"], float)
    scores = {s["metric"]: s for s in payload["scores"]}
    assert scores["supported@oracle"]["value"] == pytest.approx(1.0 - scores["abstain@oracle"]["value"])


@pytest.mark.parametrize("command", ["probe", "attribute"])
@pytest.mark.parametrize("folder", ["missing", "no_config"])
def test_a_model_dir_without_a_model_is_one_line_with_exit_status_2(tmp_path, monkeypatch, splits, command, folder):
    monkeypatch.chdir(tmp_path)
    model_dir = tmp_path / folder
    if folder == "no_config":
        model_dir.mkdir()
        (model_dir / "model.safetensors").write_bytes(b"")
    argv = ["raft", command, "--dataset", str(splits["test"]), "--calibrate-on", str(splits["dev"]),
            "--model-dir", str(model_dir), *(["--train", str(splits["train"])] if command == "probe" else [])]
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 2, result.output
    assert f"--model-dir {model_dir}" in result.output and "config.json" in result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
