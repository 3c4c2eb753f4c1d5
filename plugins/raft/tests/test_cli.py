"""``skyplex raft build``: the command the docs show, as typed, through the real ``skyplex`` group, and
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


def run_skyplex(argv: list[str], data_dir: Path):
    return run_cli(argv, plugins={"raft"}, data_dir=data_dir)


def shape(line: str) -> str:
    """The line with its numbers blanked: counts follow the installed Python's docstrings."""
    return re.sub(r"\d+", "N", line)


def test_documented_build_command_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ((argv, expected),) = doc_commands()
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert shape(result.stdout.strip()) == shape(expected[0])
    train = [json.loads(x) for x in (tmp_path / "raft.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (tmp_path / "raft.test.jsonl").read_text().splitlines()]
    written = re.findall(r"\d+", result.stdout)
    assert [len(train), len(test)] == [int(written[0]), int(written[1])]
    assert all(len(r["raft"]["document_ids"]) == 3 for r in train + test)


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
