"""Commitments, membership proofs (a small ezkl circuit, keys cached per session) and the attacks on them."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from skyplex.interfaces import Artifact, Claim
from skyplex_zkaudit import commitments as cm
from skyplex_zkaudit.prover import ProverError, check_memory, estimated_prover_bytes


def _member_claim(commitment, data, i=2):
    return Claim(kind="audit:membership", commitments=[commitment.id], params={"x": data["x"][i], "label": data["labels"][i]})


def test_dataset_record_is_public_json_with_batch_digests(zk, dataset_commitment, dataset_data):
    rec = zk.record(dataset_commitment.id)
    assert rec["digest"] == dataset_commitment.digest and len(rec["digest"]) == 64
    assert len(rec["metadata"]["batch_digests"]) == 2
    assert "x" not in json.dumps(rec["metadata"]).replace("examples", "")  # no data in the public record


def test_same_data_commits_to_different_digests(zk, dataset_data):
    a = zk.commit(Artifact(kind="dataset", data=dataset_data))
    b = zk.commit(Artifact(kind="dataset", data=dataset_data))
    assert a.digest != b.digest  # salted: equal data is not recognisable from its commitment


def test_membership_proof_verifies(zk, membership_proof):
    verdict = zk.verify(membership_proof)
    assert verdict.valid, verdict.reason


def test_non_member_has_no_proof(zk, dataset_commitment, dataset_data):
    claim = Claim(kind="audit:membership", commitments=[dataset_commitment.id],
                  params={"x": [9.0] * 8, "label": 0})
    with pytest.raises(ValueError, match="not in the committed dataset"):
        zk.prove(claim)


def test_membership_is_bound_to_the_committed_batches(zk, dataset_commitment, dataset_data):
    """One view of the data: the membership proof searched a batch whose Poseidon hash is one of the
    batch digests that training and the other audits bind to."""
    proof = zk.prove(_member_claim(dataset_commitment, dataset_data, i=6))
    verdict = zk.verify(proof)
    assert verdict.valid and verdict.details["batch"] == 1 == proof.public_outputs["batch"], verdict.reason
    payload = json.loads(base64.b64decode(proof.proof_b64))
    inst = payload["proof"]["instances"]
    assert inst[0] == zk.record(dataset_commitment.id)["metadata"]["batch_digests"][1]
    for i, why in ((0, "not one of the committed dataset's batches"), (1, "another example"), (2, "distance is not 0")):
        bad = json.loads(json.dumps(payload))
        bad["proof"]["instances"][i] = inst[(i + 1) % 3]
        verdict = zk.verify(proof.model_copy(update={"proof_b64": base64.b64encode(json.dumps(bad).encode()).decode()}))
        assert not verdict.valid and why in verdict.reason, verdict.reason


def test_changed_example_is_rejected(zk, membership_proof):
    proof = membership_proof
    x = list(proof.claim.params["x"])
    x[0] += 0.25  # still a fixed-point value, so the check that fails is the proof's, not the format's
    bad = proof.model_copy(update={"claim": proof.claim.model_copy(update={"params": {**proof.claim.params, "x": x}})})
    verdict = zk.verify(bad)
    assert not verdict.valid and "another example" in verdict.reason
    bad = proof.model_copy(update={"claim": proof.claim.model_copy(update={"params": {**proof.claim.params, "label": 3 - proof.claim.params["label"]}})})
    assert not zk.verify(bad).valid


def test_dataset_changed_after_commitment_is_rejected(zk, dataset_data, session_data_dir):
    c = zk.commit(Artifact(kind="dataset", data=dataset_data))
    opening = zk.dataset_opening(c.id)
    opening.x[2, 0] += 7  # the provider edits the data after publishing the commitment
    zk._save_dataset(c.id, opening)
    proof = zk.prove(_member_claim(c, {"x": [list(opening.x[2] / 256.0)], "labels": [dataset_data["labels"][2]]}, 0))
    verdict = zk.verify(proof)
    assert not verdict.valid and "dataset changed" in verdict.reason


def test_unknown_commitment_and_malformed_bytes_are_rejected(zk, membership_proof):
    proof = membership_proof
    other = proof.model_copy(update={"claim": proof.claim.model_copy(update={"commitments": ["ds-" + "0" * 32]})})
    assert "unknown commitment" in zk.verify(other).reason
    assert "not a valid" in zk.verify(proof.model_copy(update={"proof_b64": "!!!"})).reason


def test_weights_commitment_record(zk, weights_commitment):
    rec = zk.record(weights_commitment.id)
    assert rec["metadata"]["shape"] == [8, 4] and rec["scheme"] == "poseidon-salted"


def test_dataset_must_split_into_batches(zk):
    with pytest.raises(ValueError, match="batches of 4"):
        zk.commit(Artifact(kind="dataset", data={"x": [[0.0]] * 6, "labels": [0] * 6, "classes": 2, "batch": 4}))


def test_too_large_shape_is_refused_up_front_with_the_estimate():
    assert estimated_prover_bytes(18) > 11 * 2**30
    with pytest.raises(ProverError, match=r"needs about .* GiB"):
        check_memory(18, available=8 * 2**30)
    check_memory(15, available=8 * 2**30)


def test_salt_values_are_deterministic_per_label_and_in_range():
    a = cm.derived_salt_values(b"k" * 32, "batch|0", 40)
    assert np.array_equal(a, cm.derived_salt_values(b"k" * 32, "batch|0", 40))
    assert not np.array_equal(a, cm.derived_salt_values(b"k" * 32, "batch|1", 40))
    assert a.min() >= -(1 << 14) and a.max() < (1 << 14)
