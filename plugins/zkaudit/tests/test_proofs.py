"""Real ezkl proofs (slow): one training step, one censorship count, and the attacks on them.

Keys are cached in the session data dir, so each circuit's setup runs once per session; the training
proof itself is a session fixture (conftest) shared with the gateway tests.
"""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from skyplex.interfaces import Artifact, Claim

pytestmark = pytest.mark.slow


def test_training_proof_verifies_and_matches_our_witness(zk, training_proof):
    verdict = zk.verify(training_proof)
    assert verdict.valid, verdict.reason
    assert max(training_proof.metadata["ulp_max"]) <= 2  # ezkl's softmax rounding vs ours
    final = zk.record(training_proof.public_outputs["final_weights"])
    assert final["digest"] == training_proof.public_outputs["weight_digests"][-1]


def test_tampered_proof_bytes_are_rejected(zk, training_proof):
    bundle = json.loads(base64.b64decode(training_proof.proof_b64))
    hexp = bundle["steps"][0]["proof"]
    bundle["steps"][0]["proof"] = hexp[:100] + ("0" if hexp[100] != "0" else "1") + hexp[101:]
    bad = training_proof.model_copy(update={"proof_b64": base64.b64encode(json.dumps(bundle).encode()).decode()})
    verdict = zk.verify(bad)
    assert not verdict.valid and "does not verify" in verdict.reason


def test_swapped_public_outputs_are_rejected(zk, training_proof):
    chain = list(reversed(training_proof.public_outputs["weight_digests"]))
    bad = training_proof.model_copy(update={"public_outputs": {**training_proof.public_outputs, "weight_digests": chain}})
    assert not zk.verify(bad).valid


def test_step_proof_with_next_steps_commitment_is_rejected(zk, training_proof):
    # present the step-0 proof as if it started from the weights it produced (step 1's commitment)
    final_id = training_proof.public_outputs["final_weights"]
    claim = training_proof.claim.model_copy(update={"commitments": [training_proof.claim.commitments[0], final_id]})
    verdict = zk.verify(training_proof.model_copy(update={"claim": claim}))
    assert not verdict.valid and "initial weights" in verdict.reason
    chain = training_proof.public_outputs["weight_digests"]
    shifted = {**training_proof.public_outputs, "weight_digests": [chain[1]] + chain[1:]}
    claim2 = training_proof.claim.model_copy(update={"commitments": [training_proof.claim.commitments[0], final_id]})
    verdict = zk.verify(training_proof.model_copy(update={"claim": claim2, "public_outputs": shifted}))
    assert not verdict.valid and "initial weights" in verdict.reason


def test_proof_against_a_changed_dataset_is_rejected(zk, training_proof, dataset_data):
    changed = dict(dataset_data, x=[[v + 0.25 for v in row] for row in dataset_data["x"]])
    other = zk.commit(Artifact(kind="dataset", data=changed))
    claim = training_proof.claim.model_copy(update={"commitments": [other.id, training_proof.claim.commitments[1]]})
    verdict = zk.verify(training_proof.model_copy(update={"claim": claim}))
    assert not verdict.valid and "dataset" in verdict.reason


def test_cli_verify_uses_public_artefacts_only(zk, training_proof, tmp_path, session_data_dir, monkeypatch):
    from skyplex_zkaudit.cli import zkaudit

    path = tmp_path / "proof.json"
    path.write_text(training_proof.model_dump_json())
    monkeypatch.setenv("SKYPLEX_DATA_DIR", str(session_data_dir))
    args = ["verify", str(path), "--records", str(zk.public), "--keys", str(zk.circuits)]
    res = CliRunner().invoke(zkaudit, args, obj=None)
    assert res.exit_code == 0, res.output
    assert "VALID" in res.output


def test_censorship_count_is_proven(zk, censorship_proof, dataset_data):
    label = dataset_data["labels"][0]
    proof = censorship_proof
    assert proof.public_outputs["count"] == dataset_data["labels"].count(label)
    assert zk.verify(proof).valid
    bad = proof.model_copy(update={"public_outputs": {**proof.public_outputs, "count": 0 if proof.public_outputs["count"] else 1}})
    assert "swapped public outputs" in zk.verify(bad).reason
