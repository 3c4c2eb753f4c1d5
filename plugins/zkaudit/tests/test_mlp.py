"""The MLP head: its ezkl step circuit against the compiled C++ witness (fast: witness generation only,
no keys), its weights artifact and record, and one real proven step with the attacks on it (slow)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from skyplex.interfaces import Artifact, Claim
from skyplex_zkaudit.commitments import derived_salt_values
from skyplex_zkaudit.mlp import MlpStepCircuit, mlp_step_onnx, pack, unpack
from skyplex_zkaudit.prover import Prover
from skyplex_zkaudit.witness import compute_trace


@pytest.fixture(scope="module", params=[(8, 8, 4), (6, 3, 4)], ids=["h=8>c", "h=3<c"])
def circuit(request, tmp_path_factory):
    d, h, c = request.param
    spec = MlpStepCircuit(in_dim=d, hidden=h, classes=c, batch=4, lr_q=32)
    prover = Prover(tmp_path_factory.mktemp("mlp"))
    return spec, prover, prover.files(spec, mlp_step_onnx, keys=False, need_srs=False)


def _salt(rows: int, width: int, tag: str) -> np.ndarray:
    return derived_salt_values(b"t" * 32, tag, rows * width).reshape(rows, width)


@pytest.mark.parametrize("case", range(6))
def test_ezkl_mlp_step_matches_the_cpp_witness(circuit, case):
    spec, prover, files = circuit
    d, h, c, b = spec.in_dim, spec.hidden, spec.classes, spec.batch
    rng = np.random.default_rng(case)
    x = rng.integers(-256, 256, (b, d))
    w1 = rng.integers(-160, 160, (d, h))
    if case == 5:  # hidden pre-activations exactly 0 (ReLU's kink): x's first feature only, w1's first row 0
        x[:, 1:] = 0
        w1[0] = 0
    w2 = rng.integers(-160, 160, (h, c))
    labels = rng.integers(0, c, b)
    y = np.eye(c, dtype=np.int64)[labels] << spec.scale
    batch = np.vstack([np.hstack([x, y]), _salt(spec.batch_salt_rows, d + c, f"b{case}")])
    salted = np.vstack([pack(w1, w2), _salt(spec.w_salt_rows, spec.width, f"w{case}")])
    salt_next = _salt(spec.w_salt_rows, spec.width, f"n{case}")
    (out,) = prover.witness(files, spec.scale, [batch, salted, salt_next])
    out = out.reshape(d + h + spec.w_salt_rows, spec.width)
    assert np.array_equal(out[d + h:], salt_next)  # the fresh salt leaves unchanged
    assert not out[:d, h:].any() and not out[d:d + h, c:].any()  # padding stays zero
    proven1, proven2 = unpack(out, d, h, c)
    trace = compute_trace(x[None], y[None], w1, w2, lr_q=spec.lr_q, frac_bits=spec.scale)
    ours1, ours2 = trace["w1_new"][0].reshape(d, h), trace["w2_new"][0].reshape(h, c)
    # ezkl's softmax rounds its own way (as for the softmax head): at most a couple of ULPs, never more
    assert np.abs(proven1 - ours1).max() <= 2 and np.abs(proven2 - ours2).max() <= 2
    if case == 5:
        assert np.array_equal(proven1, ours1)  # dead units get no gradient in both


def test_mlp_weights_artifact_and_record(zk):
    rng = np.random.default_rng(4)
    c = zk.commit(Artifact(kind="weights", data={"w1": rng.uniform(-0.5, 0.5, (8, 6)).round(2).tolist(),
                                                 "w2": rng.uniform(-0.5, 0.5, (6, 4)).round(2).tolist()}))
    rec = zk.record(c.id)
    assert rec["metadata"]["shape"] == [8, 4] and rec["metadata"]["hidden"] == 6
    o = zk.weights_opening(c.id)
    assert o.w.shape == (14, 6) and o.salt.shape[1] == 6
    with pytest.raises(ValueError, match="data.w2"):
        zk.commit(Artifact(kind="weights", data={"w1": [[0.1, 0.2]], "w2": [[0.1, 0.2]]}))
    with pytest.raises(ValueError, match="data.w"):
        zk.commit(Artifact(kind="weights", data={"w": [[0.1, 0.2]], "w2": [[0.1, 0.2]]}))


@pytest.fixture(scope="module")
def mlp_proof(zk, dataset_commitment):
    rng = np.random.default_rng(5)
    w = zk.commit(Artifact(kind="weights", data={"w1": rng.uniform(-0.5, 0.5, (8, 6)).round(2).tolist(),
                                                 "w2": rng.uniform(-0.5, 0.5, (6, 4)).round(2).tolist()}))
    return zk.prove(Claim(kind="training", commitments=[dataset_commitment.id, w.id], params={"lr": 0.5, "steps": 1}))


@pytest.mark.slow
def test_mlp_training_step_is_proven_and_bound(zk, mlp_proof):
    verdict = zk.verify(mlp_proof)
    assert verdict.valid and verdict.details["hidden"] == 6, verdict.reason
    assert max(mlp_proof.metadata["ulp_max"]) <= 2
    assert mlp_proof.public_outputs["circuit"]["hidden"] == 6
    final = zk.record(mlp_proof.public_outputs["final_weights"])
    assert final["metadata"]["hidden"] == 6 and final["metadata"]["shape"] == [8, 4]
    for edit in ({"lr": 0.25, "steps": 1}, {"lr": 0.5, "steps": 2}):
        bad = mlp_proof.model_copy(update={"claim": mlp_proof.claim.model_copy(update={"params": edit})})
        assert not zk.verify(bad).valid
    out = copy.deepcopy(mlp_proof.public_outputs)
    out["circuit"]["hidden"] = 5
    assert "public_outputs.circuit" in zk.verify(mlp_proof.model_copy(update={"public_outputs": out})).reason
    # an accuracy audit of MLP weights is refused up front (the accuracy circuit is softmax regression's)
    with pytest.raises(ValueError, match="MLP head"):
        zk.check(Claim(kind="audit:counterfactual", commitments=[mlp_proof.claim.commitments[0], mlp_proof.public_outputs["final_weights"]]))
