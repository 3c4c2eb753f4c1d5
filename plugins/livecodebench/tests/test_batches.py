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


def _problem(difficulty: str, kind: str):
    from datetime import datetime

    from skyplex_livecodebench.problems import Problem, TestCase

    return Problem("q", "q", "", "atcoder", "c", datetime(2024, 1, 1), difficulty,
                   func_name="f" if kind == "functional" else "",
                   public_tests=[TestCase("1", "1", kind)])


@settings(max_examples=200, deadline=None)
@given(kinds=st.lists(st.tuples(st.sampled_from(["easy", "medium", "hard"]), st.sampled_from(["stdin", "functional"])),
                      max_size=200),
       workers=st.integers(1, 8), batch=st.integers(1, 64), data=st.data())
def test_schedule_runs_likely_expensive_programs_first(kinds, workers, batch, data):
    from skyplex_livecodebench.batch import EXPENSIVE_BATCH, likely_expensive, schedule

    tasks = [(_problem(d, k), "print(1)") for d, k in kinds]
    todo = sorted(data.draw(st.sets(st.sampled_from(range(len(tasks))) if tasks else st.nothing())))
    runs = schedule(tasks, todo, workers, batch)
    flat = [i for run in runs for i in run]
    assert sorted(flat) == todo and len(flat) == len(set(flat))        # every program to grade, once
    assert all(1 <= len(run) <= batch for run in runs)
    hard = [likely_expensive(tasks[i][0]) for i in flat]
    assert hard == sorted(hard, reverse=True)                           # the expensive ones all come first
    assert all(len(run) <= EXPENSIVE_BATCH for run in runs if likely_expensive(tasks[run[0]][0]))
    assert not any(likely_expensive(tasks[run[0]][0]) != likely_expensive(tasks[run[-1]][0]) for run in runs)


def test_hard_stdin_is_the_expensive_kind():
    from skyplex_livecodebench.batch import likely_expensive

    assert likely_expensive(_problem("hard", "stdin"))
    assert not likely_expensive(_problem("hard", "functional")) and not likely_expensive(_problem("medium", "stdin"))
