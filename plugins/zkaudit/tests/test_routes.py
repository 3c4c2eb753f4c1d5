"""The gateway routes ``POST /plugins/zkaudit/verify`` and ``/prove`` through skyplex's real app.

The kernel loads zkaudit from its installed entry point (only that one, via the allowlist) and uses
the session data dir, so its auditor sees the same public records and cached circuit keys as the
``zk`` fixture. Tests that need an ezkl proof reuse the session's ``training_proof`` and are slow;
the rest (body validation, membership proofs, which are Merkle paths) run in the fast suite.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import time

import pytest
from fastapi.testclient import TestClient
from skyplex import Kernel, Settings, make_plugin_manager
from skyplex.interfaces import Claim
from skyplex.testing.docs import plugin_doc

KEY = "k"
DOC = plugin_doc("zkaudit", __file__)
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def kernel(session_data_dir):
    pm = make_plugin_manager(entrypoints=True, allowlist={"zkaudit"})
    k = Kernel(settings=Settings(data_dir=session_data_dir), pm=pm, strict=True)
    yield k
    k.close()


@pytest.fixture(scope="module")
def client(kernel):
    from skyplex.gateway import create_app

    with TestClient(create_app(kernel, api_key=KEY)) as c:
        c.headers.update(AUTH)
        yield c


def doc_curls() -> list[tuple[str, str, int, str]]:
    """(path, body, status, param) of every ``curl`` in the Errors section with its ``# ->`` line."""
    text = DOC.read_text()
    errors = text[text.index("## Errors"): text.index("## Threat model")]
    out = []
    for curl, status, param in re.findall(r"^(curl [^\n]+)\n# -> (\d{3}) (\S+)$", errors, re.M):
        args = shlex.split(curl)
        path = next(a for a in args if a.startswith("$URL")).removeprefix("$URL")
        out.append((path, args[args.index("-d") + 1], int(status), param))
    return out


