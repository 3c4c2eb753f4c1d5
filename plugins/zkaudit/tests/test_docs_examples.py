"""docs/plugins/zkaudit.md run as written: its example files and ``skyplex zkaudit`` commands through
the real CLI, and its error ``curl`` lines through the real gateway (status and ``error.param``).

Also the bad inputs a new user hits, each through the documented surface: one line naming the
field, CLI exit 2 (never a traceback), HTTP 400 (never a 500).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "zkaudit.md"
KEY = "k"


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


def doc_curls() -> list[tuple[str, str, int, str]]:
    """(path, body, status, param) of every ``curl`` in the Errors section with its ``# ->`` line."""
    text = doc_text()
    errors = text[text.index("## Errors"): text.index("## Threat model")]
    out = []
    for curl, status, param in re.findall(r"^(curl [^\n]+)\n# -> (\d{3}) (\S+)$", errors, re.M):
        args = shlex.split(curl)
        path = next(a for a in args if a.startswith("$URL")).removeprefix("$URL")
        out.append((path, args[args.index("-d") + 1], int(status), param))
    return out


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
    assert len(doc_curls()) >= 6


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


# ---- bad input through the gateway, as curled in the docs ------------------------------------------
@pytest.fixture(scope="module")
def client(session_data_dir):
    from fastapi.testclient import TestClient
    from skyplex import Kernel, Settings, make_plugin_manager
    from skyplex.gateway import create_app

    pm = make_plugin_manager(entrypoints=True, allowlist={"zkaudit"})
    kernel = Kernel(settings=Settings(data_dir=session_data_dir), pm=pm, strict=True)
    with TestClient(create_app(kernel, api_key=KEY), raise_server_exceptions=False) as c:
        c.headers.update({"Authorization": f"Bearer {KEY}"})
        yield c
    kernel.close()


@pytest.mark.parametrize(("path", "body", "status", "param"), doc_curls())
def test_documented_error_curls(client, path, body, status, param):
    r = client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})  # as curl -d sends it
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param, r.text
    assert param in r.json()["error"]["message"]


def test_no_500_for_bad_claims_and_artifacts_on_the_generic_routes(client, dataset_commitment):
    ds = dataset_commitment.id
    claims = [{"kind": "allocator"}, {"kind": "audit:membership"}, {"kind": "audit:membership", "commitments": [ds]},
              {"kind": "audit:membership", "commitments": [ds], "params": {"x": "abc", "label": 0}},
              {"kind": "audit:membership", "commitments": [ds], "params": {"x": [0.0] * 8, "label": 0}},
              {"kind": "audit:censorship", "commitments": ["../../etc/passwd"], "params": {"label": 0}},
              {"kind": "audit:counterfactual", "commitments": [ds, ds]},
              {"kind": "training", "commitments": [ds, "w-" + "0" * 32], "params": {"lr": 0.5, "steps": 1}}]
    for claim in claims:
        for path in ("/v1/auditors/zkaudit/prove", "/plugins/zkaudit/prove"):
            r = client.post(path, json=claim)
            assert r.status_code == 400, (path, claim, r.text)
            assert r.json()["error"]["param"], r.text
    for data in ({}, {"x": []}, {"x": [[1]], "labels": [0], "classes": 1}, {"x": [[1, 2]], "labels": "0", "classes": 2}):
        r = client.post("/v1/auditors/zkaudit/commit", json={"kind": "dataset", "data": data})
        assert r.status_code == 400 and r.json()["error"]["param"].startswith("data"), r.text
