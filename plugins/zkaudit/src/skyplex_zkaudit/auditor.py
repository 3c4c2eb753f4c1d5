"""The ``zkaudit`` auditor: commit to datasets and weights, prove training and audits, verify.

Artifacts (``Artifact.data``):

- ``kind="dataset"``: ``{"x": [[float]], "labels": [int], "classes": int, "batch": int}``;
- ``kind="weights"``: ``{"w": [[float]]}`` (softmax regression, ``[in_dim, classes]``).

Claims: ``training`` (commitments ``[dataset, weights]``, params ``lr``, ``steps``),
``audit:membership`` (``[dataset]``, params ``x``, ``label``), ``audit:censorship`` (``[dataset]``,
params ``label``: the fraction of examples with that label), ``audit:counterfactual``
(``[test dataset, weights]``: the accuracy of the committed weights on a committed test set). Public records live under
``<data dir>/zkaudit/public``, openings (data and salts) under ``<data dir>/zkaudit/private``.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
from skyplex.interfaces import Artifact, Auditor, Claim, Commitment, Proof, Verdict

from . import commitments as cm
from .circuits import AccuracyCircuit, LabelCountCircuit, accuracy_onnx, accuracy_reference, label_count_onnx
from .prover import Prover, instances, sha256_file
from .training import prove_training
from .verify import verify_proof
from .witness import quantize

log = logging.getLogger(__name__)

SCALE = 8  # fixed-point bits of the proven circuits (pinned; see docs/plugins/zkaudit.md)


class ZkAuditor(Auditor):
    """Commitments and ezkl proofs over a data directory; see the module docstring for the formats."""

    name = "zkaudit"

    def __init__(self, data_dir: str | Path | None = None, *, kernel: Any = None, srs_path: str | None = None,
                 logrows: int = 15) -> None:
        if data_dir is None:
            data_dir = Path(kernel.settings.data_dir) if kernel is not None else Path.home() / ".skyplex"
        self.root = Path(data_dir) / "zkaudit"
        self.public = self.root / "public"
        self.private = self.root / "private"
        self.circuits = self.root / "circuits"
        self.srs_path = Path(srs_path) if srs_path else None
        self.logrows = logrows
        self.prover = Prover(self.circuits, self.srs_path)

    # ---- records ----------------------------------------------------------------------------------
    def record(self, cid: str) -> dict | None:
        """The public record of commitment ``cid``, or None."""
        path = self.public / f"{cid}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _publish(self, prefix: str, rec: dict) -> Commitment:
        cid = f"{prefix}-{uuid.uuid4().hex[:12]}"
        rec = {"id": cid, **rec}
        self.public.mkdir(parents=True, exist_ok=True)
        (self.public / f"{cid}.json").write_text(json.dumps(rec, indent=1))
        return Commitment(**rec)

    def _save_dataset(self, cid: str, o: cm.DatasetOpening) -> None:
        self.private.mkdir(parents=True, exist_ok=True)
        np.savez(self.private / f"{cid}.npz", x=o.x, labels=o.labels, salt=np.frombuffer(o.master_salt, np.uint8),
                 meta=np.array([o.batch, o.classes, o.scale]))

    def dataset_opening(self, cid: str) -> cm.DatasetOpening:
        """The prover's private opening of dataset ``cid``."""
        z = np.load(self.private / f"{cid}.npz")
        batch, classes, scale = (int(v) for v in z["meta"])
        return cm.DatasetOpening(z["x"], z["labels"], z["salt"].tobytes(), batch, classes, scale)

    def _save_weights(self, cid: str, o: cm.WeightsOpening) -> None:
        self.private.mkdir(parents=True, exist_ok=True)
        np.savez(self.private / f"{cid}.npz", w=o.w, salt=o.salt, scale=np.array([o.scale]))

    def weights_opening(self, cid: str) -> cm.WeightsOpening:
        z = np.load(self.private / f"{cid}.npz")
        return cm.WeightsOpening(z["w"], z["salt"], int(z["scale"][0]))

    # ---- Auditor ----------------------------------------------------------------------------------
    def commit(self, artifact: Artifact) -> Commitment:
        """Commit to a dataset or weight tensor; the record is public, the opening kept privately."""
        data = artifact.data or {}
        if artifact.kind == "dataset":
            o = cm.new_dataset_opening(quantize(np.asarray(data["x"], dtype=np.float64), SCALE),
                                       np.asarray(data["labels"]), batch=int(data.get("batch", 8)),
                                       classes=int(data["classes"]), scale=SCALE)
            c = self._publish("ds", cm.commit_dataset(o))
            self._save_dataset(c.id, o)
            return c
        if artifact.kind == "weights":
            w = quantize(np.asarray(data["w"], dtype=np.float64), SCALE)
            o = cm.WeightsOpening(w, cm.new_salt(w.shape[1]), SCALE)
            c = self._publish("w", cm.commit_weights(o))
            self._save_weights(c.id, o)
            return c
        raise ValueError(f"zkaudit commits to 'dataset' or 'weights' artifacts, not {artifact.kind!r}")

    def prove(self, claim: Claim, progress: Callable[[float, str], None] | None = None) -> Proof:
        """Prove a claim (see the module docstring); training proofs can take minutes: use a job."""
        if claim.kind == "training":
            return self._prove_training(claim, progress)
        if claim.kind == "audit:membership":
            return self._prove_membership(claim)
        if claim.kind == "audit:censorship":
            return self._prove_censorship(claim, progress)
        if claim.kind == "audit:counterfactual":
            return self._prove_counterfactual(claim, progress)
        raise ValueError(f"unknown claim kind {claim.kind!r}; zkaudit proves training, audit:membership, "
                         "audit:censorship, audit:counterfactual")

    def verify(self, proof: Proof) -> Verdict:
        """Verify with public artefacts only (records, settings, vk, SRS)."""
        return verify_proof(proof, self.record, self.circuits, self.srs_path)

    # ---- claims -----------------------------------------------------------------------------------
    def _prove_training(self, claim: Claim, progress) -> Proof:
        ds_id, w_id = claim.commitments[:2]
        run = prove_training(self.prover, self.dataset_opening(ds_id), self.weights_opening(w_id),
                             lr=float(claim.params.get("lr", 0.5)), steps=int(claim.params.get("steps", 1)),
                             logrows=self.logrows, progress=progress)
        final = self._publish("w", cm.commit_weights(run.final))
        self._save_weights(final.id, run.final)
        bundle = json.dumps({"steps": run.step_proofs}).encode()
        return Proof(id=f"pf-{uuid.uuid4().hex[:12]}", claim=claim, scheme="ezkl-halo2-kzg/sgd-chain",
                     public_outputs={"circuit": run.circuit.as_dict(), "weight_digests": run.weight_digests,
                                     "final_weights": final.id, "ulp_max": run.ulp_max,
                                     "vk_sha256": sha256_file(self.circuits / run.circuit.key() / "vk")},
                     proof_b64=base64.b64encode(bundle).decode())

    def _prove_membership(self, claim: Claim) -> Proof:
        ds_id = claim.commitments[0]
        o = self.dataset_opening(ds_id)
        x = quantize(np.asarray(claim.params["x"], dtype=np.float64), o.scale)
        label = int(claim.params["label"])
        hits = np.flatnonzero((o.x == x).all(axis=1) & (o.labels == label))
        if hits.size == 0:
            raise ValueError("the example is not in the committed dataset, so no membership proof exists")
        i = int(hits[0])
        payload = {"index": i, "salt": cm.leaf_salt(o.master_salt, i).hex(),
                   "path": cm.merkle_path(cm.merkle_levels(o.leaves()), i)}
        return Proof(id=f"pf-{uuid.uuid4().hex[:12]}", claim=claim, scheme="sha256-merkle-salted",
                     public_outputs={"member": True}, proof_b64=base64.b64encode(json.dumps(payload).encode()).decode())

    def _prove_censorship(self, claim: Claim, progress) -> Proof:
        ds_id = claim.commitments[0]
        o = self.dataset_opening(ds_id)
        label = int(claim.params["label"])
        spec = LabelCountCircuit(o.x.shape[1], o.classes, o.batch, o.num_batches, label, o.scale,
                                 int(claim.params.get("logrows", 14)))
        files = self.prover.files(spec, label_count_onnx, progress=progress)
        proof, (count,) = self.prover.prove(files, spec.scale, [o.batch_tensor(k) for k in range(o.num_batches)])
        n = int(count.ravel()[0]) >> spec.scale
        expected = int((o.labels[: o.num_batches * o.batch] == label).sum())
        if n != expected:
            raise RuntimeError(f"proven count {n} differs from the dataset's {expected}; ezkl settings are wrong")
        return Proof(id=f"pf-{uuid.uuid4().hex[:12]}", claim=claim, scheme="ezkl-halo2-kzg/label-count",
                     public_outputs={"circuit": spec.as_dict(), "count": n, "fraction": n / len(o.labels),
                                     "vk_sha256": sha256_file(files.vk)},
                     proof_b64=base64.b64encode(json.dumps({"proof": proof}).encode()).decode())

    def _prove_counterfactual(self, claim: Claim, progress) -> Proof:
        if len(claim.commitments) < 2:
            raise ValueError("an audit:counterfactual claim names the test-dataset and weights commitments, in that order")
        ds_id, w_id = claim.commitments[:2]
        o = self.dataset_opening(ds_id)
        w = self.weights_opening(w_id)
        if w.w.shape != (o.x.shape[1], o.classes):
            raise ValueError(f"weights of shape {tuple(w.w.shape)} do not fit the test set ({o.x.shape[1]} features, "
                             f"{o.classes} classes)")
        if w.scale != o.scale:
            raise ValueError(f"weights at scale 2^{w.scale} and test set at 2^{o.scale} cannot share one circuit")
        spec = AccuracyCircuit(o.x.shape[1], o.classes, o.batch, o.num_batches, o.scale,
                               int(claim.params.get("logrows", self.logrows)))
        files = self.prover.files(spec, accuracy_onnx, progress=progress)
        if progress:
            progress(0.5, f"proving accuracy over {o.num_batches} batches")
        inputs = [o.batch_tensor(k) for k in range(o.num_batches)] + [w.salted()]
        proof, (count,) = self.prover.prove(files, spec.scale, inputs)
        n = int(count.ravel()[0]) >> spec.scale
        used = o.num_batches * o.batch
        expected = int(accuracy_reference(o.x[:used], o.labels[:used], w.w, spec.scale).sum())
        if n != expected:
            raise RuntimeError(f"proven correct count {n} differs from our reference {expected}; ezkl settings are wrong")
        if progress:
            progress(1.0, f"{n} of {used} test examples correct")
        return Proof(id=f"pf-{uuid.uuid4().hex[:12]}", claim=claim, scheme="ezkl-halo2-kzg/accuracy",
                     public_outputs={"circuit": spec.as_dict(), "correct": n, "examples": used, "accuracy": n / used,
                                     "vk_sha256": sha256_file(files.vk)},
                     proof_b64=base64.b64encode(json.dumps({"proof": proof}).encode()).decode())
