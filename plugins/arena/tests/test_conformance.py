"""skyplex-arena against the kernel's conformance kits: the evaluator contract, the entry point and the
plugin shape."""

from __future__ import annotations

import pytest
from skyplex.interfaces import Subject, Suite
from skyplex.testing import EntryPointConformance, EvaluatorConformance, PluginShapeConformance
from skyplex_arena.evaluator import ArenaEvaluator


class TestArenaEvaluatorConformance(EvaluatorConformance):
    @pytest.fixture
    def evaluator(self):
        return ArenaEvaluator()

    @pytest.fixture
    def subjects(self):
        return [Subject(name="gemini-2.5-pro"), Subject(name="gpt-4.1-2025-04-14"), Subject(name="o3-2025-04-16")]

    @pytest.fixture
    def suite(self, sample_path):
        return Suite(name="arena-sample", options={"votes": str(sample_path), "ci": "sandwich"})


class TestArenaBootstrapConformance(TestArenaEvaluatorConformance):
    @pytest.fixture
    def suite(self, sample_path):
        return Suite(name="arena-sample-bootstrap", options={"votes": str(sample_path), "ci": "bootstrap",
                                                             "rounds": 20, "seed": 3})


class TestArenaEntryPoint(EntryPointConformance):
    plugin_name = "arena"
    expected = {"evaluator": ["arena"]}


class TestArenaShape(PluginShapeConformance):
    package = "skyplex_arena"
