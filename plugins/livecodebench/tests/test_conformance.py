"""skyplex-livecodebench against the kernel's conformance kits: entry point, plugin shape, evaluator contract."""

from __future__ import annotations

import pytest
from skyplex import Subject, Suite
from skyplex.testing import EntryPointConformance, EvaluatorConformance, PluginShapeConformance

class TestEntryPoint(EntryPointConformance):
    plugin_name = "livecodebench"
    expected = {"evaluator": ["livecodebench"]}


class TestShape(PluginShapeConformance):
    package = "skyplex_livecodebench"


@pytest.mark.usefixtures("sandbox_ok")
class TestEvaluatorConformance(EvaluatorConformance):
    @pytest.fixture
    def evaluator(self, lcb_kernel):
        return lcb_kernel.evaluators.get("livecodebench")

    @pytest.fixture
    def subjects(self):
        return [Subject(name="solver", backend="solver")]

    @pytest.fixture
    def suite(self, problems_path):
        return Suite(name="lcb-2023-05", options={"problems": str(problems_path), "start": "2023-05-13",
                                                  "end": "2023-05-13", "cutoff": "2023-01-01"})
