"""Mutation harness: every field of real proofs, mutated alone and in combinations, must be rejected
with a reason, except the fields documented as not read by the verifier (``id``, ``metadata``), which
must not change the verdict.

The proofs are the session's real ones (a two-step training proof and a censorship count of the
smallest shape, keys cached), so each mutant costs at most one ezkl verification.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from skyplex.interfaces import Proof
from skyplex_zkaudit import formats as fm
from skyplex_zkaudit.verify import verify_proof

slow = pytest.mark.slow

#: top-level fields of a proof document that the verifier does not read (docs: "Proofs")
IGNORED = ("id", "metadata")


# ---- the proof as one JSON document, bundle decoded ------------------------------------------------
def to_doc(proof: Proof) -> dict:
    doc = proof.model_dump(mode="json")
    doc["bundle"] = json.loads(base64.b64decode(doc.pop("proof_b64")))
    return doc


def from_doc(doc: dict) -> Proof:
    doc = copy.deepcopy(doc)
    bundle = doc.pop("bundle", None)
    doc["proof_b64"] = base64.b64encode(json.dumps(bundle).encode()).decode()
    return Proof.model_validate(doc)


def _other(v):
    """A different value of the same kind (and some of other kinds), for one leaf."""
    if isinstance(v, bool):
        return [not v, 1 if v else 0]
    if isinstance(v, int):
        return [v + 1, v - 1, float(v), str(v)]
    if isinstance(v, float):
        return [v * 2, v + 2 ** -20, int(v) if v != int(v) else v + 1]
    if isinstance(v, str):
        if v and all(c in "0123456789abcdef" for c in v):
            mid = len(v) // 2
            return [v[:mid] + ("0" if v[mid] != "0" else "1") + v[mid + 1:], v[:-2], v.upper() if v != v.upper() else v + "0"]
        return [v + "x", v[:-1], ""]
    if v is None:
        return [0, ""]
    return []


def mutants(node, path=()) -> Iterator[tuple[tuple, str, object]]:
    """(location, what, replacement) for every leaf value and every dict/list under ``node``: the
    node at ``location`` is replaced by ``replacement``."""
    if isinstance(node, dict):
        for k in node:
            yield path, f"drop {k}", {kk: vv for kk, vv in node.items() if kk != k}
        yield path, "add key zz", {**node, "zz": 1}
        for k, v in node.items():
            yield from mutants(v, path + (k,))
    elif isinstance(node, list):
        if node:
            yield path, "drop last", node[:-1]
            yield path, "drop first", node[1:]
            yield path, "duplicate last", node + node[-1:]
        if len(node) > 1 and node[0] != node[-1]:
            yield path, "reverse", node[::-1]
        for i, v in enumerate(node):
            yield from mutants(v, path + (i,))
    else:
        for other in _other(node):
            yield path, f"= {other!r}", other


def apply(doc, location: tuple, replacement):
    """``doc`` with the node at ``location`` replaced."""
    if not location:
        return copy.deepcopy(replacement)
    out = copy.deepcopy(doc)
    node = out
    for p in location[:-1]:
        node = node[p]
    node[location[-1]] = replacement
    return out


def all_mutants(doc) -> Iterator[tuple[str, object]]:
    for location, what, replacement in mutants(doc):
        yield "/".join(map(str, location)) + f": {what}", apply(doc, location, replacement)


def _same(a, b) -> bool:
    """Equal as JSON text (so 2 and 2.0, a real mutation, differ)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _verdict(zk, doc: dict, records=None, keys=None):
    """(valid, reason) of a proof document; a document the Proof model refuses is rejected by it."""
    try:
        proof = from_doc(doc)
    except ValidationError as exc:
        return False, f"invalid proof JSON: {exc.errors()[0]['msg']}"
    lookup = zk.record if records is None else (lambda cid: records[cid] if cid in records else zk.record(cid))
    v = verify_proof(proof, lookup, keys or zk.circuits, zk.srs_path)
    return v.valid, v.reason


def _run_harness(zk, proof: Proof) -> int:
    doc = to_doc(proof)
    assert _verdict(zk, doc)[0], "the unmutated proof must verify"
    accepted, n = [], 0
    for location, what, replacement in mutants(doc):
        mutant = apply(doc, location, replacement)
        if _same(mutant, doc):
            continue
        n += 1
        label = "/".join(map(str, location)) + f": {what}"
        valid, reason = _verdict(zk, mutant)
        if (location[:1] and location[0] in IGNORED) or (not location and what == "drop metadata"):
            assert valid, f"{label}: a field the verifier does not read changed the verdict: {reason}"
            continue
        assert reason, label
        if valid:
            accepted.append(label)
    assert not accepted, f"accepted mutants: {accepted}"
    return n


def test_every_field_of_a_membership_proof_is_bound(zk, membership_proof):
    assert _run_harness(zk, membership_proof) > 30


