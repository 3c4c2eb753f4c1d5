"""The verification path: needs only public artefacts (proof, commitment records, key store, SRS).

Nothing a proof says is taken on trust. The verifier derives everything from the claim and the
public records (content-addressed, so a claim's ids pin them): the circuit's shape, scale, rows and
learning-rate multiplier; the circuit by content in its own key store; and then it recomputes every
public output from the proofs' public instances and requires the published ``public_outputs`` to be
exactly that. A training claim verifies only for an unbroken chain of exactly ``steps`` step proofs
from the committed initial weights to the published final weights, batch k being batch ``k mod n``
of the committed dataset. Checks run cheapest first; every rejection says which check failed.

Not read by the verifier (documented as not security-relevant): ``Proof.id`` (a name) and
``Proof.metadata`` (the prover's diagnostics, e.g. ``ulp_max``).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Callable

import numpy as np
from skyplex.interfaces import Proof, Verdict

from . import formats as fm
from .circuits import (AccuracyCircuit, LabelCountCircuit, MembershipCircuit, StepCircuit, accuracy_onnx, label_count_onnx,
                       membership_onnx, sgd_step_onnx)
from .keys import KeyStoreError, resolve
from .mlp import MlpStepCircuit, mlp_step_onnx
from .prover import Prover, expand
from .witness import quantize

Records = Callable[[str], "dict | None"]


class _Reject(Exception):
    pass


def _record(records: Records, cid: str, kind: str) -> dict:
    rec = records(cid)
    if rec is None:
        raise _Reject(f"unknown commitment {cid!r}: the verifier needs its public record")
    return fm.check_record(rec, cid, kind)


def _bundle(proof: Proof, keys: tuple[str, ...]) -> dict:
    try:
        raw = base64.b64decode(proof.proof_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Reject(f"proof bytes are not a valid zkaudit proof bundle ({exc.__class__.__name__})") from exc
    if base64.b64encode(raw).decode() != proof.proof_b64:  # one spelling per bundle: no excess padding
        raise _Reject("proof_b64: not canonical base64 (excess padding or bits): re-encode the bundle")
    try:
        payload = fm.loads_strict(raw.decode("utf-8"), "bundle")  # duplicated keys are a rejection
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, fm.FormatError):
            raise
        raise _Reject(f"proof bytes are not a valid zkaudit proof bundle ({exc.__class__.__name__})") from exc
    return fm.exact_keys(payload, "bundle", keys)


def _step(step: object, where: str, n_instances: int) -> dict:
    step = fm.exact_keys(step, where, ("instances", "proof"))
    inst = step["instances"]
    if not isinstance(inst, list) or len(inst) != n_instances:
        raise _Reject(f"{where}.instances: expected {n_instances} public instances, got "
                      f"{len(inst) if isinstance(inst, list) else type(inst).__name__}")
    for i, v in enumerate(inst):
        fm.hex64(v, f"{where}.instances.{i}")
    fm.hexbytes(step["proof"], f"{where}.proof")
    return step


def _outputs(proof: Proof, expected: dict) -> None:
    """The published outputs must be exactly what the verifier recomputed (no missing, extra or edited key)."""
    got = proof.public_outputs
    for key in sorted(got.keys() | expected.keys()):
        if key not in expected:
            raise _Reject(f"public_outputs.{key}: unknown key (the verifier derives {', '.join(sorted(expected))})")
        if key not in got:
            raise _Reject(f"public_outputs.{key}: missing")
        if fm.canonical_json(got[key]) != fm.canonical_json(expected[key]):  # as JSON text: 8 and 8.0 differ
            raise _Reject(f"public_outputs.{key}: {json.dumps(got[key])[:80]} is not what the proofs and records "
                          f"give ({json.dumps(expected[key])[:80]})")


def _circuit(spec, build, keys_root: Path, named_id: object) -> Path:
    fm.hex64(named_id, "public_outputs.circuit_id")
    try:
        return resolve(spec, build, keys_root, named_id).dir
    except KeyStoreError as exc:
        raise _Reject(str(exc)) from None


def _ezkl_check(step: dict, spec, directory: Path, keys_root: Path, srs_path: Path | None, what: str) -> None:
    srs = Path(srs_path) if srs_path else Path(keys_root) / "srs" / f"kzg{spec.logrows}.srs"
    if not srs.exists():
        raise _Reject(f"SRS file {srs} not found; pass the SRS the prover used")
    if not Prover.verify(expand(step), directory / "settings.json", directory / "vk", srs):
        raise _Reject(f"{what}: the ezkl proof does not verify (tampered proof or public inputs)")


def verify_proof(proof: Proof, records: Records, public_root: Path, srs_path: Path | None = None) -> Verdict:
    """Check a zkaudit proof of any kind; never raises for a bad proof."""
    try:
        fm.check_claim(proof.claim, published=True)
        kind = proof.claim.kind
        if proof.scheme != fm.SCHEMES[kind]:
            raise _Reject(f"scheme: a {kind} proof has scheme {fm.SCHEMES[kind]!r}, not {proof.scheme!r}")
        check = {"training": _verify_training, "audit:membership": _verify_membership,
                 "audit:censorship": _verify_censorship, "audit:counterfactual": _verify_counterfactual}[kind]
        details = check(proof, records, Path(public_root), srs_path)
        return Verdict(valid=True, reason="all checks passed", details=details)
    except (_Reject, fm.FormatError) as exc:
        return Verdict(valid=False, reason=str(exc))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        return Verdict(valid=False, reason=f"malformed proof: {exc.__class__.__name__}: {exc}")


def _verify_training(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    claim = proof.claim
    dataset = _record(records, claim.commitments[0], "dataset")
    w0 = _record(records, claim.commitments[1], "weights")
    m = dataset["metadata"]
    if w0["metadata"]["shape"] != [m["in_dim"], m["classes"]]:
        raise _Reject(f"the initial weights have shape {w0['metadata']['shape']}, the dataset needs "
                      f"[{m['in_dim']}, {m['classes']}]")
    q = fm.lr_q(claim.params["lr"], m["batch"], m["scale"])
    hidden = w0["metadata"]["hidden"]
    if hidden:
        spec, build = MlpStepCircuit(m["in_dim"], hidden, m["classes"], m["batch"], q, m["scale"],
                                     fm.LOGROWS["training:mlp"]), mlp_step_onnx
    else:
        spec, build = StepCircuit(m["in_dim"], m["classes"], m["batch"], q, m["scale"], fm.LOGROWS["training"]), sgd_step_onnx
    steps = _bundle(proof, ("steps",))["steps"]
    if not isinstance(steps, list):
        raise _Reject("bundle.steps: expected a list of step proofs")
    if len(steps) != claim.params["steps"]:
        raise _Reject(f"the claim states {claim.params['steps']} steps but the bundle proves {len(steps)}")
    batches = m["batch_digests"]
    chain = [w0["digest"]]
    for k, step in enumerate(steps):
        inst = _step(step, f"bundle.steps.{k}", 4)["instances"]
        if inst[0] != batches[k % len(batches)]:
            raise _Reject(f"step {k}: the proven batch is not batch {k % len(batches)} of the committed dataset "
                          "(dataset changed after commitment, or steps reordered?)")
        if inst[1] != chain[-1]:
            raise _Reject(f"step {k}: its input weights are not "
                          + ("the committed initial weights" if k == 0 else f"step {k - 1}'s output: the chain is broken"))
        chain.append(inst[3])
    final_id = proof.public_outputs.get("final_weights")
    if not fm.is_commitment_id(final_id) or not final_id.startswith("w-"):  # checked before any lookup by it
        raise _Reject("public_outputs.final_weights: the id (w-<32 hex>) of the published final-weights "
                      "commitment is required")
    final = _record(records, final_id, "weights")
    if final["digest"] != chain[-1]:
        raise _Reject("the last proven weights are not the published final-weights commitment")
    if (final["metadata"]["shape"], final["metadata"]["hidden"]) != (w0["metadata"]["shape"], hidden):
        raise _Reject("the final-weights commitment has another shape than the initial weights")
    cid = proof.public_outputs.get("circuit_id")
    _outputs(proof, {"circuit": spec.as_dict(), "circuit_id": cid, "weight_digests": chain, "final_weights": final_id})
    directory = _circuit(spec, build, root, cid)
    for k, step in enumerate(steps):
        _ezkl_check(step, spec, directory, root, srs, f"step {k}")
    return {"steps": len(steps), "lr": claim.params["lr"], "hidden": hidden, "final_weights": final_id,
            "final_weights_digest": chain[-1]}


def _verify_membership(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    """Instances: the hash of one committed batch, the hash of the claimed example, their distance (0)."""
    from .commitments import example_row, poseidon_digest

    dataset = _record(records, proof.claim.commitments[0], "dataset")
    m = dataset["metadata"]
    x, label = proof.claim.params["x"], proof.claim.params["label"]
    if len(x) != m["in_dim"] or label >= m["classes"]:
        raise _Reject(f"params: the example must have {m['in_dim']} features and a label below {m['classes']}")
    spec = MembershipCircuit(m["in_dim"], m["classes"], m["batch"], m["scale"], fm.LOGROWS["audit:membership"])
    step = _step(_bundle(proof, ("proof",))["proof"], "bundle.proof", 3)
    inst = step["instances"]
    if inst[0] not in m["batch_digests"]:
        raise _Reject("the searched batch is not one of the committed dataset's batches (dataset changed after commitment?)")
    q = quantize(np.asarray(x, dtype=np.float64), m["scale"])  # the very rounding the prover committed with
    if inst[1] != poseidon_digest(example_row(q, label, m["classes"], m["scale"]), m["scale"]):
        raise _Reject("the proof searched for another example than the claimed one")
    if inst[2] != _count_instance(0, spec.scale):
        raise _Reject("the proven distance is not 0: the example is not in that batch")
    k = m["batch_digests"].index(inst[0])
    cid = proof.public_outputs.get("circuit_id")
    _outputs(proof, {"circuit": spec.as_dict(), "circuit_id": cid, "batch": k, "member": True})
    _ezkl_check(step, spec, _circuit(spec, membership_onnx, root, cid), root, srs, "membership")
    return {"member": True, "batch": k}


def _count_instance(value: int, scale: int) -> str:
    import ezkl

    return ezkl.float_to_felt(float(value), scale)


def _verify_censorship(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    dataset = _record(records, proof.claim.commitments[0], "dataset")
    m = dataset["metadata"]
    label = proof.claim.params["label"]
    if label >= m["classes"]:
        raise _Reject(f"params.label: the dataset has {m['classes']} classes")
    batches = m["batch_digests"]
    n = len(batches)
    spec = LabelCountCircuit(m["in_dim"], m["classes"], m["batch"], n, label, m["scale"], fm.LOGROWS["audit:censorship"])
    step = _step(_bundle(proof, ("proof",))["proof"], "bundle.proof", n + 1)
    inst = step["instances"]
    if inst[:n] != batches:
        raise _Reject("the counted batches are not the committed dataset's batches (dataset changed after commitment?)")
    count = proof.public_outputs.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= m["examples"] \
            or inst[n] != _count_instance(count, spec.scale):
        raise _Reject("public_outputs.count: not the count the proof attests (swapped public outputs)")
    cid = proof.public_outputs.get("circuit_id")
    _outputs(proof, {"circuit": spec.as_dict(), "circuit_id": cid, "count": count, "fraction": count / m["examples"]})
    _ezkl_check(step, spec, _circuit(spec, label_count_onnx, root, cid), root, srs, "censorship count")
    return {"count": count, "fraction": count / m["examples"]}


def _verify_counterfactual(proof: Proof, records: Records, root: Path, srs: Path | None) -> dict:
    """Public instances are the test batches' hashes, the weights' hash, then the correct count."""
    dataset = _record(records, proof.claim.commitments[0], "dataset")
    weights = _record(records, proof.claim.commitments[1], "weights")
    m = dataset["metadata"]
    if weights["metadata"]["shape"] != [m["in_dim"], m["classes"]] or weights["metadata"]["hidden"]:
        raise _Reject(f"the weights have shape {weights['metadata']['shape']} (hidden {weights['metadata']['hidden']}), "
                      f"the test set needs softmax-regression weights [{m['in_dim']}, {m['classes']}]")
    batches = m["batch_digests"]
    n = len(batches)
    spec = AccuracyCircuit(m["in_dim"], m["classes"], m["batch"], n, m["scale"], fm.LOGROWS["audit:counterfactual"])
    step = _step(_bundle(proof, ("proof",))["proof"], "bundle.proof", n + 2)
    inst = step["instances"]
    if inst[:n] != batches:
        raise _Reject("the evaluated batches are not the committed test set's batches (dataset changed after commitment?)")
    if inst[n] != weights["digest"]:
        raise _Reject("the evaluated weights are not the committed weights")
    correct = proof.public_outputs.get("correct")
    if isinstance(correct, bool) or not isinstance(correct, int) or not 0 <= correct <= m["examples"] \
            or inst[n + 1] != _count_instance(correct, spec.scale):
        raise _Reject("public_outputs.correct: not the count the proof attests (swapped public outputs)")
    cid = proof.public_outputs.get("circuit_id")
    examples = m["examples"]
    _outputs(proof, {"circuit": spec.as_dict(), "circuit_id": cid, "correct": correct, "examples": examples,
                     "accuracy": correct / examples})
    _ezkl_check(step, spec, _circuit(spec, accuracy_onnx, root, cid), root, srs, "counterfactual accuracy")
    return {"correct": correct, "examples": examples, "accuracy": correct / examples}
