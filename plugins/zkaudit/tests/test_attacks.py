"""Attacks on the verifier from the outside: the proof as bytes an adversary writes, not as a Python object.

The mutation harness (test_mutations.py) edits the parsed document; these tests edit its *text* and its
numbers: duplicated keys, numbers spelt another way (1 vs 1.0, exponents, integers past the float
range), look-alike and invisible characters, trailing data, non-canonical base64, nesting past the
parser's depth, and ids that are not ids. Each must be refused (CLI exit 2, HTTP 400) or rejected with
a reason (exit 1, ``valid: false``), never accepted with another meaning and never a traceback or 500.
Fast tests use crafted proofs that stop before ezkl; one test walks the text of the real membership proof.
"""

from __future__ import annotations

import base64
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import Artifact, Claim, Proof
from skyplex_zkaudit import formats as fm
from skyplex_zkaudit.verify import verify_proof

HEX = "0123456789abcdef"


def _hex(seed: int) -> str:
    return (f"{seed:x}" * 64)[:64]


def _dataset_record(n_batches: int = 2, batch: int = 4) -> dict:
    from skyplex_zkaudit.commitments import dataset_root

    digests = [_hex(10 + k) for k in range(n_batches)]
    rec = {"kind": "dataset", "scheme": "poseidon-batches-salted", "digest": dataset_root(digests),
           "metadata": {"examples": batch * n_batches, "in_dim": 8, "classes": 4, "batch": batch, "scale": 8,
                        "batch_digests": digests}}
    return {"id": fm.record_id("dataset", rec), **rec}


def _weights_record(digest: str) -> dict:
    rec = {"kind": "weights", "scheme": "poseidon-salted", "digest": digest,
           "metadata": {"shape": [8, 4], "hidden": 0, "scale": 8, "sha256_salted": "00" * 32}}
    return {"id": fm.record_id("weights", rec), **rec}


def _b64(obj) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def crafted_training(final_id: str = "", steps: int = 2) -> tuple[dict, dict]:
    """A training proof document whose chain is consistent (it stops at the key store, before ezkl)
    and the records it names."""
    ds, w0 = _dataset_record(), _weights_record(_hex(1))
    digests = ds["metadata"]["batch_digests"]
    chain = [w0["digest"]] + [_hex(20 + k) for k in range(steps)]
    final = _weights_record(chain[-1])
    bundle = {"steps": [{"instances": [digests[k % 2], chain[k], _hex(30 + k), chain[k + 1]], "proof": "00ff"}
                        for k in range(steps)]}
    doc = {"id": "pf-x", "scheme": fm.SCHEMES["training"],
           "claim": {"kind": "training", "commitments": [ds["id"], w0["id"]], "params": {"lr": 0.5, "steps": steps}},
           "public_outputs": {"circuit": {}, "circuit_id": "0" * 64, "weight_digests": chain,
                              "final_weights": final_id or final["id"]},
           "proof_b64": _b64(bundle), "metadata": {}}
    return doc, {r["id"]: r for r in (ds, w0, final)}


def _verify(doc: dict, records: dict, keys: Path):
    return verify_proof(Proof.model_validate(doc), records.get, keys)


# ---- numbers -------------------------------------------------------------------------------------
huge_ints = st.one_of(st.integers(min_value=2 ** 1024), st.integers(max_value=-(2 ** 1024)))


@given(big=huge_ints)
def test_integers_past_the_float_range_are_refused_naming_the_field(big):
    claim = Claim(kind="training", commitments=["ds-" + "0" * 32, "w-" + "0" * 32], params={"lr": big, "steps": 1})
    with pytest.raises(fm.FormatError) as err:
        fm.check_claim(claim)
    assert err.value.field == "params.lr"
    with pytest.raises(fm.FormatError) as err:
        fm.parse_artifact(Artifact(kind="weights", data={"w": [[0.5, big]]}))
    assert err.value.field == "data.w.0.1"
    member = Claim(kind="audit:membership", commitments=["ds-" + "0" * 32], params={"x": [0.5, big], "label": 0})
    with pytest.raises(fm.FormatError) as err:
        fm.check_claim(member, published=True)
    assert err.value.field == "params.x.0.1"


