"""skyplex-melange against the kernel's conformance kits: the allocator contract and the entry point."""

from __future__ import annotations

import pytest
from skyplex.testing import AllocatorConformance, EntryPointConformance, PluginShapeConformance
from skyplex_melange.allocator import MelangeAllocator


class TestMelangeConformance(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        return MelangeAllocator()

    @pytest.fixture
    def problem(self, example_problem):
        return example_problem


class TestMelangeRooflineConformance(AllocatorConformance):
    @pytest.fixture
    def allocator(self):
        return MelangeAllocator()

    @pytest.fixture
    def problem(self, roofline_problem):
        from skyplex_melange.catalogue import load_catalogue

        cat = load_catalogue()
        gpus = [cat.gpu(n) for n in roofline_problem.options["gpu_names"]]
        opts = {k: v for k, v in roofline_problem.options.items() if k != "gpu_names"}
        return roofline_problem.model_copy(update={"gpu_types": gpus, "options": opts})


class TestMelangeEntryPoint(EntryPointConformance):
    plugin_name = "melange"
    expected = {"allocator": ["melange"]}


class TestMelangeShape(PluginShapeConformance):
    package = "skyplex_melange"
