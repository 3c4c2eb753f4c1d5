"""``skyplex raft eval --grounded``: the page's command, as typed, after the page's build, printing the
columns the page shows, and the report it makes (every unsupported answer scored as an abstention)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from skyplex.testing.docs import documented_commands, plugin_doc, run_cli
from skyplex_raft.evaluate import load_items
from skyplex_raft.grounded import is_supported

DOCS = plugin_doc("raft", __file__)


def documented(prefix: list[str], *, grounded: bool) -> tuple[list[str], list[str]]:
    found = [c for c in documented_commands(DOCS.read_text(), "skyplex raft")
             if c[0][:2] == prefix and ("--grounded" in c[0]) is grounded and "docs/plugins/raft.md" not in c[0]]
    assert found, f"no documented `skyplex {' '.join(prefix)}`{' --grounded' if grounded else ''} line"
    return found[0]


def run_skyplex(argv: list[str], data_dir: Path, *, builtins: bool = False):
    return run_cli(argv, plugins={"raft"}, data_dir=data_dir, builtins=builtins)


@pytest.mark.timeout(900)  # a few four-token answers of the local model on a small CPU
def test_documented_grounded_eval_runs_as_written(tmp_path, monkeypatch, skyplex_model_cache_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(skyplex_model_cache_dir / "models", target_is_directory=True)
    build, _ = documented(["raft", "build"], grounded=False)
    grounded, grounded_out = documented(["raft", "eval"], grounded=True)
    assert run_skyplex(build, tmp_path / "data").exit_code == 0

    result = run_skyplex(grounded, tmp_path / "data", builtins=True)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == grounded_out[0].split()
    assert [line.split()[0] for line in lines[1:]] == [line.split()[0] for line in grounded_out[1:]]
    assert all(re.fullmatch(r"\S+(\s+(\d\.\d\d n=\d+|-))+", line.strip()) for line in lines[1:])

    # the same command with --json: the scored reply is the model's own where supported, else the abstention
    result = run_skyplex([*grounded, "--json"], tmp_path / "data", builtins=True)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    items = {i.question_id: i for i in load_items(Path(grounded[grounded.index("--dataset") + 1]))}
    rag = [r for r in report["items"] if r["subject"] == "base+rag"]
    assert rag and report["metadata"]["grounded"] is True
    for record in rag:
        data = record["data"]
        supported = is_supported(data["reply"], items[record["item_id"]].documents)
        assert data["supported"] == float(supported)
        assert (data["grounded_reply"] == data["reply"]) if supported else data["abstain"] == 1.0
    # the closed-book subject is never grounded
    assert all("supported" not in r["data"] for r in report["items"] if r["subject"] == "base")