@slow
def test_every_field_of_a_training_proof_is_bound(zk, training_proof):
    assert training_proof.claim.params["steps"] == 2
    n = _run_harness(zk, training_proof)
    assert n > 100  # the harness really walked the document


@slow
def test_every_field_of_a_censorship_proof_is_bound(zk, censorship_proof):
    assert _run_harness(zk, censorship_proof) > 40


# ---- combinations ----------------------------------------------------------------------------------
def _weights_record(digest: str, shape=(8, 4)) -> dict:
    rec = {"kind": "weights", "scheme": "poseidon-salted", "digest": digest,
           "metadata": {"shape": list(shape), "hidden": 0, "scale": 8, "sha256_salted": "00" * 32}}
    return {"id": fm.record_id("weights", rec), **rec}


@slow
def test_dropping_the_last_step_is_rejected_whatever_else_is_edited(zk, training_proof):
    doc = to_doc(training_proof)
    chain = doc["public_outputs"]["weight_digests"]
    mid = _weights_record(chain[1])  # the provider can publish a record of its intermediate weights
    records = {mid["id"]: mid}
    cut = copy.deepcopy(doc)
    cut["bundle"]["steps"] = cut["bundle"]["steps"][:1]
    assert "claim states 2 steps but the bundle proves 1" in _verdict(zk, cut)[1]
    cut["public_outputs"].update(weight_digests=chain[:2], final_weights=mid["id"])
    assert "claim states 2 steps" in _verdict(zk, cut, records)[1]
    # only the claim of what was proven, one step, verifies: the shorter chain is a true claim
    cut["claim"]["params"]["steps"] = 1
    assert _verdict(zk, cut, records) == (True, "all checks passed")
    # and it cannot be passed off as ending at the two-step weights
    cut["public_outputs"]["final_weights"] = doc["public_outputs"]["final_weights"]
    assert "not the published final-weights" in _verdict(zk, cut, records)[1]


@slow
@pytest.mark.parametrize("lr", [0.25, 1.0, 0.5 + 2 ** -20, 0.515625])
def test_editing_the_learning_rate_is_rejected(zk, training_proof, lr):
    doc = to_doc(training_proof)
    doc["claim"]["params"]["lr"] = lr
    valid, reason = _verdict(zk, doc)
    assert not valid and reason


@slow
@pytest.mark.parametrize("steps", [1, 3, 4])
def test_editing_the_number_of_steps_is_rejected(zk, training_proof, steps):
    doc = to_doc(training_proof)
    doc["claim"]["params"]["steps"] = steps
    assert "claim states" in _verdict(zk, doc)[1]


@slow
@pytest.mark.parametrize("order", [(0, 0), (1, 1), (1, 0), (0, 1, 0), (0, 1, 1)])
def test_duplicated_and_reordered_steps_are_rejected(zk, training_proof, order):
    doc = to_doc(training_proof)
    steps = doc["bundle"]["steps"]
    doc["bundle"]["steps"] = [steps[i] for i in order]
    doc["claim"]["params"]["steps"] = len(order)
    chain = doc["public_outputs"]["weight_digests"]
    doc["public_outputs"]["weight_digests"] = [chain[0]] + [chain[i + 1] for i in order]
    valid, reason = _verdict(zk, doc)
    assert not valid and ("chain" in reason or "initial weights" in reason or "batch" in reason), reason


@slow
def test_parts_swapped_between_proofs_are_rejected(zk, training_proof, censorship_proof):
    a, b = to_doc(training_proof), to_doc(censorship_proof)
    for part in ("claim", "scheme", "public_outputs", "bundle"):
        for x, y in ((a, b), (b, a)):
            swapped = {**x, part: copy.deepcopy(y[part])}
            valid, reason = _verdict(zk, swapped)
            assert not valid and reason, part
    # a censorship ezkl proof put in place of a training step
    mixed = copy.deepcopy(a)
    mixed["bundle"]["steps"][1] = b["bundle"]["proof"]
    assert not _verdict(zk, mixed)[0]


@slow
def test_claim_commitments_swapped_or_replaced_are_rejected(zk, training_proof, dataset_data):
    from skyplex.interfaces import Artifact

    doc = to_doc(training_proof)
    ds, w = doc["claim"]["commitments"]
    for commitments in ([w, ds], [ds, ds], [ds, doc["public_outputs"]["final_weights"]],
                        [zk.commit(Artifact(kind="dataset", data=dataset_data)).id, w]):
        edited = copy.deepcopy(doc)
        edited["claim"]["commitments"] = commitments
        valid, reason = _verdict(zk, edited)
        assert not valid and reason, commitments


