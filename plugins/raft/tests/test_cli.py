"""``skyplex raft build|finetune|eval``: the commands the docs show, as typed, through the real ``skyplex`` group, and
bad input reported as one line with exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from skyplex.testing.docs import documented_commands, plugin_doc, run_cli

DOCS = plugin_doc("raft", __file__)


def doc_commands() -> list[tuple[list[str], list[str]]]:
    """(argv after `skyplex`, expected output lines) for each `$ skyplex raft` line in the docs."""
    return documented_commands(DOCS.read_text(), "skyplex raft")


def run_skyplex(argv: list[str], data_dir: Path, *, builtins: bool = False):
    return run_cli(argv, plugins={"raft"}, data_dir=data_dir, builtins=builtins)


def shape(line: str) -> str:
    """The line with its numbers blanked: counts follow the installed Python's docstrings."""
    return re.sub(r"\d+", "N", line)


@pytest.mark.timeout(1500)  # real (one-step) fine-tunes and a few short answers of the local model on a small CPU
def test_documented_commands_run_as_written(tmp_path, monkeypatch, skyplex_model_cache_dir):
    """build, finetune, eval, sweep, plot: the page's commands, in order, in one folder, each printing what
    the page shows (the numbers aside: they follow the installed Python's docstrings and the tiny model)."""
    monkeypatch.chdir(tmp_path)
    # the packaged model is converted once per test session; this data dir reuses that conversion
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(skyplex_model_cache_dir / "models", target_is_directory=True)
    # test_sft_cli.py runs the sft command, test_docs_dataset.py the build from this page
    # test_grounded_cli.py runs the grounded eval, test_attribution_cli.py the attribute command
    commands = [c for c in doc_commands() if c[0][:2] not in (["raft", "sft"], ["raft", "attribute"])
                and "docs/plugins/raft.md" not in c[0] and "--grounded" not in c[0]]
    assert [argv[:2] for argv, _ in commands] == [["raft", "build"], ["raft", "finetune"], ["raft", "eval"],
                                                   ["raft", "sweep"], ["raft", "plot"]]
    (build, build_out), (finetune, finetune_out), (evaluate, eval_out), (sweep, sweep_out), (plot, plot_out) = commands

    result = run_skyplex(build, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert shape(result.stdout.strip()) == shape(build_out[0])
    train = [json.loads(x) for x in (tmp_path / "raft.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (tmp_path / "raft.test.jsonl").read_text().splitlines()]
    written = re.findall(r"\d+", result.stdout)
    assert [len(train), len(test)] == [int(written[0]), int(written[1])]
    assert all(len(r["raft"]["document_ids"]) == 2 for r in train + test)

    result = run_skyplex(finetune, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert shape(result.stdout.strip()) == shape(finetune_out[0])
    assert (tmp_path / "raft-lora" / "model" / "config.json").is_file()
    assert (tmp_path / "raft-lora" / "adapter" / "adapter_model.safetensors").is_file()
    assert result.stderr.count("step ") == 1  # progress, one line per step

    result = run_skyplex(evaluate, tmp_path / "data", builtins=True)  # the base model is the built-in local
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == eval_out[0].split()
    # the subjects' rows, in the page's order; their numbers are whatever the tiny model scores
    assert [line.split()[0] for line in lines[1:]] == [line.split()[0] for line in eval_out[1:]]
    assert all(re.fullmatch(r"\S+(\s+(\d\.\d\d n=\d+|-))+", line.strip()) for line in lines[1:])

    result = run_skyplex(sweep, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert [shape(x) for x in result.stdout.rstrip("\n").splitlines()] == [shape(x) for x in sweep_out]
    results = json.loads((tmp_path / "raft-sweep" / "sweep.json").read_text())
    assert [(c["p"], c["k"]) for c in results["cells"]] == [(0.5, 1), (1.0, 1)]
    # the table prints the scores the sweep wrote
    for line, cell in zip(result.stdout.splitlines()[1:3], results["cells"]):
        assert f"{cell['scores']['f1']['value']:.2f} [" in line and f"n={cell['scores']['f1']['n']}" in line
    assert (tmp_path / "raft-sweep" / "sweep.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not list((tmp_path / "raft-sweep").glob("*/lora/model"))  # merged models deleted once scored
    assert len(list((tmp_path / "raft-sweep").glob("*/lora/adapter/adapter_model.safetensors"))) == 2

    result = run_skyplex(plot, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert [shape(x) for x in result.stdout.rstrip("\n").splitlines()] == [shape(x) for x in plot_out]
    assert (tmp_path / "abstain.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_build_json_prints_the_artifact(tmp_path):
    out = tmp_path / "d.jsonl"
    result = run_skyplex(["raft", "build", "--source", "python:json,shlex", "-k", "2", "--distractors", "random",
                          "--out", str(out), "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    art = json.loads(result.stdout)
    assert art["path"] == str(out) and art["metadata"]["distractors"] == "random"
    assert art["num_examples"] == len(out.read_text().splitlines())


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "1.5"], "p=1.5 is outside [0, 1]"),
    (["-p", "-0.2"], "p=-0.2 is outside [0, 1]"),
    (["-k", "99"], "k=99 needs 99 distractor documents"),
    (["--source", "python:no_such_module_here"], "module 'no_such_module_here' cannot be imported"),
    (["--source", "EMPTY"], "empty.md: the document is empty"),
    (["--source", "BINARY"], "blob.txt: looks binary"),
    (["--source", "MISSING"], "missing.md: no such file or folder"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    (tmp_path / "empty.md").write_text("\n\n")
    (tmp_path / "blob.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    paths = {"EMPTY": "empty.md", "BINARY": "blob.txt", "MISSING": "missing.md"}
    args = [str(tmp_path / paths[a]) if a in paths else a for a in args]
    result = run_skyplex(["raft", "build", *args, "--out", str(tmp_path / "x.jsonl")], tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_hf_dataset_round_trips(tmp_path):
    datasets = pytest.importorskip("datasets")
    out, hf_dir = tmp_path / "d.jsonl", tmp_path / "hf"
    result = run_skyplex(["raft", "build", "--source", "python:json,textwrap,shlex", "-k", "3", "--out", str(out),
                          "--hf-dir", str(hf_dir), "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    loaded = datasets.load_from_disk(str(hf_dir))
    train = [json.loads(x) for x in out.read_text().splitlines()]
    assert loaded["train"].num_rows == len(train) and loaded["test"].num_rows == json.loads(result.stdout)[
        "metadata"]["test_examples"]
    assert loaded["train"][0]["messages"] == train[0]["messages"]
    assert loaded["train"][0]["raft"]["document_ids"] == train[0]["raft"]["document_ids"]


@pytest.mark.parametrize(("args", "message"), [
    (["finetune", "--dataset", "MISSING", "--out", "OUT"], "missing.jsonl: no such file"),
    (["finetune", "--dataset", "NOTCHAT", "--out", "OUT"], "line 1: not a chat record"),
    (["finetune", "--dataset", "NOTCHAT", "--out", "OUT", "--rank", "0"], "r=0 must be at least 1"),
    (["finetune", "--dataset", "CHAT", "--out", "OUT", "--base-model", "MISSING"], "cannot be loaded"),
    (["eval", "--dataset", "MISSING"], "missing.jsonl: no such file"),
    (["eval", "--dataset", "NOTCHAT"], "line 1: not a RAFT record"),
    (["eval", "--dataset", "CHAT", "--limit", "0"], "must be at least 1"),
])
def test_finetune_and_eval_bad_input_is_one_line_exit_2(tmp_path, args, message):
    (tmp_path / "notchat.jsonl").write_text('{"text": "hello"}\n')
    (tmp_path / "chat.jsonl").write_text(json.dumps({"messages": [
        {"role": "user", "content": "Question: q?"}, {"role": "assistant", "content": "<ANSWER>: a"}]}) + "\n")
    paths = {"MISSING": "missing.jsonl", "NOTCHAT": "notchat.jsonl", "CHAT": "chat.jsonl", "OUT": "out"}
    args = [str(tmp_path / paths[a]) if a in paths else a for a in args]
    result = run_skyplex(["raft", *args], tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
