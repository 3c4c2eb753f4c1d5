"""The harness builds the preamble's namespace once and copies it per test: the names bound by
``from sys import *`` must still be the test's own redirected streams, and nothing one program
changes may reach the next program in the same sandbox run."""

from __future__ import annotations

import pytest

from skyplex_livecodebench.grader import Limits, grade_batch

pytestmark = pytest.mark.usefixtures("sandbox_ok")
FAST = Limits(cpu_s=2)


def test_preamble_stream_names_are_the_tests_own(stdin_problem):
    programs = [
        "a, b = map(int, stdin.readline().split())\nstdout.write(str(a + b) + '\\n')",
        "a, b = map(int, stdin.read().split())\nprint(a + b, file=stdout)\nprint('noise', file=stderr)",
        "import sys\na, b = map(int, sys.stdin.readline().split())\nsys.stdout.write(f'{a + b}\\n')",
        "a, b = map(int, input().split())\nprint(a + b)",
    ]
    verdicts = grade_batch([(stdin_problem, p) for p in programs], limits=FAST)
    assert [v.status for v in verdicts] == ["AC"] * len(programs), [v.message for v in verdicts]


def test_changes_to_shared_modules_do_not_leak(stdin_problem, functional_problem):
    poison = ("import math, collections, builtins\nmath.gcd = lambda *a: 0\ncollections.Counter = None\n"
              "builtins.print = lambda *a, **k: None\nsum = lambda *a: -1\nsetrecursionlimit(100)\n"
              "a, b = map(int, input().split())\nprint(a + b)")
    check = ("import sys\nassert math.gcd(4, 6) == 2 and Counter('aa')['a'] == 2 and gcd(9, 6) == 3\n"
             "assert sys.getrecursionlimit() == 50000\n"
             "a, b = map(int, input().split())\nprint(sum([a, b]))")
    func_check = ("class Solution:\n    def add(self, a, b):\n        assert math.gcd(4, 6) == 2 and Counter('a')['a'] == 1\n"
                  "        return a + b")
    verdicts = grade_batch([(stdin_problem, poison), (stdin_problem, check), (functional_problem, func_check),
                            (stdin_problem, check)], limits=FAST)
    # the preamble bound print from builtins, so the poisoner still prints; the others see nothing of it
    assert [v.status for v in verdicts] == ["AC", "AC", "AC", "AC"], [v.message for v in verdicts]
