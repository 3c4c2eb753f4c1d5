"""Inspectors look inside programs (e.g. compiled PyTorch code) and report what they find."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import Field

from .common import SkyplexModel


class InspectTarget(SkyplexModel):
    kind: str = Field(description="e.g. 'python-function', 'module', 'script'.")
    ref: str = Field(description="What to inspect: a 'module:attr' reference or a path.")
    options: dict[str, Any] = Field(default_factory=dict)


class InspectionArtifact(SkyplexModel):
    name: str
    kind: str
    content: str | None = None
    path: str | None = None


class InspectionReport(SkyplexModel):
    inspector: str
    target: InspectTarget
    summary: str = ""
    artifacts: list[InspectionArtifact] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Inspector(ABC):
    name: str = "unnamed"

    @abstractmethod
    def inspect(self, target: InspectTarget) -> InspectionReport: ...