@slow
def test_every_field_of_the_records_is_bound(zk, training_proof):
    """A record edited under its id, or re-published under a new id that the claim then names."""
    doc = to_doc(training_proof)
    ids = {"dataset": doc["claim"]["commitments"][0], "weights": doc["claim"]["commitments"][1],
           "final": doc["public_outputs"]["final_weights"]}
    for role, cid in ids.items():
        rec = zk.record(cid)
        for label, mutant in all_mutants(rec):
            if _same(mutant, rec):
                continue
            assert not _verdict(zk, doc, {cid: mutant})[0], f"{role} record {label} kept its id"
            if not isinstance(mutant, dict) or "kind" not in mutant or mutant.get("kind") not in fm.ID_PREFIX:
                continue
            new_id = fm.record_id(mutant["kind"], mutant)
            if new_id == cid:
                continue  # only the id itself was mutated: re-publishing gives back the original record
            republished = {**mutant, "id": new_id}
            edited = copy.deepcopy(doc)
            if role == "final":
                edited["public_outputs"]["final_weights"] = new_id
            else:
                edited["claim"]["commitments"][0 if role == "dataset" else 1] = new_id
            valid, reason = _verdict(zk, edited, {new_id: republished})
            if label.startswith("metadata/sha256_salted: =") and role != "dataset":
                # documented: the verifier checks its format only (it is for holders of the opening)
                assert valid or "hex" in reason, label
                continue
            assert not valid, f"{role} record {label} re-published under a new id was accepted"


# ---- keys by content -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def key_store(zk, training_proof, tmp_path_factory) -> Path:
    """A copy of the public part of the key store (no proving keys) that tests may tamper with."""
    dest = tmp_path_factory.mktemp("keys")
    for d in zk.circuits.iterdir():
        if d.is_dir() and (d / "vk").exists():
            (dest / d.name).mkdir()
            for name in ("settings.json", "model.compiled", "vk"):
                shutil.copy2(d / name, dest / d.name / name)
    shutil.copytree(zk.circuits / "srs", dest / "srs")
    return dest


def _sgd_dir(key_store: Path, proof: Proof) -> Path:
    from skyplex_zkaudit.circuits import StepCircuit

    return key_store / StepCircuit(**proof.public_outputs["circuit"]).key()


@slow
def test_public_key_store_without_proving_keys_suffices(zk, training_proof, key_store):
    assert _verdict(zk, to_doc(training_proof), keys=key_store) == (True, "all checks passed")


@slow
def test_tampered_key_store_is_rejected_even_when_the_proof_names_its_hash(zk, training_proof, key_store, tmp_path):
    from skyplex_zkaudit.keys import circuit_id

    doc = to_doc(training_proof)
    circuit = _sgd_dir(key_store, training_proof)
    backup = tmp_path / "backup"
    shutil.copytree(circuit, backup)
    settings = json.loads((circuit / "settings.json").read_text())
    vk = (circuit / "vk").read_bytes()
    other_vk = next(d / "vk" for d in key_store.iterdir() if d.is_dir() and d.name.startswith("count-"))
    edits = {
        "scale 7": lambda: (circuit / "settings.json").write_text(json.dumps(
            {**settings, "run_args": {**settings["run_args"], "input_scale": 7, "param_scale": 7}})),
        "logrows 16": lambda: (circuit / "settings.json").write_text(json.dumps(
            {**settings, "run_args": {**settings["run_args"], "logrows": 16}})),
        "private inputs": lambda: (circuit / "settings.json").write_text(json.dumps(
            {**settings, "run_args": {**settings["run_args"], "input_visibility": "Private"}})),
        "corrupted vk": lambda: (circuit / "vk").write_bytes(vk[:200] + bytes([vk[200] ^ 1]) + vk[201:]),
        "another circuit's vk": lambda: shutil.copy2(other_vk, circuit / "vk"),
        "truncated vk": lambda: (circuit / "vk").write_bytes(vk[:-32]),
    }
    for name, edit in edits.items():
        edit()
        try:
            valid, reason = _verdict(zk, doc, keys=key_store)
            assert not valid and "id" in reason, (name, reason)  # the hash the proof names no longer matches
            renamed = copy.deepcopy(doc)
            renamed["public_outputs"]["circuit_id"] = circuit_id(circuit)
            valid, reason = _verdict(zk, renamed, keys=key_store)
            assert not valid and reason, name
        finally:
            for f in backup.iterdir():
                shutil.copy2(f, circuit / f.name)
    assert _verdict(zk, doc, keys=key_store)[0]


@slow
def test_a_bundle_cannot_point_the_verifier_at_another_key(zk, training_proof):
    doc = to_doc(training_proof)
    for circuit in ({**doc["public_outputs"]["circuit"], "in_dim": "../../../tmp/evil"},
                    {**doc["public_outputs"]["circuit"], "lr_q": 16}):
        edited = copy.deepcopy(doc)
        edited["public_outputs"]["circuit"] = circuit
        valid, reason = _verdict(zk, edited)
        assert not valid and "public_outputs.circuit" in reason
