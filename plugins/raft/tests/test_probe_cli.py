"""``skyplex raft probe``: a run on small fictional splits with the real local model gives the settings, the
threshold and the scores (``--json``), printed as the settings line and the four score lines (values are the
model's, so their form is checked); bad input is one line with exit status 2, and so are the benchmark's bad settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from skyplex.testing.docs import plugin_doc, run_cli
from skyplex_raft.builder import RaftOptions, build_examples, write_jsonl
from skyplex_raft.fictional import fictional_corpus

DOCS = plugin_doc("raft", __file__)
REPO = DOCS.parents[2]


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


@pytest.mark.timeout(900)
def test_the_probe_command_on_the_real_local_model(tmp_path, monkeypatch, capsys, skyplex_model_cache_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(skyplex_model_cache_dir / "models", target_is_directory=True)
    argv = ["raft", "probe", "--train", str(split(tmp_path / "train.jsonl", 6, 0, 10)),
            "--calibrate-on", str(split(tmp_path / "dev.jsonl", 6, 1, 6)),
            "--dataset", str(split(tmp_path / "test.jsonl", 6, 2, 4)), "--max-tokens", "4"]
    result = run_skyplex([*argv, "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["layer"] in (8, 12, 16) and payload["pooling"] in ("last", "question", "both")
    assert isinstance(payload["threshold"], float)
    scores = {s["metric"]: s for s in payload["scores"]}
    assert scores["abstain@oracle"]["n"] == 2 and scores["abstain@distractors"]["n"] == 2

    from skyplex_raft.cli import _print_probe  # the human output of the same payload (one model run, not two)

    _print_probe(payload)
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"layer \d+, (last|question|both) pooling, l2 \S+ \(cross-validated on --train, AUC "
                        r"(\d\.\d\d|nan)\); threshold -?\d+\.\d{3} \(chosen on --calibrate-on\); probe AUC calibration "
                        r"(\d\.\d\d|nan), scored (\d\.\d\d|nan)", lines[0])
    assert [line.split()[0] for line in lines[1:]] == ["abstain@distractors", "abstain@oracle", "f1@oracle",
                                                       "supported@oracle"]


@pytest.mark.timeout(900)
def test_the_per_document_probe_command_on_the_real_local_model(tmp_path, monkeypatch, capsys, skyplex_model_cache_dir):
    """``--per-document``: the same splits, the question read with one document at a time."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(skyplex_model_cache_dir / "models", target_is_directory=True)
    argv = ["raft", "probe", "--per-document", "--train", str(split(tmp_path / "train.jsonl", 6, 0, 10)),
            "--calibrate-on", str(split(tmp_path / "dev.jsonl", 6, 1, 6)),
            "--dataset", str(split(tmp_path / "test.jsonl", 6, 2, 4)), "--max-tokens", "4", "--json"]
    result = run_skyplex(argv, tmp_path / "data")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["probe"] == "per document" and payload["layer"] in (8, 12, 16)
    scores = {s["metric"]: s for s in payload["scores"]}
    assert scores["abstain@oracle"]["n"] == 2 and scores["abstain@distractors"]["n"] == 2

    from skyplex_raft.cli import _print_probe

    _print_probe(payload)
    assert re.match(r"per-document probe: layer \d+, (last|question|both) pooling", capsys.readouterr().out)


def test_bad_input_is_one_line_with_exit_status_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "s.test.jsonl"
    bad.write_text("not json\n")
    other, third = tmp_path / "other.jsonl", tmp_path / "third.jsonl"
    other.write_text(bad.read_text())
    third.write_text(bad.read_text())
    for argv, says in [
        (["--dataset", str(bad), "--train", str(other), "--calibrate-on", str(bad)], "--calibrate-on"),
        (["--dataset", str(bad), "--train", str(other), "--calibrate-on", str(other)], "is --train too"),
        (["--dataset", str(bad), "--train", str(bad), "--calibrate-on", str(other)], "is --dataset too"),
        (["--dataset", str(tmp_path / "none.jsonl"), "--train", str(other), "--calibrate-on", str(third)], "none.jsonl"),
        (["--dataset", str(bad), "--train", str(other), "--calibrate-on", str(third)], "s.test.jsonl line 1"),
        (["--dataset", str(bad), "--train", str(other), "--calibrate-on", str(third), "--max-tokens", "0"],
         "--max-tokens 0"),
        (["--per-document", "--dataset", str(bad), "--train", str(bad), "--calibrate-on", str(other)],
         "is --dataset too"),
        (["--per-document", "--dataset", str(bad), "--train", str(other), "--calibrate-on", str(third)],
         "s.test.jsonl line 1"),
    ]:
        result = run_skyplex(["raft", "probe", *argv], tmp_path / "data")
        assert result.exit_code == 2, result.output
        assert says in result.output and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not (REPO / "benchmarks" / "raft_probe.py").exists(),
                    reason="benchmarks/raft_probe.py is not beside these tests (not a repository checkout)")
@pytest.mark.parametrize(("argv", "says"), [(["--conditions", "namesakes,other"], "--conditions namesakes,other"),
                                            (["--max-tokens", "0"], "--max-tokens 0")])
def test_the_benchmark_refuses_bad_settings_in_one_line(tmp_path, argv, says):
    """Bad settings of the measuring script: one line naming the setting, exit status 2, before any model loads."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "raft_probe.py"), "--keep", str(tmp_path),
                             *argv], capture_output=True, text=True, cwd=REPO / "benchmarks", timeout=300)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