@given(lr=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-(2 ** 2000),
                                                                                     max_value=2 ** 2000)),
       batch=st.integers(1, 64))
def test_the_update_multiplier_is_the_claimed_rate_exactly_or_refused(lr, batch):
    """No claimed rate is rounded to a provable neighbour, and no rate (1e308, 10**600) raises anything
    but a FormatError naming ``params.lr``."""
    try:
        q = fm.lr_q(lr, batch)
    except fm.FormatError as exc:
        assert exc.field == "params.lr"
        return
    assert Fraction(lr) * 256 == q * batch and 1 <= q < fm.MAX_LR_Q


def test_a_huge_learning_rate_in_a_proof_is_a_rejection_not_a_crash(tmp_path):
    for lr in (1e308, 10 ** 400, 2.0 ** 1000):
        doc, records = crafted_training()
        doc["claim"]["params"]["lr"] = lr
        v = _verify(doc, records, tmp_path)
        assert not v.valid and "params.lr" in v.reason, v.reason


@example(v=127.999, scale_up=0)
@example(v=-127.999, scale_up=0)
@example(v=127.998046875, scale_up=1)  # (2^15 - 0.5) / 2^8: a half-point, rounds up to 128: refused
@example(v=127.99609375, scale_up=1)  # (2^15 - 1) / 2^8: the largest committed magnitude
@given(v=st.floats(min_value=-127.9999, max_value=127.9999), scale_up=st.integers(0, 3))
def test_the_published_grid_value_is_the_committed_one(v, scale_up):
    """What the prover publishes for an example (``fixed_point``) is accepted by the verifier's grid
    check, and quantises to the integer the dataset was committed with (``quantize``). A value that
    rounds to 128 (127.999) is refused at commit: its proof's claim would state 128.0, past the bound
    (a real membership proof of such an example was rejected before the bound applied after rounding)."""
    from skyplex_zkaudit.witness import quantize

    try:
        fm.parse_artifact(Artifact(kind="dataset", data={"x": [[v]], "labels": [0], "classes": 2, "batch": 1}))
    except fm.FormatError as exc:
        assert exc.field == "data.x.0.0" and abs(round(v * 256)) >= 2 ** 15 - 1
        return
    g = fm.fixed_point([v])[0]
    assert fm.fixed_point([g])[0] == g  # the published value passes the "exactly on the grid" check
    assert int(quantize(np.asarray([v]), fm.SCALE)[0]) == int(quantize(np.asarray([g]), fm.SCALE)[0]) == g * 256
    assert abs(g - v) <= 2 ** -9 + 1e-12
    fm.check_claim(Claim(kind="audit:membership", commitments=["ds-" + "0" * 32], params={"x": [g] * (1 + scale_up),
                                                                                           "label": 0}), published=True)


# ---- spellings of hashes and ids -----------------------------------------------------------------
def _lookalikes(s: str) -> list[str]:
    """Strings a person (or a lenient parser) reads as ``s``: trailing newline, spaces, invisible
    characters, full-width digits, a Cyrillic 'а', upper case."""
    full = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)
    return [s + "\n", " " + s, s + " ", s + "\u200b", "\ufeff" + s, full, s.replace("a", "\u0430", 1), s.upper()]


@given(digest=st.text(HEX, min_size=64, max_size=64), pick=st.integers(0, 7))
def test_hashes_have_one_spelling(digest, pick):
    variant = _lookalikes(digest)[pick]
    if variant == digest:
        return
    with pytest.raises(fm.FormatError):
        fm.hex64(variant, "x")
    with pytest.raises(fm.FormatError):
        fm.hexbytes(variant, "x")


