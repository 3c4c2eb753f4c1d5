"""``skyplex zkaudit ...`` as a person types it: docs/plugins/zkaudit.md's example files and commands run
as written through the real CLI, ``--json`` on each command, and the bad inputs a new user hits: one
line naming the file and field, exit 2, never a traceback. (The page's ``curl`` lines are run in
test_routes.py.)
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from skyplex.testing.docs import plugin_doc

DOC = plugin_doc("zkaudit", __file__)


def doc_text() -> str:
    return DOC.read_text()


def doc_files() -> dict[str, str]:
    """The example files: a line "`name.json` (...)" followed (after prose) by a ```json block."""
    text = doc_text()
    quick = text[text.index("## Quick start"): text.index("## Formats")]
    return dict(re.findall(r"^`([\w-]+\.json)` \(.*?```json\n(.*?)```", quick, re.S | re.M))


def doc_commands() -> list[list[str]]:
    text = doc_text()
    quick = text[text.index("## Quick start"): text.index("## Formats")]
    block = re.search(r"```sh\n(.*?)```", quick, re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def run_cli(argv: list[str], capfd) -> tuple[int, str, str]:
    from skyplex.cli.main import main

    code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture
def in_data_dir(tmp_path, monkeypatch, session_data_dir):
    """The CLI as a user runs it: cwd a scratch folder, the data dir from SKYPLEX_DATA_DIR (the
    session's, so circuit keys made by other tests are reused)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYPLEX_DATA_DIR", str(session_data_dir))
    return tmp_path


def _write_examples(folder: Path, ids: dict[str, str] | None = None) -> None:
    for name, body in doc_files().items():
        for placeholder, cid in (ids or {}).items():
            body = body.replace(placeholder, cid)
        (folder / name).write_text(body)


def _commit_examples(folder: Path, capfd) -> dict[str, str]:
    _write_examples(folder)
    ids = {}
    for argv, placeholder in zip(doc_commands()[:2], ("<dataset id>", "<weights id>")):
        assert argv[:3] == ["skyplex", "zkaudit", "commit"]
        code, out, err = run_cli(argv[1:], capfd)
        assert code == 0, err
        ids[placeholder] = json.loads(out)["id"]
    _write_examples(folder, ids)
    return ids


def test_doc_examples_are_found():
    assert set(doc_files()) == {"dataset.json", "weights.json", "member.json", "training.json"}
    assert len(doc_commands()) == 6


def test_quick_start_membership_as_documented(in_data_dir, capfd):
    _commit_examples(in_data_dir, capfd)
    prove, verify = doc_commands()[2:4]
    code, out, err = run_cli(prove[1:], capfd)
    assert code == 0, err
    code, out, err = run_cli(verify[1:], capfd)
    assert code == 0 and out.strip() == "VALID: all checks passed", (out, err)
    # the published claim states the committed fixed-point example
    proof = json.loads((in_data_dir / "member-proof.json").read_text())
    assert all(v * 256 == int(v * 256) for v in proof["claim"]["params"]["x"])


@pytest.mark.slow
def test_quick_start_training_as_documented(in_data_dir, capfd):
    _commit_examples(in_data_dir, capfd)
    prove, verify = doc_commands()[4:6]
    code, out, err = run_cli(prove[1:], capfd)
    assert code == 0, err
    code, out, err = run_cli(verify[1:], capfd)
    assert code == 0 and out.strip() == "VALID: all checks passed", (out, err)
    proof = json.loads((in_data_dir / "training-proof.json").read_text())
    assert set(proof["public_outputs"]) == {"circuit", "circuit_id", "weight_digests", "final_weights"}


# ---- bad input through the CLI ---------------------------------------------------------------------
def _one_line_exit_2(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err


@pytest.mark.parametrize(("artifact", "needles"), [
    ({"kind": "dataset", "data": {"x": [[0.1, float("nan")], [0.2, 0.3]], "labels": [0, 1], "classes": 2, "batch": 2}},
     ["data.x.0.1", "not a finite number"]),
    ({"kind": "dataset", "data": {}}, ["data.x", "required"]),
    ({"kind": "dataset", "data": {"x": [[0.1], [0.2, 0.3]], "labels": [0, 1], "classes": 2, "batch": 1}}, ["data.x.1"]),
    ({"kind": "dataset", "data": {"x": [[0.1]], "labels": [5], "classes": 2, "batch": 1}}, ["data.labels.0"]),
    ({"kind": "dataset", "data": {"x": [[0.1]], "labels": [0], "classes": 2, "batch": 1, "batch_size": 1}},
     ["data.batch_size", "unknown key"]),
    ({"kind": "dataset", "data": {"x": [[500.0]], "labels": [0], "classes": 2, "batch": 1}}, ["data.x.0.0", "out of range"]),
    ({"kind": "weights", "data": {"w": [[0.1, True]]}}, ["data.w.0.1"]),
    ({"kind": "model", "data": {}}, ["kind", "'dataset' or 'weights'"]),
])
def test_bad_artifact_is_one_line_exit_2(in_data_dir, capfd, artifact, needles):
    (in_data_dir / "a.json").write_text(json.dumps(artifact))  # json writes NaN as NaN, as a user's tool may
    code, out, err = run_cli(["zkaudit", "commit", "a.json"], capfd)
    _one_line_exit_2(code, err, "a.json", *needles)


def test_bad_claims_are_one_line_exit_2_before_any_job(in_data_dir, capfd):
    ids = _commit_examples(in_data_dir, capfd)
    ds, w = ids["<dataset id>"], ids["<weights id>"]
    cases = [
        ({"kind": "audit:membership", "commitments": [ds], "params": {"x": [9.0] * 8, "label": 0}},
         ["not in the committed dataset"]),
        ({"kind": "training", "commitments": [ds, w], "params": {"lr": 0.5, "steps": 1, "batch_size": 4}},
         ["params.batch_size", "unknown key"]),
        ({"kind": "training", "commitments": [ds, w], "params": {"lr": 0.3, "steps": 1}}, ["params.lr", "nearest provable is 0.296875"]),
        ({"kind": "training", "commitments": [ds, w], "params": {"lr": 0.5, "steps": 0}}, ["params.steps"]),
        ({"kind": "training", "commitments": [w, ds], "params": {"lr": 0.5, "steps": 1}}, ["commitments.0"]),
        ({"kind": "audit:membership", "commitments": [], "params": {}}, ["commitments"]),
        ({"kind": "audit:censorship", "commitments": [ds], "params": {"label": 9}}, ["params.label"]),
        ({"kind": "allocator"}, ["unknown claim kind"]),
        ({"kind": "training", "commitments": [ds, w], "params": {"lr": 0.5, "steps": 1}, "extra": 1}, ["extra"]),
    ]
    for claim, needles in cases:
        (in_data_dir / "c.json").write_text(json.dumps(claim))
        code, out, err = run_cli(["zkaudit", "prove", "c.json", "--out", "p.json"], capfd)
        _one_line_exit_2(code, err, "c.json", *needles)
        assert not (in_data_dir / "p.json").exists()


@pytest.mark.parametrize("content", ["not json", "{}", '{"id": "p", "claim": {"kind": "training"}, "scheme": "s", "proof_b64": 3}'])
def test_malformed_proof_file_is_one_line_exit_2(in_data_dir, capfd, content):
    (in_data_dir / "p.json").write_text(content)
    code, out, err = run_cli(["zkaudit", "verify", "p.json"], capfd)
    _one_line_exit_2(code, err, "p.json")


def test_every_command_prints_json_when_asked(in_data_dir, capfd):
    ids = _commit_examples(in_data_dir, capfd)
    code, plain, err = run_cli(["zkaudit", "commit", "dataset.json"], capfd)
    assert code == 0, err
    code, out, err = run_cli(["--json", "zkaudit", "commit", "dataset.json"], capfd)
    record = json.loads(out)  # the public record either way; a fresh salt gives a fresh id
    assert code == 0 and record.keys() == json.loads(plain).keys() and record["id"].startswith("ds-"), err
    assert record["id"] not in ids.values()
    code, out, err = run_cli(["zkaudit", "prove", "member.json", "--out", "member-proof.json", "--json"], capfd)
    assert code == 0, err
    proved = json.loads(out)
    assert proved["proof"] == "member-proof.json" and proved["claim"] == "audit:membership" and proved["job_id"]
    code, out, err = run_cli(["zkaudit", "verify", "member-proof.json", "--json"], capfd)
    verdict = json.loads(out)
    assert code == 0 and verdict["valid"] is True and verdict["reason"] == "all checks passed", err
