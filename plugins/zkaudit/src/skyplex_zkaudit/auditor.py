"""The ``zkaudit`` auditor: commit to datasets and weights, prove training and audits, verify.

Artifacts (``Artifact.data``, checked strictly by :mod:`.formats`; unknown keys are errors):

- ``kind="dataset"``: ``{"x": [[float]], "labels": [int], "classes": int, "batch": int}``;
- ``kind="weights"``: ``{"w": [[float]]}`` (softmax regression, ``[in_dim, classes]``) or
  ``{"w1": [[float]], "w2": [[float]]}`` (one-hidden-layer ReLU MLP head, ``[in_dim, hidden]``,
  ``[hidden, classes]``).

Claims: ``training`` (commitments ``[dataset, weights]``, params ``lr``, ``steps``),
``audit:membership`` (``[dataset]``, params ``x``, ``label``), ``audit:censorship`` (``[dataset]``,
params ``label``: the fraction of examples with that label), ``audit:counterfactual``
(``[test dataset, weights]``: the accuracy of the committed weights on a committed test set). Public
records (ids are content hashes) live under ``<data dir>/zkaudit/public``, openings (data and salts)
under ``<data dir>/zkaudit/private``. Formats and what the verifier checks: docs/plugins/zkaudit.md.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
from skyplex.errors import InvalidInputError
from skyplex.interfaces import Artifact, Auditor, Claim, Commitment, Proof, Verdict

from . import commitments as cm
from . import formats as fm
from .circuits import (AccuracyCircuit, LabelCountCircuit, MembershipCircuit, accuracy_onnx, accuracy_reference,
                       label_count_onnx, membership_onnx)
from .keys import circuit_id
from .mlp import pack
from .prover import Prover, compact
from .training import prove_training
from .verify import verify_proof
from .witness import quantize

log = logging.getLogger(__name__)

SCALE = fm.SCALE  # fixed-point bits of the proven circuits (pinned; see docs/plugins/zkaudit.md)



class ZkAuditor(Auditor):
    """Commitments and ezkl proofs over a data directory; see the module docstring for the formats."""

    name = "zkaudit"

    def __init__(self, data_dir: str | Path | None = None, *, kernel: Any = None, srs_path: str | None = None) -> None:
        if data_dir is None:
            data_dir = Path(kernel.settings.data_dir) if kernel is not None else Path.home() / ".skyplex"
        self.root = Path(data_dir) / "zkaudit"
        self.public = self.root / "public"
        self.private = self.root / "private"
        self.circuits = self.root / "circuits"
        self.srs_path = Path(srs_path) if srs_path else None
        self.prover = Prover(self.circuits, self.srs_path)

    # ---- records ----------------------------------------------------------------------------------
    def record(self, cid: str) -> dict | None:
        """The public record of commitment ``cid``, or None."""
        if not fm.is_commitment_id(cid):  # never a path: only ids as commit spells them name a file
            return None
        path = self.public / f"{cid}.json"
        return fm.loads_strict(path.read_text(), f"record {cid}") if path.exists() else None

    def _publish(self, rec: dict) -> Commitment:
        cid = fm.record_id(rec["kind"], rec)
        rec = {"id": cid, **rec}
        self.public.mkdir(parents=True, exist_ok=True)
        tmp = self.public / f".{cid}.tmp"
        tmp.write_text(json.dumps(rec, indent=1))
        tmp.replace(self.public / f"{cid}.json")
        return Commitment(**rec)

    def _save_dataset(self, cid: str, o: cm.DatasetOpening) -> None:
        self.private.mkdir(parents=True, exist_ok=True)
        np.savez(self.private / f"{cid}.npz", x=o.x, labels=o.labels, salt=np.frombuffer(o.master_salt, np.uint8),
                 meta=np.array([o.batch, o.classes, o.scale]))

    def _opening_path(self, cid: str, i: int) -> Path:
        path = self.private / f"{cid}.npz"
        if not path.exists():
            raise InvalidInputError(f"commitments.{i}: {cid} has no opening in this data dir ({self.private}); only "
                                    "the party that committed can prove claims about it", field=f"commitments.{i}")
        return path

    def dataset_opening(self, cid: str, i: int = 0) -> cm.DatasetOpening:
        """The prover's private opening of dataset ``cid``."""
        z = np.load(self._opening_path(cid, i))
        batch, classes, scale = (int(v) for v in z["meta"])
        return cm.DatasetOpening(z["x"], z["labels"], z["salt"].tobytes(), batch, classes, scale)

    def _save_weights(self, cid: str, o: cm.WeightsOpening) -> None:
        self.private.mkdir(parents=True, exist_ok=True)
        np.savez(self.private / f"{cid}.npz", w=o.w, salt=o.salt, scale=np.array([o.scale]),
                 head=np.array([o.hidden, o.classes]))

    def weights_opening(self, cid: str, i: int = 1) -> cm.WeightsOpening:
        z = np.load(self._opening_path(cid, i))
        hidden, classes = (int(v) for v in z["head"])
        return cm.WeightsOpening(z["w"], z["salt"], int(z["scale"][0]), hidden, classes)

    # ---- Auditor ----------------------------------------------------------------------------------
    def commit(self, artifact: Artifact) -> Commitment:
        """Commit to a dataset or weight tensor; the record is public, the opening kept privately.
        A malformed artifact raises ``InvalidInputError`` naming the field (``data.x.3.1``)."""
        a = fm.parse_artifact(artifact)
        if isinstance(a, fm.DatasetArtifact):
            o = cm.new_dataset_opening(quantize(np.asarray(a.x, dtype=np.float64), SCALE), np.asarray(a.labels),
                                       batch=a.batch, classes=a.classes, scale=SCALE)
            c = self._publish(cm.commit_dataset(o))
            self._save_dataset(c.id, o)
            return c
        w = quantize(np.asarray(a.w, dtype=np.float64), SCALE)
        if a.w2 is None:
            o = cm.WeightsOpening(w, cm.new_salt(w.shape[1]), SCALE)
        else:
            w2 = quantize(np.asarray(a.w2, dtype=np.float64), SCALE)
            packed = pack(w, w2)
            o = cm.WeightsOpening(packed, cm.new_salt(packed.shape[1]), SCALE, hidden=w.shape[1], classes=w2.shape[1])
        c = self._publish(cm.commit_weights(o))
        self._save_weights(c.id, o)
        return c

    def check(self, claim: Claim) -> None:
        """Everything about a claim that can be known before proving: its format, that its commitments
        exist here with their openings and fit together, and (membership) that the example is there.
        Raises ``InvalidInputError`` naming the field; the CLI and routes call it before queuing a job."""
        fm.check_claim(claim)
        for i, (cid, kind) in enumerate(zip(claim.commitments, fm.CLAIM_COMMITMENTS[claim.kind])):
            rec = self.record(cid)
            if rec is None:
                raise InvalidInputError(f"commitments.{i}: unknown commitment {cid!r} (commit it first with "
                                        "'skyplex zkaudit commit')", field=f"commitments.{i}")
            try:
                fm.check_record(rec, cid, kind)
            except fm.FormatError as exc:
                raise InvalidInputError(f"commitments.{i}: {exc.message} (a {claim.kind} claim names the "
                                        f"{' and '.join(fm.CLAIM_COMMITMENTS[claim.kind])}, in that order)",
                                        field=f"commitments.{i}") from None
            self._opening_path(cid, i)
        ds = self.record(claim.commitments[0])["metadata"]
        if claim.kind in ("training", "audit:counterfactual"):
            shape = self.record(claim.commitments[1])["metadata"]["shape"]
            if shape != [ds["in_dim"], ds["classes"]]:
                raise InvalidInputError(f"commitments.1: weights of shape {shape} do not fit the dataset "
                                        f"({ds['in_dim']} features, {ds['classes']} classes)", field="commitments.1")
        if claim.kind == "training":
            fm.lr_q(claim.params["lr"], ds["batch"], ds["scale"])
        if claim.kind == "audit:counterfactual" and self.record(claim.commitments[1])["metadata"]["hidden"]:
            raise InvalidInputError("commitments.1: accuracy audits are proven for softmax-regression weights; these "
                                    "are an MLP head", field="commitments.1")
        if claim.kind in ("audit:membership", "audit:censorship") and claim.params["label"] >= ds["classes"]:
            raise InvalidInputError(f"params.label: the dataset has {ds['classes']} classes (labels 0..{ds['classes'] - 1})",
                                    field="params.label")
        if claim.kind == "audit:membership":
            if len(claim.params["x"]) != ds["in_dim"]:
                raise InvalidInputError(f"params.x: the dataset's examples have {ds['in_dim']} features, "
                                        f"got {len(claim.params['x'])}", field="params.x")
            if self._member_index(claim) is None:
                raise InvalidInputError("params: the example is not in the committed dataset, so no membership "
                                        "proof exists", field="params")

    def prove(self, claim: Claim, progress: Callable[[float, str], None] | None = None) -> Proof:
        """Prove a claim (see the module docstring); training proofs can take minutes: use a job."""
        self.check(claim)
        prove = {"training": self._prove_training, "audit:membership": self._prove_membership,
                 "audit:censorship": self._prove_censorship, "audit:counterfactual": self._prove_counterfactual}
        return prove[claim.kind](claim, progress)

    def verify(self, proof: Proof) -> Verdict:
        """Verify with public artefacts only (records, key store, SRS)."""
        return verify_proof(proof, self.record, self.circuits, self.srs_path)

    # ---- claims -----------------------------------------------------------------------------------
    @staticmethod
    def _proof(claim: Claim, outputs: dict, bundle: dict, metadata: dict | None = None) -> Proof:
        return Proof(id=f"pf-{uuid.uuid4().hex[:12]}", claim=claim, scheme=fm.SCHEMES[claim.kind], public_outputs=outputs,
                     proof_b64=base64.b64encode(json.dumps(bundle).encode()).decode(), metadata=metadata or {})

    def _prove_training(self, claim: Claim, progress) -> Proof:
        ds_id, w_id = claim.commitments
        run = prove_training(self.prover, self.dataset_opening(ds_id), self.weights_opening(w_id),
                             lr=float(claim.params["lr"]), steps=claim.params["steps"],
                             logrows=fm.LOGROWS["training"], progress=progress)  # training:mlp has the same
        final = self._publish(cm.commit_weights(run.final))
        self._save_weights(final.id, run.final)
        outputs = {"circuit": run.circuit.as_dict(), "circuit_id": circuit_id(self.circuits / run.circuit.key()),
                   "weight_digests": run.weight_digests, "final_weights": final.id}
        return self._proof(claim, outputs, {"steps": [compact(p) for p in run.step_proofs]},
                           {"ulp_max": run.ulp_max})

    def _member_index(self, claim: Claim) -> int | None:
        o = self.dataset_opening(claim.commitments[0])
        return o.find(quantize(np.asarray(claim.params["x"], dtype=np.float64), o.scale), claim.params["label"])

    def _prove_membership(self, claim: Claim, progress=None) -> Proof:
        o = self.dataset_opening(claim.commitments[0])
        k = self._member_index(claim) // o.batch
        # the published claim states the committed fixed-point example, not the caller's spelling of it
        claim = claim.model_copy(update={"params": {**claim.params, "x": fm.fixed_point(claim.params["x"])}})
        spec = MembershipCircuit(o.x.shape[1], o.classes, o.batch, o.scale, fm.LOGROWS["audit:membership"])
        files = self.prover.files(spec, membership_onnx, progress=progress)
        example = cm.example_row(quantize(np.asarray(claim.params["x"], dtype=np.float64), o.scale),
                                 claim.params["label"], o.classes, o.scale)
        proof, (distance,) = self.prover.prove(files, spec.scale, [o.batch_tensor(k), example])
        if int(distance.ravel()[0]) != 0:
            raise RuntimeError(f"the membership circuit found distance {int(distance.ravel()[0])} for a member; ezkl settings are wrong")
        outputs = {"circuit": spec.as_dict(), "circuit_id": circuit_id(files.dir), "batch": k, "member": True}
        return self._proof(claim, outputs, {"proof": compact(proof)})

    def _prove_censorship(self, claim: Claim, progress) -> Proof:
        o = self.dataset_opening(claim.commitments[0])
        label = claim.params["label"]
        spec = LabelCountCircuit(o.x.shape[1], o.classes, o.batch, o.num_batches, label, o.scale,
                                 fm.LOGROWS["audit:censorship"])
        files = self.prover.files(spec, label_count_onnx, progress=progress)
        proof, (count,) = self.prover.prove(files, spec.scale, [o.batch_tensor(k) for k in range(o.num_batches)])
        n = int(count.ravel()[0]) >> spec.scale
        expected = int((o.labels[: o.num_batches * o.batch] == label).sum())
        if n != expected:
            raise RuntimeError(f"proven count {n} differs from the dataset's {expected}; ezkl settings are wrong")
        outputs = {"circuit": spec.as_dict(), "circuit_id": circuit_id(files.dir), "count": n,
                   "fraction": n / len(o.labels)}
        return self._proof(claim, outputs, {"proof": compact(proof)})

    def _prove_counterfactual(self, claim: Claim, progress) -> Proof:
        ds_id, w_id = claim.commitments
        o = self.dataset_opening(ds_id)
        w = self.weights_opening(w_id)
        spec = AccuracyCircuit(o.x.shape[1], o.classes, o.batch, o.num_batches, o.scale,
                               fm.LOGROWS["audit:counterfactual"])
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
        outputs = {"circuit": spec.as_dict(), "circuit_id": circuit_id(files.dir), "correct": n, "examples": used,
                   "accuracy": n / used}
        return self._proof(claim, outputs, {"proof": compact(proof)})
