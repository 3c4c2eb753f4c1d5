"""How ``grade_many`` cuts programs into sandbox runs: a partition in order, within the batch size, at
least one run per worker when there are programs enough, shrinking towards the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from skyplex_livecodebench.batch import batches


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 600), workers=st.integers(1, 64), batch=st.integers(1, 64))
def test_batches_partition_the_programs(n, workers, batch):
    runs = batches(list(range(n)), workers, batch)
    assert [i for run in runs for i in run] == list(range(n))          # every program once, in order
    assert all(1 <= len(run) <= batch for run in runs)
    assert len(runs) >= min(n, workers)                                 # every worker gets a run
    first = max(1, n // workers)
    assert all(len(run) == min(batch, first) for run in runs[:workers][:-1])
    floor = min(4, batch)
    # past the first runs no run is under the floor except the very last, and sizes never grow by more
    # than the floor allows (they shrink towards the end)
    assert all(len(run) >= floor for run in runs[workers:-1])
    tail = [len(run) for run in runs[workers:]]
    assert all(b <= max(a, floor) for a, b in zip(tail, tail[1:]))


def test_four_hundred_programs_on_two_workers():
    sizes = [len(r) for r in batches(list(range(400)), 2, 48)]
    assert sizes[:2] == [48, 48] and sizes[-1] <= 4 and sum(sizes) == 400
