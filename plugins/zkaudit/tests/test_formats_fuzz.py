"""Bounded fuzzing of the input formats: any JSON artifact or claim is either accepted or refused with
an ``InvalidInputError`` naming a field (never another exception, which the CLI would report as a
fault and the gateway as a 500), and any JSON proof is a verdict, never an exception."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import Artifact, Claim, Proof
from skyplex_zkaudit import formats as fm
from skyplex_zkaudit.verify import verify_proof

scalars = st.one_of(st.none(), st.booleans(), st.integers(-300, 300), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=4))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=16)
numbers = st.one_of(st.floats(-200, 200), st.sampled_from([float("nan"), float("inf"), -float("inf")]), st.integers(-200, 200))
rows = st.lists(st.lists(numbers, min_size=1, max_size=3), min_size=1, max_size=4)
dataset_like = st.fixed_dictionaries(
    {"x": st.one_of(rows, json_values), "labels": st.one_of(st.lists(st.integers(-1, 4), max_size=4), json_values),
     "classes": st.one_of(st.integers(0, 5), json_values)},
    optional={"batch": st.one_of(st.integers(0, 4), json_values), "extra": json_values})
weights_like = st.one_of(st.fixed_dictionaries({"w": st.one_of(rows, json_values)}),
                         st.fixed_dictionaries({"w1": rows, "w2": rows}), json_values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["dataset", "weights", "other"]), data=st.one_of(dataset_like, weights_like, json_values))
def test_any_artifact_is_parsed_or_refused_with_a_field(kind, data):
    try:
        a = fm.parse_artifact(Artifact(kind=kind, data=data))
    except InvalidInputError as exc:
        assert exc.field and exc.message.startswith(exc.field.split(".")[0])
        return
    values = [v for row in (a.x if kind == "dataset" else a.w) for v in row]
    assert all(abs(v) < fm.MAX_ABS for v in values)  # what is accepted is finite and in range


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(list(fm.CLAIM_KINDS) + ["allocator"]),
       commitments=st.lists(st.one_of(st.text(max_size=8), st.just("ds-" + "a" * 32), st.just("w-" + "b" * 32)), max_size=3),
       params=st.dictionaries(st.sampled_from(["lr", "steps", "x", "label", "batch_size"]), json_values, max_size=3))
def test_any_claim_is_checked_or_refused_with_a_field(kind, commitments, params):
    try:
        fm.check_claim(Claim(kind=kind, commitments=commitments, params=params))
    except InvalidInputError as exc:
        assert exc.field
        return
    assert set(params) == set(fm.CLAIM_PARAMS[kind])


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(list(fm.CLAIM_KINDS)), outputs=st.dictionaries(st.text(max_size=6), json_values, max_size=3),
       bundle=json_values, raw=st.booleans())
def test_any_proof_json_is_a_verdict(tmp_path_factory, kind, outputs, bundle, raw):
    payload = base64.b64encode(json.dumps(bundle).encode()).decode() if not raw else "%%" + json.dumps(bundle)[:20]
    params = {"training": {"lr": 0.5, "steps": 1}, "audit:membership": {"x": [0.5], "label": 0},
              "audit:censorship": {"label": 0}, "audit:counterfactual": {}}[kind]
    n = len(fm.CLAIM_COMMITMENTS[kind])
    proof = Proof(id="p", claim=Claim(kind=kind, commitments=["ds-" + "0" * 32, "w-" + "0" * 32][:n], params=params),
                  scheme=fm.SCHEMES[kind], public_outputs=outputs, proof_b64=payload)
    records = {"ds-" + "0" * 32: bundle if isinstance(bundle, dict) else None}
    verdict = verify_proof(proof, records.get, tmp_path_factory.getbasetemp())
    assert not verdict.valid and verdict.reason


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), True, "1", None])
def test_non_numbers_are_refused_in_every_matrix(value):
    for data in ({"x": [[0.1, value]], "labels": [0], "classes": 2, "batch": 1}, ):
        with pytest.raises(InvalidInputError, match=r"data\.x\.0\.1"):
            fm.parse_artifact(Artifact(kind="dataset", data=data))
    with pytest.raises(InvalidInputError, match=r"data\.w\.0\.1"):
        fm.parse_artifact(Artifact(kind="weights", data={"w": [[0.1, value]]}))