@pytest.mark.parametrize("pick", range(8))
def test_lookalike_commitment_ids_are_refused(pick):
    cid = "ds-" + "0a" * 16
    variant = _lookalikes(cid)[pick]
    assert not fm.is_commitment_id(variant)
    with pytest.raises(fm.FormatError):
        fm.check_claim(Claim(kind="audit:censorship", commitments=[variant], params={"label": 0}))


@pytest.mark.parametrize("final_id", ["w-" + "a" * 5000, "w-" + "0" * 31 + "\x00", "../../etc/passwd", "w-" + "0" * 32 + "\n",
                                      "ds-" + "0" * 32, 7, None])
def test_a_final_weights_id_that_is_not_an_id_is_rejected_before_any_lookup(final_id, tmp_path):
    doc, records = crafted_training()
    doc["public_outputs"]["final_weights"] = final_id
    looked_up = []

    def lookup(cid):
        looked_up.append(cid)
        return records.get(cid)

    v = verify_proof(Proof.model_validate(doc), lookup, tmp_path)
    assert not v.valid and v.reason.startswith("public_outputs.final_weights"), v.reason
    assert final_id not in looked_up


# ---- the bundle's bytes --------------------------------------------------------------------------
def test_duplicated_keys_in_the_bundle_are_a_rejection(tmp_path):
    doc, records = crafted_training()
    steps = json.loads(base64.b64decode(doc["proof_b64"]))["steps"]
    text = json.dumps({"steps": steps})
    for dup in ('{"steps": [], ' + text[1:], text[:-1] + ', "steps": []}'):
        doc["proof_b64"] = base64.b64encode(dup.encode()).decode()
        v = _verify(doc, records, tmp_path)
        assert not v.valid and "bundle.steps: duplicated key" in v.reason, v.reason
    step = json.dumps(steps[0])
    doc["proof_b64"] = base64.b64encode(('{"steps": [' + step[:-1] + ', "proof": "00"}, '
                                         + json.dumps(steps[1]) + "]}").encode()).decode()
    v = _verify(doc, records, tmp_path)
    assert not v.valid and "duplicated key" in v.reason, v.reason


@pytest.mark.parametrize("spell", ["pad", "trailing", "deep", "utf16"])
def test_bundle_bytes_have_one_spelling(spell, tmp_path):
    doc, records = crafted_training()
    raw = base64.b64decode(doc["proof_b64"])
    if spell == "pad":
        doc["proof_b64"] += "=="
    elif spell == "trailing":
        doc["proof_b64"] = base64.b64encode(raw + b" x").decode()
    elif spell == "deep":
        doc["proof_b64"] = base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    else:
        doc["proof_b64"] = base64.b64encode(raw.decode().encode("utf-16")).decode()
    v = _verify(doc, records, tmp_path)
    assert not v.valid and v.reason, v.reason


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), huge_ints, st.floats(), st.text(max_size=8))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=12)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(["lr", "steps", "final_weights", "circuit_id", "weight_digests", "bundle", "step",
                              "instance", "proof"]), value=json_values)
def test_any_value_anywhere_is_a_verdict_never_an_exception(where, value, tmp_path):
    doc, records = crafted_training()
    bundle = json.loads(base64.b64decode(doc["proof_b64"]))
    if where in ("lr", "steps"):
        doc["claim"]["params"][where] = value
    elif where in ("final_weights", "circuit_id", "weight_digests"):
        doc["public_outputs"][where] = value
    elif where == "bundle":
        bundle = value
    elif where == "step":
        bundle["steps"][1] = value
    elif where == "instance":
        bundle["steps"][0]["instances"][2] = value
    else:
        bundle["steps"][0]["proof"] = value
    doc["proof_b64"] = base64.b64encode(json.dumps(bundle).encode()).decode()
    v = _verify(doc, records, tmp_path)  # the key store is empty: a consistent chain stops there
    assert not v.valid and v.reason


