"""Auditors commit to artifacts and prove claims about them without revealing them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import Field

from .common import SkyplexModel


class Artifact(SkyplexModel):
    kind: str = Field(description="e.g. 'dataset', 'weights'.")
    uri: str | None = Field(default=None, description="Where the artifact lives (file path, URL).")
    data: Any = Field(default=None, description="Inline content for small artifacts.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class Commitment(SkyplexModel):
    id: str
    kind: str
    scheme: str
    digest: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class Claim(SkyplexModel):
    kind: str = Field(description="e.g. 'training', 'audit:copyright'.")
    commitments: list[str] = Field(default_factory=list, description="Commitment ids the claim is about.")
    params: dict[str, Any] = Field(default_factory=dict)


class Proof(SkyplexModel):
    id: str
    claim: Claim
    scheme: str
    public_outputs: dict[str, Any] = Field(default_factory=dict)
    proof_b64: str = Field(description="The proof bytes, base64.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class Verdict(SkyplexModel):
    valid: bool
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class Auditor(ABC):
    name: str = "unnamed"

    @abstractmethod
    def commit(self, artifact: Artifact) -> Commitment: ...

    @abstractmethod
    def prove(self, claim: Claim) -> Proof: ...

    @abstractmethod
    def verify(self, proof: Proof) -> Verdict: ...
