"""The counterfactual audit (accuracy of committed weights on a committed test set).

Witness level (fast, no keys): ezkl's witness of the accuracy circuit against our reference, including
rounding ties. One real proof of the smallest shape (slow), its verification and the attacks on it.
"""

from __future__ import annotations

import numpy as np
import pytest
from skyplex.interfaces import Artifact, Claim
from skyplex_zkaudit.circuits import AccuracyCircuit, accuracy_onnx, accuracy_reference
from skyplex_zkaudit.prover import Prover


# ---- the reference ---------------------------------------------------------------------------------
def test_reference_counts_strict_wins_after_rounding():
    x = np.array([[256, 1]] * 3)
    labels = np.zeros(3, dtype=int)
    # logits at scale 16: true 768 (3.0); the rival rounds to 2 (639), to 3 (640: a tie, so wrong)
    assert accuracy_reference(x[:1], labels[:1], np.array([[3, 3], [0, -129]]), 8).tolist() == [1]
    assert accuracy_reference(x[:1], labels[:1], np.array([[3, 3], [0, -128]]), 8).tolist() == [0]
    # negative halves round away from zero: -2.5 -> -3, below the true -2
    assert accuracy_reference(x[:1], labels[:1], np.array([[-2, 0], [0, -640]]), 8).tolist() == [1]
    assert accuracy_reference(x[:1], labels[:1], np.array([[-2, 0], [0, -639]]), 8).tolist() == [0]


def test_reference_agrees_with_argmax_away_from_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(-256, 256, (64, 8))
    w = rng.integers(-128, 128, (8, 4))
    labels = rng.integers(0, 4, 64)
    z = x @ w
    assert np.array_equal(accuracy_reference(x, labels, w, 8), (z.argmax(1) == labels).astype(int))


# ---- ezkl's witness of the circuit -----------------------------------------------------------------
@pytest.fixture(scope="module")
def small_circuit(tmp_path_factory):
    spec = AccuracyCircuit(in_dim=3, classes=3, batch=4, batches=2)
    prover = Prover(tmp_path_factory.mktemp("acc-circuits"))
    return spec, prover, prover.files(spec, accuracy_onnx, keys=False)


def _inputs(spec, x, labels, w, rng):
    """The circuit's inputs in the committed layout: salted batches, then salted weights."""
    y = np.eye(spec.classes, dtype=np.int64)[labels] << spec.scale
    batches = []
    for k in range(spec.batches):
        rows = slice(k * spec.batch, (k + 1) * spec.batch)
        salt = rng.integers(-2**14, 2**14, (spec.batch_salt_rows, spec.in_dim + spec.classes))
        batches.append(np.vstack([np.hstack([x[rows], y[rows]]), salt]))
    return batches + [np.vstack([w, rng.integers(-2**14, 2**14, (spec.w_salt_rows, spec.classes))])]


def test_circuit_output_is_public_at_the_input_scale(small_circuit):
    import json

    spec, _, files = small_circuit
    settings = json.loads(files.settings.read_text())
    assert settings["run_args"]["output_visibility"] == "Public"
    assert settings["model_output_scales"] == [spec.scale]


@pytest.mark.parametrize("case", ["random", "ties"])
def test_ezkl_witness_matches_the_reference(small_circuit, case):
    spec, prover, files = small_circuit
    rng = np.random.default_rng(7)
    n = spec.batch * spec.batches
    if case == "random":
        x = rng.integers(-256, 256, (n, spec.in_dim))
        w = rng.integers(-128, 128, (spec.in_dim, spec.classes))
        labels = rng.integers(0, spec.classes, n)
    else:
        # the rival logit just before, at and past a rounding half-point, for positive (true 3.0 vs
        # 2.5+-) and negative logits (true -2.0 vs -2.5+-, where ezkl rounds half away from zero)
        x = np.array([[256, 0, s] for s in (127, 128, 129)] + [[0, 256, s] for s in (127, 128, 129)]
                     + [[256, 0, -128], [256, 0, -127]])
        w = np.array([[3, 3, -9], [-2, -2, -9], [0, -1, 0]])
        labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    (out,) = prover.witness(files, spec.scale, _inputs(spec, x, labels, w, rng))
    ours = accuracy_reference(x, labels, w, spec.scale)
    assert int(out.ravel()[0]) >> spec.scale == int(ours.sum())
    if case == "ties":
        assert ours.tolist() == [0, 0, 1, 0, 1, 1, 1, 0]


# ---- one real proof (slow) -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def accuracy_proof(zk, dataset_commitment, weights_commitment):
    claim = Claim(kind="audit:counterfactual", commitments=[dataset_commitment.id, weights_commitment.id])
    return zk.prove(claim)


@pytest.mark.slow
def test_accuracy_proof_verifies_and_matches_the_reference(zk, accuracy_proof, dataset_commitment, weights_commitment):
    verdict = zk.verify(accuracy_proof)
    assert verdict.valid, verdict.reason
    o, w = zk.dataset_opening(dataset_commitment.id), zk.weights_opening(weights_commitment.id)
    assert accuracy_proof.public_outputs["correct"] == int(accuracy_reference(o.x, o.labels, w.w, o.scale).sum())
    assert verdict.details["examples"] == len(o.labels)


@pytest.mark.slow
def test_accuracy_proof_attacks_are_rejected(zk, accuracy_proof, dataset_data):
    out = accuracy_proof.public_outputs
    wrong = (out["correct"] + 1) % (out["examples"] + 1)
    bad = accuracy_proof.model_copy(update={"public_outputs": {**out, "correct": wrong, "accuracy": wrong / out["examples"]}})
    assert "swapped public outputs" in zk.verify(bad).reason
    bad = accuracy_proof.model_copy(update={"public_outputs": {**out, "accuracy": 1.0 if out["accuracy"] != 1.0 else 0.0}})
    assert "public_outputs.accuracy" in zk.verify(bad).reason
    other_w = zk.commit(Artifact(kind="weights", data={"w": np.zeros((8, 4)).tolist()}))
    claim = accuracy_proof.claim.model_copy(update={"commitments": [accuracy_proof.claim.commitments[0], other_w.id]})
    assert "not the committed weights" in zk.verify(accuracy_proof.model_copy(update={"claim": claim})).reason
    other_ds = zk.commit(Artifact(kind="dataset", data=dataset_data))  # same data, fresh salts
    claim = accuracy_proof.claim.model_copy(update={"commitments": [other_ds.id, accuracy_proof.claim.commitments[1]]})
    assert "test set" in zk.verify(accuracy_proof.model_copy(update={"claim": claim})).reason


def test_counterfactual_claim_needs_both_commitments(zk, dataset_commitment):
    with pytest.raises(ValueError, match="dataset and weights ids"):
        zk.prove(Claim(kind="audit:counterfactual", commitments=[dataset_commitment.id]))
    bad = zk.commit(Artifact(kind="weights", data={"w": np.zeros((3, 4)).tolist()}))
    with pytest.raises(ValueError, match="do not fit the dataset"):
        zk.prove(Claim(kind="audit:counterfactual", commitments=[dataset_commitment.id, bad.id]))