# ---- the CLI and the routes on hostile files -----------------------------------------------------
def run_cli(argv: list[str], capfd) -> tuple[int, str, str]:
    from skyplex.cli.main import main

    try:
        code = main(argv)
    except SystemExit as exc:  # a rejected proof exits 1 from inside the command
        code = exc.code
    out, err = capfd.readouterr()
    return code, out, err


def _write_records(folder: Path, records: dict) -> Path:
    folder.mkdir()
    for cid, rec in records.items():
        (folder / f"{cid}.json").write_text(json.dumps(rec))
    return folder


def test_cli_verify_on_hostile_proof_files(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("SKYPLEX_DATA_DIR", str(tmp_path / "data"))
    doc, records = crafted_training()
    rec_dir, keys = _write_records(tmp_path / "records", records), tmp_path / "keys"
    keys.mkdir()
    text = json.dumps(doc)
    cases = {  # file text -> what the one error line must name
        "dup-claim": ('{"claim": ' + json.dumps(doc["claim"]) + ", " + text[1:], "claim: duplicated key"),
        "dup-lr": (text.replace('"lr": 0.5', '"lr": 0.5, "lr": 0.25'), "lr: duplicated key"),
        "trailing": (text + "\n{}", "not JSON"),
        "deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "big-steps": (text.replace('"steps": 2', '"steps": 2' + "0" * 5000), "not JSON"),
    }
    for name, (body, needle) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(body)
        code, out, err = run_cli(["zkaudit", "verify", str(path), "--records", str(rec_dir), "--keys", str(keys)], capfd)
        assert code == 2, (name, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and needle in err, (name, err)
        assert str(path) in err
    for final_id in ("w-" + "a" * 5000, "w-" + "0" * 32 + "\n"):
        doc2 = dict(doc, public_outputs={**doc["public_outputs"], "final_weights": final_id})
        path = tmp_path / "odd-final.json"
        path.write_text(json.dumps(doc2))
        code, out, err = run_cli(["zkaudit", "verify", str(path), "--records", str(rec_dir), "--keys", str(keys)], capfd)
        assert code == 1 and out.startswith("REJECTED: public_outputs.final_weights") and "Traceback" not in err, (out, err)
    doc3 = dict(doc, claim={**doc["claim"], "params": {"lr": 1e308, "steps": 2}})
    path = tmp_path / "huge-lr.json"
    path.write_text(json.dumps(doc3))
    code, out, err = run_cli(["zkaudit", "verify", str(path), "--records", str(rec_dir), "--keys", str(keys)], capfd)
    assert code == 1 and "params.lr" in out and "Traceback" not in err, (out, err)


def test_a_record_file_with_a_duplicated_key_is_a_rejection_naming_it(tmp_path, capfd, monkeypatch):
    """A record's id hashes its parsed content; a file with a key twice parses one way here and may parse
    another way elsewhere, so the verifier refuses it rather than pick a copy."""
    monkeypatch.setenv("SKYPLEX_DATA_DIR", str(tmp_path / "data"))
    doc, records = crafted_training()
    rec_dir, keys = _write_records(tmp_path / "records", records), tmp_path / "keys"
    keys.mkdir()
    ds_id = doc["claim"]["commitments"][0]
    text = (rec_dir / f"{ds_id}.json").read_text()
    (rec_dir / f"{ds_id}.json").write_text(text.replace('"scale": 8', '"scale": 9, "scale": 8'))
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    code, out, err = run_cli(["zkaudit", "verify", str(path), "--records", str(rec_dir), "--keys", str(keys)], capfd)
    assert code == 1 and out.startswith(f"REJECTED: record {ds_id}.scale: duplicated key"), (out, err)


def test_cli_commit_of_an_integer_past_the_float_range(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("SKYPLEX_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "w.json"
    path.write_text('{"kind": "weights", "data": {"w": [[0.5, 1' + "0" * 400 + "]]}}")
    code, out, err = run_cli(["zkaudit", "commit", str(path)], capfd)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "data.w.0.1" in err, err


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient
    from skyplex import Kernel, Settings, make_plugin_manager
    from skyplex.gateway import create_app

    pm = make_plugin_manager(entrypoints=True, allowlist={"zkaudit"})
    kernel = Kernel(settings=Settings(data_dir=tmp_path_factory.mktemp("zk-attack-data")), pm=pm, strict=True)
    with TestClient(create_app(kernel, api_key="k"), raise_server_exceptions=False) as c:
        c.headers.update({"Authorization": "Bearer k", "Content-Type": "application/json"})
        yield c
    kernel.close()


def test_routes_on_hostile_bodies(client):
    doc, records = crafted_training()
    body = json.dumps({"proof": doc, "records": records})
    dup = body.replace('"lr": 0.5', '"lr": 0.5, "lr": 0.25')
    r = client.post("/plugins/zkaudit/verify", content=dup)
    assert r.status_code == 400 and r.json()["error"]["param"] == "lr", r.text
    claim = json.dumps(doc["claim"]).replace('"steps": 2', '"steps": 2, "steps": 1')
    r = client.post("/plugins/zkaudit/prove", content=claim)
    assert r.status_code == 400 and r.json()["error"]["param"] == "steps", r.text
    r = client.post("/plugins/zkaudit/verify", content="[" * 100_000 + "]" * 100_000)
    assert 400 <= r.status_code < 500, r.text
    for lr in ("1e308", "1" + "0" * 400):
        r = client.post("/plugins/zkaudit/verify", content=body.replace('"lr": 0.5', f'"lr": {lr}'))
        assert r.status_code == 200 and not r.json()["valid"] and "params.lr" in r.json()["reason"], r.text
        r = client.post("/plugins/zkaudit/prove", content=json.dumps(doc["claim"]).replace('"lr": 0.5', f'"lr": {lr}'))
        assert r.status_code == 400 and r.json()["error"]["param"] in ("params.lr", "commitments.0"), r.text
    odd = json.loads(body)
    odd["proof"]["public_outputs"]["final_weights"] = "w-" + "a" * 5000
    r = client.post("/plugins/zkaudit/verify", json=odd)
    assert r.status_code == 200 and r.json()["reason"].startswith("public_outputs.final_weights"), r.text


# ---- the real membership proof, as text ----------------------------------------------------------
def _respellings(value) -> list[str]:
    """Other JSON spellings of a number: the same value (1.0 for 1, 5e-1 for 0.5) or a neighbour."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    if isinstance(value, int):
        return [f"{value}.0", f"{value}e0", f"{value}.00E+0", str(value) + "0" * 400, f"{value}.0000000000000001"]
    return [f"{value!r}e0", f"{value * 10!r}e-1", f"{value!r}".upper() + "0", repr(math.nextafter(value, math.inf)),
            f"{value!r}".rstrip("0") + "00000000000000001"]


def _text_mutants(doc: dict):
    """(label, text) of every leaf number respelt, every object with a key given twice, every string
    swapped for a look-alike, and trailing data."""
    base = json.dumps(doc)

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, path + (k,))
            yield path, node
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, path + (i,))
        else:
            yield path, node

    def put(path, raw):
        marker = "\u0001MUT\u0001"
        out = json.loads(base)
        node = out
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = marker
        return json.dumps(out).replace(json.dumps(marker), raw)

    for path, node in list(walk(doc, ())):
        label = "/".join(map(str, path))
        if isinstance(node, dict):
            if not path:
                continue
            for k, v in node.items():
                other = json.dumps({"zz": v})[1:-1].replace('"zz"', json.dumps(k))
                yield f"{label}: key {k} twice", put(path, "{" + other + ", " + json.dumps(node)[1:])
        elif isinstance(node, str) and node:
            for i, variant in enumerate(_lookalikes(node)):
                if variant != node:
                    yield f"{label}: look-alike {i}", put(path, json.dumps(variant))
        else:
            for spelling in _respellings(node):
                yield f"{label}: {spelling[:20]}", put(path, spelling)
    yield "trailing data", base + "\n{}"
    yield "trailing zero", base + "0"


def test_the_real_membership_proof_as_text(zk, membership_proof, tmp_path):
    """Each text mutant is refused while reading (duplicated key, not JSON: CLI exit 2), rejected by the
    verifier with a reason, or parses to the very document that was proven (then it may verify)."""
    from skyplex_zkaudit.cli import read_model

    doc = membership_proof.model_dump(mode="json")
    doc["proof_b64"] = json.loads(base64.b64decode(doc["proof_b64"]))  # the bundle's text is mutated too
    assert verify_proof(membership_proof, zk.record, zk.circuits, zk.srs_path).valid
    canonical = json.dumps(doc, sort_keys=True)
    counts = {"refused": 0, "rejected": 0, "same": 0}
    for label, text in _text_mutants(doc):
        path = tmp_path / "m.json"
        try:
            outer = fm.loads_strict(text, "")
        except (fm.FormatError, ValueError):
            with pytest.raises(InvalidInputError):
                path.write_text(text)
                read_model(Proof, str(path), "proof")
            counts["refused"] += 1
            continue
        same = json.dumps(outer, sort_keys=True) == canonical
        outer.pop("proof_b64")
        # the bundle travels as its own text, exactly as written in the mutant
        bundle_text = _raw_value(text, text.index('"proof_b64": ') + len('"proof_b64": '))
        outer["proof_b64"] = base64.b64encode(bundle_text.encode()).decode()
        try:
            proof = Proof.model_validate(outer)
        except Exception:
            counts["refused"] += 1
            continue
        v = verify_proof(proof, zk.record, zk.circuits, zk.srs_path)
        if label.split("/")[0].split(":")[0] in ("id", "metadata"):  # not read by the verifier (documented)
            assert v.valid, f"{label}: a field the verifier does not read changed the verdict: {v.reason}"
            continue
        if same:
            counts["same"] += 1
            continue
        assert not v.valid and v.reason, f"{label}: a different document verified"
        counts["rejected"] += 1
    assert counts["refused"] >= 15 and counts["rejected"] > 50 and counts["same"] > 0, counts


def _raw_value(text: str, start: int) -> str:
    """The exact text of the JSON value starting at ``start`` (so duplicated keys inside survive)."""
    _, end = json.JSONDecoder(object_pairs_hook=list).raw_decode(text, start)
    return text[start:end]


def test_a_membership_proof_at_the_edge_of_the_range_verifies(zk):
    """Features at the largest committed magnitudes (+-(2^15 - 1) / 2^8) prove and verify; one step
    further (127.999, which rounds to 128) is refused at commit, naming the value, instead of giving a
    proof whose published claim no verifier accepts."""
    edge = 32767 / 256  # the largest magnitude on the grid below 128
    x = [[edge] * 8, [-edge] * 8, [edge, -edge] * 4, [-edge, edge] * 4]
    ds = zk.commit(Artifact(kind="dataset", data={"x": x, "labels": [0, 1, 2, 3], "classes": 4, "batch": 4}))
    for k in (0, 1):
        proof = zk.prove(Claim(kind="audit:membership", commitments=[ds.id], params={"x": x[k], "label": k}))
        assert abs(proof.claim.params["x"][0]) == 32767 / 256
        verdict = zk.verify(proof)
        assert verdict.valid, verdict.reason
    with pytest.raises(fm.FormatError) as err:
        zk.commit(Artifact(kind="dataset", data={"x": [[0.0] * 7 + [-127.999]] * 4, "labels": [0] * 4, "classes": 4,
                                                 "batch": 4}))
    assert err.value.field == "data.x.0.7" and "after rounding" in err.value.message
