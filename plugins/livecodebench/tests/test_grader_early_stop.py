"""Early stop through the harness's live channel: a program's tests end at its first failure, the
verdicts are exactly those of a run without it, programs cannot reach the channel, and a stop the
record does not back is graded again."""

from __future__ import annotations

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
#: a sleeper is stopped only after a long wall time, so only an early stop ends it quickly
PATIENT = Limits(cpu_s=2, wall_s=120, memory_mb=512, output_mb=1)


def _problem(n: int) -> Problem:
    # test i gets input "i" and expects "i.5"
    return Problem("p", "p", "", "atcoder", "abc1", datetime(2024, 1, 1), "easy",
                   public_tests=[Case(f"{i}\n", f"{i}.5\n", "stdin") for i in range(n)])


#: what a program does on one test: the benchmark's comparison and the tolerant one both pass, only
#: the tolerant one does, neither does, a crash, output that is not UTF-8, or blocking forever
ACTIONS = {
    "right": "print(f'{i}.5')",
    "close": "print(f'{i}.5000000001')",
    "wrong": "print(i + 7)",
    "crash": "raise ValueError(i)",
    "binary": "sys.stdout.buffer.write(b'\\xff\\n')",
    "block": "time.sleep(10 ** 6)",
}


def _program(actions: list[str]) -> str:
    branches = "".join(f"{'if' if k == 0 else 'elif'} i == {k}:\n    {ACTIONS[a]}\n" for k, a in enumerate(actions))
    return f"import sys, time\ni = int(input())\n{branches}"


def test_a_failed_test_ends_the_program(stdin_problem, harness_records):
    # test 1 is wrong; test 2 would block until the long wall limit: the host's stop ends it at once
    p = _problem(3)
    records, skipped = harness_records([(p, _program(["wrong", "block", "right"])), (p, _program(["right"] * 3))], PATIENT)
    first = [r for r in records if r.get("job") == 0]
    assert [r.get("test") for r in first if "test" in r] == [0]
    assert {"job": 0, "skipped": 1} in first and skipped == {0}
    # the program after it runs all its tests
    assert [r["test"] for r in records if r.get("job") == 1 and "test" in r] == [0, 1, 2]


def test_a_failure_only_the_benchmark_sees_runs_the_rest():
    # the tolerant verdict reported beside the benchmark's needs every test: no stop on a 'close' answer
    p = _problem(3)
    v, = grade_batch([(p, _program(["close", "right", "close"]))], limits=FAST)
    assert (v.status, v.first_failure, v.tolerant_pass) == ("WA", 0, True)
    v, = grade_batch([(p, _program(["close", "right", "wrong"]))], limits=FAST)
    assert (v.status, v.first_failure, v.tolerant_pass) == ("WA", 0, False)


def _key(v):
    return (v.status, v.tests_passed, v.first_failure, v.message, v.diff, v.tolerant_pass)


@given(st.lists(st.lists(st.sampled_from(sorted(set(ACTIONS) - {"block"})), min_size=1, max_size=4),
                min_size=1, max_size=5))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_verdicts_are_those_of_a_run_without_early_stop(programs):
    items = [(_problem(len(acts)), _program(acts)) for acts in programs]
    with_stop = grade_batch(items, limits=FAST)
    without = grade_batch(items, limits=FAST, early_stop=False)
    assert [_key(v) for v in with_stop] == [_key(v) for v in without]


def test_programs_cannot_reach_the_channel(stdin_problem, harness_records):
    # the FIFOs are gone before any program runs, the harness's descriptors are closed in the child and
    # its /proc entry is not readable: a program looking for a way to talk to the host finds none
    code = r'''
import os, stat, sys
found = []
for root in ("/workspace", "/tmp", "/dev/shm"):
    for d, dirs, files in os.walk(root):
        for f in files + dirs:
            p = os.path.join(d, f)
            if stat.S_ISFIFO(os.lstat(p).st_mode) or "lcb-to" in f:
                found.append(p)
for fd in range(3, 256):
    try:
        os.fstat(fd)
        found.append(fd)
    except OSError:
        pass
try:
    found.append(os.listdir(f"/proc/{os.getppid()}/fd"))  # the harness, which holds the channel
except OSError:
    pass
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        for fd in range(256):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != "/dev/null":
                    open(f"/proc/{pid}/fd/{fd}", "rb").close()
                    found.append((pid, fd))
            except OSError:
                pass
print(sum(map(int, input().split())) if not found else found)
'''
    records, _ = harness_records([(stdin_problem, code)], FAST)
    v, = grade_batch([(stdin_problem, code)], limits=FAST)
    assert v.status == "AC", v


def test_a_stop_not_backed_by_a_failing_test_is_graded_again(stdin_problem, monkeypatch):
    # a host judge that calls every test a failure (as a forged record would) stops correct programs
    # early; with no failing test on their record they are graded again, without a channel, and pass
    monkeypatch.setattr(grader, "_judge", lambda items, tests, limits: (lambda job, rec: True))
    ok = "print(sum(map(int, input().split())))"
    wrong = "print(0)"
    verdicts = grade_batch([(stdin_problem, ok), (stdin_problem, wrong), (stdin_problem, ok)], limits=FAST)
    assert [(v.status, v.first_failure) for v in verdicts] == [("AC", None), ("WA", 0), ("AC", None)]


def test_cpu_limit_is_the_programs_own_cpu_time(stdin_problem):
    # the limit is read from the program's exact CPU time (what its verdict reports and what
    # time.process_time() sees), not from RLIMIT_CPU's tick samples, which run ahead on a loaded machine
    limits = Limits(cpu_s=2, wall_s=60, memory_mb=512, output_mb=1)
    under = ("import time\nwhile time.process_time() < 1.6:\n    pass\n"
             "print(sum(map(int, input().split())))")
    assert grade_batch([(stdin_problem, under)], limits=limits)[0].status == "AC"
    threads = ("import threading\ndef spin():\n    while True:\n        pass\n"
               "threading.Thread(target=spin).start()")
    for code in ("while True:\n    pass", threads):
        v, = grade_batch([(stdin_problem, code)], limits=limits)
        assert v.status == "TLE" and "CPU time" in v.message and v.cpu_s >= 2.0 - 0.02, v
