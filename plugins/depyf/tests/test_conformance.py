"""skyplex-depyf against the kernel's conformance kits: the inspector contract, the entry point, the shape."""

from __future__ import annotations

import pytest
from skyplex.interfaces import InspectTarget
from skyplex.testing import EntryPointConformance, InspectorConformance, PluginShapeConformance
from skyplex_depyf.inspector import DepyfInspector


class TestDepyfInspectorOnAFunction(InspectorConformance):
    @pytest.fixture
    def inspector(self):
        return DepyfInspector()

    @pytest.fixture
    def target(self):
        return InspectTarget(kind="python-function", ref="colorsys:rgb_to_yiq")


class TestDepyfInspectorOnSource(InspectorConformance):
    @pytest.fixture
    def inspector(self):
        return DepyfInspector()

    @pytest.fixture
    def target(self):
        return InspectTarget(kind="source", ref="f", options={"source": "def f(a):\n    return a * 2\n"})


class TestDepyfEntryPoint(EntryPointConformance):
    plugin_name = "depyf"
    expected = {"inspector": ["depyf"]}


class TestDepyfShape(PluginShapeConformance):
    package = "skyplex_depyf"


def test_registered_inspector_decompiles(skyplex_kernel):
    report = skyplex_kernel.inspectors.get("depyf").inspect(InspectTarget(kind="python-function",
                                                                          ref="colorsys:rgb_to_yiq"))
    assert report.metadata["verified"] and report.artifacts[0].content.startswith("def rgb_to_yiq(r, g, b):")
