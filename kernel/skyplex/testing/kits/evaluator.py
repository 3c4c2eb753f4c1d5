"""Conformance kit for an evaluator: the contract every caller relies on."""

from __future__ import annotations

import pytest

from ...interfaces import Report, Suite
from ._base import must_override


class EvaluatorConformance:
    """Contract of an evaluator. Override ``evaluator``, ``subjects`` and ``suite``."""

    @pytest.fixture
    def evaluator(self):
        must_override("evaluator")

    @pytest.fixture
    def subjects(self):
        must_override("subjects")

    @pytest.fixture
    def suite(self) -> Suite:
        must_override("suite")

    @pytest.fixture
    def report(self, evaluator, subjects, suite):
        calls: list[tuple[int, int, str]] = []
        rep = evaluator.evaluate(subjects, suite, progress=lambda d, t, m="": calls.append((d, t, m)))
        return rep, calls

    def test_report_shape(self, evaluator, subjects, suite, report):
        rep, _ = report
        assert isinstance(rep, Report)
        assert rep.evaluator == evaluator.name and rep.suite == suite.name
        names = {s.name for s in subjects}
        assert rep.scores, "a report must score something"
        assert {s.subject for s in rep.scores} <= names

    def test_confidence_intervals_bracket_values(self, report):
        rep, _ = report
        for s in rep.scores:
            if s.ci_low is not None and s.ci_high is not None:
                assert s.ci_low <= s.value <= s.ci_high, s

    def test_progress_is_reported(self, report):
        _, calls = report
        assert calls, "evaluators must report progress"
        done, total, _ = calls[-1]
        assert 0 <= done <= total and done == total

    def test_round_trips_as_json(self, report):
        rep, _ = report
        assert Report.model_validate_json(rep.model_dump_json()) == rep
