"""The page's ``raft_grounded.py --rules-only`` command, as written: it builds the three held-out conditions and
scores the rules that read no model on them. On the paraphrased condition the name rule, the name + relation-verb
rule and the best lexical overlap fail the abstention target; the reader of the relation schema passes it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from skyplex.testing.docs import code_blocks, plugin_doc

DOCS = plugin_doc("raft", __file__)
REPO = DOCS.parents[2]

# the command runs the repository's benchmark script; a plugin installed from its wheel, with only its
# tests and page beside it, has no benchmarks/ folder to run it from
pytestmark = pytest.mark.skipif(not (REPO / "benchmarks" / "raft_grounded.py").exists(),
                                reason="benchmarks/raft_grounded.py is not beside these tests (not a repository checkout)")


def documented_rules_command() -> list[str]:
    """The page's one ``--rules-only`` command, split as a shell would (line continuations joined)."""
    found = [shlex.split(block.replace("\\\n", " ")) for block in code_blocks(DOCS.read_text(), "sh")
             if "--rules-only" in block]
    assert len(found) == 1, f"{len(found)} documented --rules-only commands"
    return found[0]


def test_documented_rules_only_command_runs_as_written(tmp_path):
    argv = documented_rules_command()
    assert argv[:2] == [".venv/bin/python", "benchmarks/raft_grounded.py"]
    # the page's interpreter and script, from this checkout; every other word as written, in a fresh folder
    result = subprocess.run([sys.executable, str(REPO / argv[1]), *argv[2:]], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = tmp_path / argv[argv.index("--out") + 1]
    assert f"wrote {out.name}" in result.stdout.replace("\n", "")
    report = json.loads(out.read_text())
    scores = report["scores"]

    def cell(rule: str, column: str) -> float:
        return scores[rule][column]["value"]

    for condition in ("namesakes", "siblings", "paraphrase"):
        assert report["questions"][condition]["test"] == 54
        # the schema reader abstains exactly when no shown document states the asked fact: both targets, always
        assert cell(f"schema rule, {condition}", "abstain@distractors") == 1.0
        assert cell(f"schema rule, {condition}", "abstain@oracle") == 0.0
    # every paraphrased document names the asked institution, and the asked relation's confuser is shown
    assert cell("name rule, paraphrase", "abstain@distractors") == 0.0
    assert cell("name+fact rule, paraphrase", "abstain@distractors") == 0.0
    overlap = next(r for r in scores if r.startswith("overlap rule") and r.endswith(", paraphrase"))
    assert cell(overlap, "abstain@distractors") < 0.8 and cell(overlap, "abstain@oracle") <= 0.05
    # the older conditions: each passed by one string rule
    assert cell("name rule, namesakes", "abstain@distractors") == 1.0
    assert cell("name+fact rule, siblings", "abstain@distractors") == 1.0
    assert cell("name+fact rule, siblings", "abstain@oracle") == 0.0


def test_a_bad_setting_is_one_line_and_exit_status_2(tmp_path):
    argv = documented_rules_command()
    result = subprocess.run([sys.executable, str(REPO / argv[1]), *argv[2:], "--entities", "400"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "entities=400" in result.stderr
    result = subprocess.run([sys.executable, str(REPO / argv[1]), *argv[2:], "--conditions", "paraphrase,rumours"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "paraphrase,rumours" in result.stderr