def _wait_job(client, job_id: str, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _tampered(proof):
    """The proof with one hex digit of its step-0 ezkl proof flipped (bundle otherwise intact)."""
    bundle = json.loads(base64.b64decode(proof.proof_b64))
    hexp = bundle["steps"][0]["proof"]
    bundle["steps"][0]["proof"] = hexp[:100] + ("0" if hexp[100] != "0" else "1") + hexp[101:]
    return proof.model_copy(update={"proof_b64": base64.b64encode(json.dumps(bundle).encode()).decode()})


# ---- fast: no ezkl proof needed -------------------------------------------------------------------
def test_routes_are_mounted_and_need_the_key(kernel, client):
    assert "zkaudit" in kernel.auditors
    from skyplex.gateway import create_app

    r = TestClient(create_app(kernel, api_key=KEY)).post("/plugins/zkaudit/verify", json={})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "proof"),
        ({"proof": {"id": "p", "scheme": "s", "proof_b64": ""}}, "proof.claim"),
        ({"proof": {"id": "p", "claim": {"kind": "training"}, "scheme": "s", "proof_b64": 7}}, "proof.proof_b64"),
        ({"proof": {"id": "p", "claim": {"kind": "training"}, "scheme": "s", "proof_b64": ""}, "records": []}, "records"),
    ],
)
def test_malformed_body_is_a_400_naming_the_field(client, body, field):
    r = client.post("/plugins/zkaudit/verify", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == field
    assert field in err["message"]


def test_garbage_proof_bytes_are_a_verdict_not_an_error(client):
    proof = {"id": "p", "claim": {"kind": "audit:membership", "commitments": ["ds-" + "0" * 32],
                                  "params": {"x": [0.0] * 8, "label": 0}},
             "scheme": "ezkl-halo2-kzg/membership", "proof_b64": "not base64!"}
    r = client.post("/plugins/zkaudit/verify", json={"proof": proof})
    assert r.status_code == 200
    assert r.json()["valid"] is False and "unknown commitment" in r.json()["reason"]
    r = client.post("/plugins/zkaudit/verify", json={"proof": {**proof, "claim": {"kind": "audit:nonsense"}}})
    assert r.status_code == 200 and r.json()["valid"] is False and "unknown claim kind" in r.json()["reason"]


def test_prove_job_then_verify_membership(client, zk, dataset_commitment, dataset_data):
    claim = Claim(kind="audit:membership", commitments=[dataset_commitment.id],
                  params={"x": dataset_data["x"][3], "label": dataset_data["labels"][3]})
    r = client.post("/plugins/zkaudit/prove", json=claim.model_dump())
    assert r.status_code == 200, r.text
    job = _wait_job(client, r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["kind"] == "proof"
    proof = job["result"]
    v = client.post("/plugins/zkaudit/verify", json={"proof": proof})
    assert v.status_code == 200 and v.json()["valid"] is True, v.text
    # records sent in the body take precedence over the server's: a record of another root fails
    other = dict(zk.record(dataset_commitment.id), digest="00" * 32)
    v = client.post("/plugins/zkaudit/verify", json={"proof": proof, "records": {dataset_commitment.id: other}})
    assert v.status_code == 200 and v.json()["valid"] is False and "does not hash to its id" in v.json()["reason"]


def test_prove_of_a_non_member_is_a_400_with_the_reason_before_any_job(client, dataset_commitment):
    claim = Claim(kind="audit:membership", commitments=[dataset_commitment.id], params={"x": [9.0] * 8, "label": 0})
    r = client.post("/plugins/zkaudit/prove", json=claim.model_dump())
    assert r.status_code == 400, r.text
    assert "not in the committed dataset" in r.json()["error"]["message"]


# ---- slow: the session's real training proof ------------------------------------------------------
@pytest.mark.slow
def test_verify_route_accepts_a_real_training_proof(client, training_proof):
    r = client.post("/plugins/zkaudit/verify", json={"proof": training_proof.model_dump(mode="json")})
    assert r.status_code == 200, r.text
    verdict = r.json()
    assert verdict["valid"] is True, verdict["reason"]
    assert verdict["details"]["steps"] == training_proof.claim.params["steps"]
    assert verdict["details"]["final_weights_digest"] == training_proof.public_outputs["weight_digests"][-1]


@pytest.mark.slow
def test_verify_route_rejects_a_tampered_training_proof(client, training_proof):
    r = client.post("/plugins/zkaudit/verify", json={"proof": _tampered(training_proof).model_dump(mode="json")})
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is False
    assert "does not verify" in r.json()["reason"]


@pytest.mark.slow
def test_verify_route_rejects_swapped_outputs_and_missing_records(client, training_proof):
    out = training_proof.public_outputs
    swapped = training_proof.model_copy(update={"public_outputs": {**out, "weight_digests": out["weight_digests"][::-1]}})
    r = client.post("/plugins/zkaudit/verify", json={"proof": swapped.model_dump(mode="json")})
    assert r.status_code == 200 and r.json()["valid"] is False
    unknown = "ds-" + "f" * 32
    claim = training_proof.claim.model_copy(update={"commitments": [unknown, training_proof.claim.commitments[1]]})
    r = client.post("/plugins/zkaudit/verify", json={"proof": training_proof.model_copy(update={"claim": claim}).model_dump(mode="json")})
    assert r.status_code == 200 and r.json()["valid"] is False and f"unknown commitment '{unknown}'" in r.json()["reason"]


# ---- bad input through the gateway, as curled in the docs ------------------------------------------
@pytest.fixture(scope="module")
def curl_client(kernel):
    """The gateway as curl meets it: server exceptions become responses (a 500 would show, not raise)."""
    from skyplex.gateway import create_app

    with TestClient(create_app(kernel, api_key=KEY), raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        yield c


def test_the_docs_show_the_error_curls():
    assert len(doc_curls()) >= 6


@pytest.mark.parametrize(("path", "body", "status", "param"), doc_curls())
def test_documented_error_curls(curl_client, path, body, status, param):
    r = curl_client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})  # as curl -d sends it
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param, r.text
    assert param in r.json()["error"]["message"]


def test_no_500_for_bad_claims_and_artifacts_on_the_generic_routes(curl_client, dataset_commitment):
    ds = dataset_commitment.id
    claims = [{"kind": "allocator"}, {"kind": "audit:membership"}, {"kind": "audit:membership", "commitments": [ds]},
              {"kind": "audit:membership", "commitments": [ds], "params": {"x": "abc", "label": 0}},
              {"kind": "audit:membership", "commitments": [ds], "params": {"x": [0.0] * 8, "label": 0}},
              {"kind": "audit:censorship", "commitments": ["../../etc/passwd"], "params": {"label": 0}},
              {"kind": "audit:counterfactual", "commitments": [ds, ds]},
              {"kind": "training", "commitments": [ds, "w-" + "0" * 32], "params": {"lr": 0.5, "steps": 1}}]
    for claim in claims:
        for path in ("/v1/auditors/zkaudit/prove", "/plugins/zkaudit/prove"):
            r = curl_client.post(path, json=claim)
            assert r.status_code == 400, (path, claim, r.text)
            assert r.json()["error"]["param"], r.text
    for data in ({}, {"x": []}, {"x": [[1]], "labels": [0], "classes": 1}, {"x": [[1, 2]], "labels": "0", "classes": 2}):
        r = curl_client.post("/v1/auditors/zkaudit/commit", json={"kind": "dataset", "data": data})
        assert r.status_code == 400 and r.json()["error"]["param"].startswith("data"), r.text
