"""``skyplex raft sft``: the page's command as written (after the page's build), the SFT data it writes, and bad
input reported as one line with exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from skyplex.testing.docs import documented_commands, plugin_doc, run_cli
from skyplex_raft.builder import SYSTEM_PROMPT, quotes_in
from skyplex_raft.evaluate import final_answer

DOCS = plugin_doc("raft", __file__)


def run_skyplex(argv: list[str], data_dir: Path):
    return run_cli(argv, plugins={"raft"}, data_dir=data_dir)


def shape(line: str) -> str:
    return re.sub(r"\d+", "N", line)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_documented_sft_command_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the first build of the page writes raft.jsonl; test_docs_dataset.py runs the build from the page itself
    commands = {tuple(argv[:2]): (argv, out) for argv, out in documented_commands(DOCS.read_text(), "skyplex raft")
                if "docs/plugins/raft.md" not in argv}
    build, _ = commands[("raft", "build")]
    sft, sft_out = commands[("raft", "sft")]
    assert run_skyplex(build, tmp_path / "data").exit_code == 0
    result = run_skyplex(sft, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert shape(result.stdout.strip()) == shape(sft_out[0])
    train, written = records(tmp_path / "raft.jsonl"), records(tmp_path / "raft.sft.jsonl")
    assert int(re.findall(r"\d+", result.stdout)[0]) == len(written) == len({r["raft"]["question_id"] for r in train})
    questions = {r["raft"]["question_id"]: r for r in train}
    for row in written:
        raft = questions[row["raft"]["question_id"]]
        system, user, assistant = (m["content"] for m in row["messages"])
        assert system == SYSTEM_PROMPT and "<DOCUMENT>" not in user
        assert user.endswith(raft["messages"][1]["content"].rsplit("Question: ", 1)[1])
        assert final_answer(assistant) == raft["raft"]["answer"] and quotes_in(assistant) == [raft["raft"]["quote"]]


def test_sft_of_a_paired_abstaining_build_keeps_each_question_once(tmp_path):
    out = tmp_path / "paired.jsonl"
    assert run_skyplex(["raft", "build", "--source", "python:json,shlex", "-k", "2", "-p", "0.5", "--abstain",
                        "--pairing", "--out", str(out)], tmp_path / "data").exit_code == 0
    result = run_skyplex(["raft", "sft", "--dataset", str(out), "--out", str(tmp_path / "sft.jsonl"), "--json"],
                         tmp_path / "data")
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    rows = records(tmp_path / "sft.jsonl")
    assert reply == {"path": str(tmp_path / "sft.jsonl"), "dataset": str(out), "examples": len(rows)}
    assert 2 * len(rows) == len(records(out))  # every question came in a pair; SFT keeps it once
    assert all(quotes_in(r["messages"][2]["content"]) for r in rows)  # no abstention without documents


@pytest.mark.parametrize(("dataset", "out", "message"), [
    ("MISSING", "OUT", "missing.jsonl: no such file"),
    ("NOTCHAT", "OUT", "line 1: not a RAFT record"),
    ("EMPTY", "OUT", "holds no examples"),
    ("BINARY", "OUT", "blob.jsonl: not UTF-8 text"),
    ("TRAIN", "TRAIN", "is the --dataset itself"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, dataset, out, message):
    (tmp_path / "notchat.jsonl").write_text('{"text": "hello"}\n')
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "blob.jsonl").write_bytes(b"PK\x03\x04\xff\xfe binary\n")
    (tmp_path / "train.jsonl").write_text(json.dumps({"messages": [], "raft": {}}) + "\n")
    paths = {"MISSING": "missing.jsonl", "NOTCHAT": "notchat.jsonl", "EMPTY": "empty.jsonl", "BINARY": "blob.jsonl",
             "TRAIN": "train.jsonl", "OUT": "sft.jsonl"}
    before = (tmp_path / "train.jsonl").read_bytes()
    result = run_skyplex(["raft", "sft", "--dataset", str(tmp_path / paths[dataset]), "--out",
                          str(tmp_path / paths[out])], tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "sft.jsonl").exists() and (tmp_path / "train.jsonl").read_bytes() == before
