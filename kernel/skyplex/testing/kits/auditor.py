"""Conformance kit for an auditor: the contract every caller relies on."""

from __future__ import annotations

import base64

import pytest

from ...interfaces import Artifact, Claim, Commitment, Proof, Verdict
from ._base import must_override


class AuditorConformance:
    """Contract of an auditor. Override ``auditor``, ``artifact`` and ``claim`` (a function of the
    artifact's Commitment returning a Claim the auditor can prove)."""

    @pytest.fixture
    def auditor(self):
        must_override("auditor")

    @pytest.fixture
    def artifact(self) -> Artifact:
        must_override("artifact")

    @pytest.fixture
    def claim(self):
        must_override("claim")

    @pytest.fixture
    def proof(self, auditor, artifact, claim) -> Proof:
        commitment = auditor.commit(artifact)
        assert isinstance(commitment, Commitment) and commitment.digest
        c = claim(commitment)
        assert isinstance(c, Claim)
        return auditor.prove(c)

    def test_valid_proof_verifies(self, auditor, proof):
        verdict = auditor.verify(proof)
        assert isinstance(verdict, Verdict)
        assert verdict.valid, verdict.reason

    def test_tampered_proof_is_rejected(self, auditor, proof):
        raw = bytearray(base64.b64decode(proof.proof_b64))
        assert raw, "empty proof"
        raw[len(raw) // 2] ^= 0xFF
        bad = proof.model_copy(update={"proof_b64": base64.b64encode(bytes(raw)).decode()})
        verdict = auditor.verify(bad)
        assert not verdict.valid
        assert verdict.reason

    def test_proof_round_trips_as_json(self, auditor, proof):
        again = Proof.model_validate_json(proof.model_dump_json())
        assert auditor.verify(again).valid
