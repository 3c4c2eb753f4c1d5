"""The kernel's conformance kits, subclassed for the voting evaluator."""

from __future__ import annotations

import pytest
from skyplex import Subject, Suite
from skyplex.testing import EntryPointConformance, EvaluatorConformance, PluginShapeConformance

QUERIES = [{"id": f"q{i}", "question": f"Which letter is second in the alphabet? ({i})",
            "choices": ["a", "b", "c", "d"], "answer": "B"} for i in range(12)]


class TestEntryPoint(EntryPointConformance):
    plugin_name = "voting"
    expected = {"evaluator": ["voting"]}


class TestVotingConformance(EvaluatorConformance):
    @pytest.fixture
    def evaluator(self, kernel):
        return kernel.evaluators.get("voting")

    @pytest.fixture
    def subjects(self):
        return [Subject(name="cycler", backend="cycler")]

    @pytest.fixture
    def suite(self):
        return Suite(name="letters", options={"queries": QUERIES, "samples": 8, "kmax": 30})


class TestVotingShape(PluginShapeConformance):
    package = "skyplex_voting"
