"""The ``llmsql`` scheduler's own behaviour: deduplication, field orders, predicted hits, bad requests."""

from __future__ import annotations

import pytest
from skyplex.errors import InvalidInputError
from skyplex.interfaces.scheduler import ScheduledRequest
from skyplex_llmsql.scheduler import LLMSQLScheduler


def test_schedule_dedups_orders_fields_and_predicts_hits(beer):
    requests = [ScheduledRequest(id=f"r{i}", fields=row) for i, row in enumerate(beer[:40] + beer[:3])]
    sched = LLMSQLScheduler().plan(requests, {"algorithm": "ggr", "min_batch": 2})
    assert {"r40": "r0", "r41": "r1", "r42": "r2"}.items() <= sched.dedup.items()
    assert sched.metrics["char_hit_rate"] > sched.metrics["char_hit_rate_original"]
    assert set(sched.field_orders) == {r.id for r in requests}
    assert sched.batches and all(len(b) <= 64 for b in sched.batches)


def test_plain_prompts_are_sorted_and_deduplicated():
    requests = [ScheduledRequest(id=str(i), prompt=p) for i, p in enumerate(["b x", "a y", "b x", "a z"])]
    sched = LLMSQLScheduler().plan(requests)
    assert sched.order == ["1", "3", "0"] and sched.dedup == {"2": "0"}


def test_bad_requests_are_refused():
    with pytest.raises(InvalidInputError, match="unknown llmsql scheduler option"):
        LLMSQLScheduler().plan([ScheduledRequest(id="a", prompt="x")], {"colour": "red"})
    with pytest.raises(InvalidInputError, match="expected"):
        LLMSQLScheduler().plan([ScheduledRequest(id="a", fields={"x": "1"}), ScheduledRequest(id="b", fields={"y": "1"})])
    with pytest.raises(InvalidInputError, match="null"):
        LLMSQLScheduler().plan([ScheduledRequest(id="a", fields={"x": None})])
