"""Conformance kit for an inspector: the contract every caller relies on."""

from __future__ import annotations

import pytest

from ...interfaces import InspectionReport, InspectTarget
from ._base import must_override


class InspectorConformance:
    """Contract of an inspector. Override ``inspector`` and ``target``."""

    @pytest.fixture
    def inspector(self):
        must_override("inspector")

    @pytest.fixture
    def target(self) -> InspectTarget:
        must_override("target")

    def test_inspect_reports(self, inspector, target):
        rep = inspector.inspect(target)
        assert isinstance(rep, InspectionReport)
        assert rep.inspector == inspector.name and rep.target == target
        assert rep.summary or rep.artifacts
