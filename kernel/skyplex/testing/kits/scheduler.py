"""Conformance kit for a scheduler: the contract every caller relies on."""

from __future__ import annotations

import pytest

from ...interfaces import Schedule, ScheduledRequest
from ._base import must_override


class SchedulerConformance:
    """Contract of a scheduler. Override ``scheduler`` and ``requests``."""

    @pytest.fixture
    def scheduler(self):
        must_override("scheduler")

    @pytest.fixture
    def requests(self) -> list[ScheduledRequest]:
        must_override("requests")

    def test_every_request_covered_once(self, scheduler, requests):
        sched = scheduler.plan(requests)
        assert isinstance(sched, Schedule)
        ids = {r.id for r in requests}
        assert len(sched.order) == len(set(sched.order)), "order repeats an id"
        assert set(sched.order).isdisjoint(sched.dedup), "an id is both run and deduplicated"
        assert set(sched.order) | set(sched.dedup) == ids
        assert set(sched.dedup.values()) <= set(sched.order), "a duplicate points at an id that never runs"

    def test_batches_follow_order(self, scheduler, requests):
        sched = scheduler.plan(requests)
        if sched.batches:
            assert [i for b in sched.batches for i in b] == sched.order

    def test_is_deterministic(self, scheduler, requests):
        assert scheduler.plan(requests).order == scheduler.plan(requests).order

    def test_empty_input(self, scheduler):
        sched = scheduler.plan([])
        assert sched.order == [] and sched.dedup == {}
