"""skyplex-llmsql against the kernel's conformance kits: the scheduler contract, the entry point and the
plugin shape."""

from __future__ import annotations

import pytest
from skyplex.interfaces.scheduler import ScheduledRequest
from skyplex.testing import EntryPointConformance, PluginShapeConformance, SchedulerConformance
from skyplex_llmsql.scheduler import LLMSQLScheduler


class TestLLMSQLScheduler(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return LLMSQLScheduler(template="Summarise the review")

    @pytest.fixture
    def requests(self, beer):
        rows = beer[:40] + beer[:3]  # repeats to deduplicate
        return [ScheduledRequest(id=f"r{i}", fields=row) for i, row in enumerate(rows)]


class TestEntryPoint(EntryPointConformance):
    plugin_name = "llmsql"
    expected = {"scheduler": ["llmsql"]}


class TestLLMSQLShape(PluginShapeConformance):
    package = "skyplex_llmsql"
