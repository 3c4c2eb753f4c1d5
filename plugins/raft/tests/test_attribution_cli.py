"""``skyplex raft attribute``: the page's command, as typed, after the page's build, printing the lines the page
shows (values are the model's, so their form is checked); ``--json`` gives the threshold and the scores, every
answer it makes quotes a shown sentence verbatim; bad input is one line with exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from skyplex.testing.docs import documented_commands, plugin_doc, run_cli

DOCS = plugin_doc("raft", __file__)


def documented(prefix: list[str]) -> tuple[list[str], list[str]]:
    found = [c for c in documented_commands(DOCS.read_text(), "skyplex raft")
             if c[0][:2] == prefix and "docs/plugins/raft.md" not in c[0] and "--grounded" not in c[0]]
    assert found, f"no documented `skyplex {' '.join(prefix)}` line"
    return found[0]


def run_skyplex(argv: list[str], data_dir: Path):
    return run_cli(argv, plugins={"raft"}, data_dir=data_dir, builtins=True)


@pytest.mark.timeout(900)  # a few questions scored by the local model on a small CPU
def test_documented_attribute_command_runs_as_written(tmp_path, monkeypatch, skyplex_model_cache_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(skyplex_model_cache_dir / "models", target_is_directory=True)
    build, _ = documented(["raft", "build"])
    attribute, expected = documented(["raft", "attribute"])
    assert run_skyplex(build, tmp_path / "data").exit_code == 0

    result = run_skyplex([*attribute, "--json"], tmp_path / "data")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["method"] == "both" and isinstance(payload["threshold"], float)
    scores = {s["metric"]: s for s in payload["scores"]}
    # every answer it makes quotes a sentence verbatim and holds its answer: supported is 1 where it answers
    assert scores["supported@oracle"]["value"] == pytest.approx(1.0 - scores["abstain@oracle"]["value"])

    result = run_skyplex(attribute, tmp_path / "data")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(expected)
    assert re.fullmatch(r"threshold -?\d+\.\d{3} \(chosen on --calibrate-on\); support AUC calibration \d\.\d\d, "
                        r"scored (\d\.\d\d|nan)", lines[0])
    assert [line.split()[0] for line in lines[1:]] == [line.split()[0] for line in expected[1:]]
    assert all(re.fullmatch(r"\S+ +\d\.\d\d \[\d\.\d\d, \d\.\d\d\] n=\d+", line) for line in lines[1:])


def test_bad_input_is_one_line_with_exit_status_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    split = tmp_path / "s.test.jsonl"
    split.write_text("not json\n")
    other = tmp_path / "other.jsonl"
    other.write_text(split.read_text())
    for argv, says in [
        (["raft", "attribute", "--dataset", str(split), "--calibrate-on", str(split)], "other questions"),
        (["raft", "attribute", "--dataset", str(tmp_path / "none.jsonl"), "--calibrate-on", str(other)], "none.jsonl"),
        (["raft", "attribute", "--dataset", str(split), "--calibrate-on", str(other)], "s.test.jsonl line 1"),
    ]:
        result = run_skyplex(argv, tmp_path / "data")
        assert result.exit_code == 2, result.output
        assert says in result.output and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


REPO = DOCS.parents[2]


@pytest.mark.skipif(not (REPO / "benchmarks" / "raft_attribution.py").exists(),
                    reason="benchmarks/raft_attribution.py is not beside these tests (not a repository checkout)")
@pytest.mark.parametrize(("argv", "says"), [(["--conditions", "paraphrase,other"], "--conditions paraphrase,other"),
                                            (["--max-words", "0"], "--max-words 0")])
def test_the_benchmark_refuses_bad_settings_in_one_line(tmp_path, argv, says):
    """Bad settings of the measuring script: one line naming the setting, exit status 2, before any model loads."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "raft_attribution.py"), "--keep",
                             str(tmp_path / "k"), *argv], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and says in result.stderr


@pytest.mark.skipif(not (REPO / "benchmarks" / "raft_requote.py").exists(),
                    reason="benchmarks/raft_requote.py is not beside these tests (not a repository checkout)")
@pytest.mark.parametrize("content", [None, "not json", '{"setting": 3}', '{"setting": {"limit": 4}, "items": {}}'])
def test_the_requote_benchmark_refuses_a_bad_result_file_in_one_line(tmp_path, content):
    """A missing result file, or one that is not raft_attribution.py's: one line naming it, exit status 2."""
    import subprocess
    import sys

    result_file = tmp_path / "result.json"
    if content is not None:
        result_file.write_text(content)
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "raft_requote.py"), "--result", str(result_file),
                             "--keep", str(tmp_path / "k")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and str(result_file) in result.stderr
