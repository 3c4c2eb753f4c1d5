"""Early stop for functional (``class Solution``) problems: all their tests run in one child, which the
harness ends once the host has seen a wrong result; the verdicts are exactly those of a run without
it, the program cannot reach the channel, and a stop the results file does not back is graded again."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex_livecodebench import grader
from skyplex_livecodebench.grader import Limits, grade_batch
from skyplex_livecodebench.problems import Problem
from skyplex_livecodebench.problems import TestCase as Case

pytestmark = pytest.mark.usefixtures("sandbox_ok")

FAST = Limits(cpu_s=2, wall_s=3, memory_mb=512, output_mb=1)


def _problem(n: int) -> Problem:
    # test i calls f(i) and expects i + 0.5
    return Problem("f", "f", "", "leetcode", "w1", datetime(2024, 1, 1), "easy", func_name="f",
                   public_tests=[Case(f"{i}", f"{i}.5", "functional") for i in range(n)])


#: what the method does on one test: right by both comparisons, right only within the tolerant
#: checker's 1e-6, wrong by both, a crash, a tuple (equal to a list at the top level), right after
#: 0.3 s of CPU (long enough for a stop from the host to land in it), or spinning until the CPU limit
#: ends it
ACTIONS = {
    "right": "return i + 0.5",
    "slow": "t = time.process_time()\n            while time.process_time() - t < 0.3:\n                pass\n"
            "            return i + 0.5",
    "close": "return i + 0.5000000001",
    "wrong": "return i + 7",
    "crash": "raise ValueError(i)",
    "tuple": "return (i + 0.5,)[0]",
    "spin": "while True:\n                pass",
}


def _program(actions: list[str]) -> str:
    body = "".join(f"        {'if' if k == 0 else 'elif'} i == {k}:\n            {ACTIONS[a]}\n"
                   for k, a in enumerate(actions))
    return f"import time\nclass Solution:\n    def f(self, i):\n{body}"


def _job(records, j):
    return next(r for r in records if r.get("job") == j and "results" in r)


def test_a_wrong_result_ends_the_child(harness_records):
    # test 1 is wrong, test 2 would spin to the CPU limit: the host's stop kills the child after test 1
    p = _problem(3)
    records, skipped = harness_records([(p, _program(["right", "wrong", "spin"])), (p, _program(["right"] * 3))], FAST)
    first = _job(records, 0)
    assert first.get("skipped") == 2 and skipped == {0}, first
    assert [r["test"] for r in first["results"] if "test" in r] == [0, 1]
    assert first["cpu"] < FAST.cpu_s  # stopped by the host, not by the CPU limit
    # the program after it runs every test, and nothing was skipped for it
    second = _job(records, 1)
    assert [r["test"] for r in second["results"] if "test" in r] == [0, 1, 2] and "skipped" not in second
    v, = grade_batch([(p, _program(["right", "wrong", "spin"]))], limits=FAST)
    assert (v.status, v.first_failure, v.tests_passed, v.tolerant_pass) == ("WA", 1, 1, False)


def test_a_failure_only_the_benchmark_sees_runs_the_rest(harness_records):
    # the tolerant verdict beside the benchmark's needs every result: no stop on a 'close' answer
    p = _problem(3)
    records, skipped = harness_records([(p, _program(["close", "right", "close"]))], FAST, channel=False)
    assert "skipped" not in _job(records, 0) and not skipped
    v, = grade_batch([(p, _program(["close", "right", "close"]))], limits=FAST)
    assert (v.status, v.first_failure, v.tolerant_pass) == ("WA", 0, True)
    v, = grade_batch([(p, _program(["close", "right", "wrong"]))], limits=FAST)
    assert (v.status, v.first_failure, v.tolerant_pass) == ("WA", 0, False)


def _key(v):
    return (v.status, v.tests_passed, v.first_failure, v.message, v.diff, v.tolerant_pass)


#: a stdin problem sharing the run (and its channel) with the functional ones: test i reads i, expects i.5
STDIN = Problem("s", "s", "", "atcoder", "abc1", datetime(2024, 1, 1), "easy",
                public_tests=[Case(f"{i}\n", f"{i}.5\n", "stdin") for i in range(3)])
STDIN_PROGRAMS = ["i = int(input())\nprint(f'{i}.5')", "i = int(input())\nprint(i + 7 if i == 1 else f'{i}.5')"]


@given(st.lists(st.lists(st.sampled_from(sorted(set(ACTIONS) - {"spin"})), min_size=1, max_size=4),
                min_size=1, max_size=5), st.booleans(), st.integers(0, 5), st.sampled_from(STDIN_PROGRAMS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_verdicts_are_those_of_a_run_without_early_stop(programs, spin_last, at, stdin_program):
    items = [(_problem(len(acts) + spin_last), _program(acts + ["spin"] * spin_last)) for acts in programs]
    items.insert(min(at, len(items)), (STDIN, stdin_program))
    with_stop = grade_batch(items, limits=FAST)
    without = grade_batch(items, limits=FAST, early_stop=False)
    assert [_key(v) for v in with_stop] == [_key(v) for v in without]


def test_the_program_cannot_reach_the_channel(harness_records):
    # the child holds its results file, the wake-up pipe and its standard streams, nothing of the
    # harness's channel: a method looking for a FIFO or another descriptor to the host finds none
    code = r'''
import os
class Solution:
    def f(self, i):
        found = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if "lcb-to" in target or target.startswith("/workspace"):
                found.append(target)
        try:
            found.append(os.listdir(f"/proc/{os.getppid()}/fd"))  # the harness, which holds the channel
        except OSError:
            pass
        return i + 0.5 if not found else found
'''
    p = _problem(2)
    records, _ = harness_records([(p, code)], FAST)
    v, = grade_batch([(p, code)], limits=FAST)
    assert v.status == "AC", v


def test_a_stop_not_backed_by_a_wrong_result_is_graded_again(monkeypatch):
    # a host judge that calls every result wrong (as a forged record would) stops correct programs
    # early; with no wrong result on file they are graded again, without a channel, and pass
    monkeypatch.setattr(grader, "_judge", lambda items, tests, limits: (lambda job, rec: True))
    p = _problem(3)
    verdicts = grade_batch([(p, _program(["right"] * 3)), (p, _program(["right", "wrong", "right"])),
                            (p, _program(["tuple", "right", "right"]))], limits=FAST)
    assert [(v.status, v.first_failure) for v in verdicts] == [("AC", None), ("WA", 1), ("AC", None)]


def test_results_file_replaced_by_a_fifo_does_not_block_the_harness():
    # the harness reads the results through the descriptor it opened, never by path: a program that
    # swaps the file for a FIFO (which would block an open for reading) changes nothing
    code = r'''
import os
class Solution:
    def f(self, i):
        for name in ("/tmp/results", "/tmp/err"):
            try:
                os.unlink(name)
                os.mkfifo(name)
            except OSError:
                pass
        return i + 0.5
'''
    p = _problem(2)
    job = {"code": code, "kind": "functional", "func_name": "f", "inputs": ["0", "1"], "cpu_s": 2, "wall_s": 3,
           "memory_mb": 512, "output_bytes": 1 << 20}
    # a policy sized for one test: a harness that blocked would be ended by the sandbox within a minute
    res, _ = grader._run_jobs([job], FAST, 1, 1)
    records = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert {"job": 0, "end": True} in records, (res.killed_by, records)
    assert [r["test"] for r in _job(records, 0)["results"] if "test" in r] == [0, 1]
    v, = grade_batch([(p, code)], limits=FAST)
    assert v.status == "AC", v


def test_garbage_in_the_results_file_and_wake_pipe_decides_only_its_own_verdict():
    # the method finds the descriptors its child holds (the results file, the wake-up pipe) and
    # writes a broken record to one and floods the other; the harness skips what does not parse, and
    # the program after it in the same run is graded as usual
    code = r'''
import os
class Solution:
    def f(self, i):
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            try:
                if target.endswith("/results"):
                    os.write(int(fd), b"{not json\n")
                elif target.startswith("pipe:"):
                    os.set_blocking(int(fd), False)
                    os.write(int(fd), b"." * 100000)
            except OSError:
                pass
        return i + 0.5
'''
    p = _problem(3)
    verdicts = grade_batch([(p, code), (p, _program(["right", "wrong", "right"]))], limits=FAST)
    assert [(v.status, v.first_failure) for v in verdicts] == [("AC", None), ("WA", 1)], verdicts
