"""The verification path: needs only public artefacts (proof, commitment records, settings, vk, SRS).

Kept small and separate from proving so an auditor can run it without the data, the weights or the
proving keys. Every rejection says which check failed.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Callable

import numpy as np
from skyplex.interfaces import Proof, Verdict

from .circuits import AccuracyCircuit, LabelCountCircuit, StepCircuit
from .commitments import leaf_hash, merkle_root_from_path
from .prover import Prover, instances, sha256_file

Records = Callable[[str], "dict | None"]


class _Reject(Exception):
    pass


def _record(records: Records, cid: str, kind: str) -> dict:
    rec = records(cid)
    if rec is None:
        raise _Reject(f"unknown commitment {cid!r}: the verifier needs its public record")
    if rec.get("kind") != kind:
        raise _Reject(f"commitment {cid!r} is a {rec.get('kind')} commitment, expected {kind}")
    return rec


def _payload(proof: Proof) -> dict:
    try:
        return json.loads(base64.b64decode(proof.proof_b64, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _Reject(f"proof bytes are not a valid zkaudit proof bundle ({exc.__class__.__name__})") from exc


def _ezkl_check(proof: dict, spec, public_root: Path, srs_path: Path | None, expected_vk: str | None, what: str) -> None:
    d = public_root / spec.key()
    settings, vk = d / "settings.json", d / "vk"
    if not (settings.exists() and vk.exists()):
        raise _Reject(f"no verifying key for circuit {spec.key()} under {public_root}; obtain the public settings.json and vk")
    if expected_vk and sha256_file(vk) != expected_vk:
        raise _Reject(f"{what}: the proof was made with a different verifying key than {vk}")
    srs = Path(srs_path) if srs_path else public_root / "srs" / f"kzg{spec.logrows}.srs"
    if not srs.exists():
        raise _Reject(f"SRS file {srs} not found; pass the SRS the prover used")
    if not Prover.verify(proof, settings, vk, srs):
        raise _Reject(f"{what}: the ezkl proof does not verify (tampered proof or public inputs)")


def verify_proof(proof: Proof, records: Records, public_root: Path, srs_path: Path | None = None) -> Verdict:
    """Check a zkaudit proof of any kind; never raises for a bad proof."""
    try:
        kind = proof.claim.kind
        if kind == "training":
            details = _verify_training(proof, records, public_root, srs_path)
        elif kind == "audit:membership":
            details = _verify_membership(proof, records)
        elif kind == "audit:censorship":
            details = _verify_censorship(proof, records, public_root, srs_path)
        elif kind == "audit:counterfactual":
            details = _verify_counterfactual(proof, records, public_root, srs_path)
        else:
            raise _Reject(f"unknown claim kind {kind!r}; zkaudit verifies training, audit:membership, "
                          "audit:censorship, audit:counterfactual")
        return Verdict(valid=True, reason="all checks passed", details=details)
    except _Reject as exc:
        return Verdict(valid=False, reason=str(exc))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return Verdict(valid=False, reason=f"malformed proof: {exc.__class__.__name__}: {exc}")


def _verify_training(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    if len(proof.claim.commitments) < 2:
        raise _Reject("a training claim names the dataset and initial-weights commitments")
    dataset = _record(records, proof.claim.commitments[0], "dataset")
    w0 = _record(records, proof.claim.commitments[1], "weights")
    out = proof.public_outputs
    spec = StepCircuit(**out["circuit"])
    steps = _payload(proof)["steps"]
    chain, batches = out["weight_digests"], dataset["metadata"]["batch_digests"]
    if len(chain) != len(steps) + 1:
        raise _Reject(f"{len(steps)} step proofs need {len(steps) + 1} weight digests, got {len(chain)}")
    if chain[0] != w0["digest"]:
        raise _Reject("the first proven weights are not the committed initial weights")
    final_id = out.get("final_weights")
    if final_id is not None and _record(records, final_id, "weights")["digest"] != chain[-1]:
        raise _Reject("the last proven weights are not the published final-weights commitment")
    for k, step in enumerate(steps):
        inst = instances(step)
        if len(inst) != 4:
            raise _Reject(f"step {k}: expected 4 public hashes, got {len(inst)}")
        if inst[0] != batches[k % len(batches)]:
            raise _Reject(f"step {k}: the proven batch is not batch {k % len(batches)} of the committed dataset "
                          "(dataset changed after commitment?)")
        if inst[1] != chain[k] or inst[3] != chain[k + 1]:
            raise _Reject(f"step {k}: its weight hashes do not continue the chain (a proof of another step, or swapped outputs)")
        _ezkl_check(step, spec, root, srs, out.get("vk_sha256"), f"step {k}")
    return {"steps": len(steps), "final_weights_digest": chain[-1], "ulp_max": out.get("ulp_max")}


def _verify_membership(proof: Proof, records: Records) -> dict:
    dataset = _record(records, proof.claim.commitments[0], "dataset")
    p = _payload(proof)
    scale = dataset["metadata"]["scale"]
    x = np.floor(np.asarray(proof.claim.params["x"], dtype=np.float64) * (1 << scale) + 0.5).astype(np.int64)
    leaf = leaf_hash(bytes.fromhex(p["salt"]), int(p["index"]), x, int(proof.claim.params["label"]))
    if merkle_root_from_path(leaf, p["path"]).hex() != dataset["digest"]:
        raise _Reject("the example, its salt and the Merkle path do not lead to the committed root "
                      "(not a member, wrong salt, or dataset changed after commitment)")
    return {"member": True, "index": int(p["index"])}


def _verify_censorship(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    import ezkl

    dataset = _record(records, proof.claim.commitments[0], "dataset")
    out = proof.public_outputs
    spec = LabelCountCircuit(**out["circuit"])
    step = _payload(proof)["proof"]
    inst = instances(step)
    batches = dataset["metadata"]["batch_digests"]
    if inst[: len(batches)] != batches or spec.batches != len(batches):
        raise _Reject("the counted batches are not the committed dataset's batches (dataset changed after commitment?)")
    if inst[len(batches):] != [ezkl.float_to_felt(float(out["count"]), spec.scale)]:
        raise _Reject("the published count is not the count the proof attests (swapped public outputs)")
    if spec.label != proof.claim.params.get("label"):
        raise _Reject("the proof counts a different label than the claim's predicate")
    _ezkl_check(step, spec, root, srs, out.get("vk_sha256"), "censorship count")
    return {"count": out["count"], "fraction": out["count"] / dataset["metadata"]["examples"]}


def _verify_counterfactual(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    """Public instances are the test batches' hashes, the weights' hash, then the correct count."""
    import ezkl

    if len(proof.claim.commitments) < 2:
        raise _Reject("an audit:counterfactual claim names the test-dataset and weights commitments")
    dataset = _record(records, proof.claim.commitments[0], "dataset")
    weights = _record(records, proof.claim.commitments[1], "weights")
    out = proof.public_outputs
    spec = AccuracyCircuit(**out["circuit"])
    step = _payload(proof)["proof"]
    inst = instances(step)
    batches = dataset["metadata"]["batch_digests"]
    n = len(batches)
    if spec.batches != n or inst[:n] != batches:
        raise _Reject("the evaluated batches are not the committed test set's batches (dataset changed after commitment?)")
    if inst[n:n + 1] != [weights["digest"]]:
        raise _Reject("the evaluated weights are not the committed weights")
    examples = n * spec.batch
    if out["examples"] != examples or inst[n + 1:] != [ezkl.float_to_felt(float(out["correct"]), spec.scale)]:
        raise _Reject("the published correct count is not the count the proof attests (swapped public outputs)")
    if "accuracy" in out and out["accuracy"] != out["correct"] / examples:
        raise _Reject("the published accuracy is not correct / examples")
    _ezkl_check(step, spec, root, srs, out.get("vk_sha256"), "counterfactual accuracy")
    return {"correct": out["correct"], "examples": examples, "accuracy": out["correct"] / examples}
