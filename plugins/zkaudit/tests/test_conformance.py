"""The kernel's conformance kits: auditor contract (on membership proofs, the smallest circuit), entry point
and the plugin shape."""

from __future__ import annotations

import pytest
from skyplex.interfaces import Artifact, Claim
from skyplex.testing import AuditorConformance, EntryPointConformance, PluginShapeConformance


class TestZkAuditorConformance(AuditorConformance):
    @pytest.fixture
    def auditor(self, session_data_dir):
        from skyplex_zkaudit.auditor import ZkAuditor

        return ZkAuditor(session_data_dir)  # the session's key store: the membership circuit is set up once

    @pytest.fixture
    def artifact(self, make_dataset):
        return Artifact(kind="dataset", data=make_dataset(seed=5))

    @pytest.fixture
    def claim(self, make_dataset):
        data = make_dataset(seed=5)
        return lambda c: Claim(kind="audit:membership", commitments=[c.id],
                               params={"x": data["x"][3], "label": data["labels"][3]})


class TestEntryPoint(EntryPointConformance):
    plugin_name = "zkaudit"
    expected = {"auditor": ["zkaudit"]}


class TestZkAuditShape(PluginShapeConformance):
    package = "skyplex_zkaudit"
