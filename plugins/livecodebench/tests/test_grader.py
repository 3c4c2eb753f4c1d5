"""The sandboxed grader on real O1-Mini code and on hostile programs: each verdict read from the grader."""

from __future__ import annotations

import pytest
from skyplex import InvalidInputError
from skyplex_livecodebench.grader import Limits, extract_code, grade

pytestmark = pytest.mark.usefixtures("sandbox_ok")

FAST = Limits(cpu_s=2, wall_s=3, memory_mb=512, output_mb=1)


def test_official_verdicts_reproduced_on_slice(problems, official):
    # the slice's official AC programs pass the public tests here; disagreements must be explained
    for qid, problem in problems.items():
        v = grade(problem, official[qid]["code_list"][0])
        if official[qid]["graded_list"] == [True]:
            assert v.status == "AC", (qid, v)


def test_stdin_ac_and_wa_with_diff(stdin_problem):
    assert grade(stdin_problem, "a, b = map(int, input().split())\nprint(a + b)", limits=FAST).status == "AC"
    v = grade(stdin_problem, "a, b = map(int, input().split())\nprint(a - b)", limits=FAST)
    assert (v.status, v.first_failure) == ("WA", 0) and "- 7" in v.diff and "+ -1" in v.diff


def test_real_stdin_features(stdin_problem):
    # what in-process graders get wrong: threads printing, iterating sys.stdin, sys.stdin.buffer, quit()
    threaded = ("import threading\ndef f():\n    a, b = map(int, input().split())\n    print(a + b)\n"
                "t = threading.Thread(target=f); t.start()")
    assert grade(stdin_problem, threaded, limits=FAST).status == "AC"
    it = "import sys\nfor line in sys.stdin:\n    print(sum(map(int, line.split())))"
    assert grade(stdin_problem, it, limits=FAST).status == "AC"
    buf = "import sys\na, b = map(int, sys.stdin.buffer.read().split())\nprint(a + b)\nquit()"
    assert grade(stdin_problem, buf, limits=FAST).status == "AC"


def test_preamble_names_available(functional_problem):
    code = "class Solution:\n    def add(self, a: Any, b: Any) -> List[int]:\n        return a + b"
    assert grade(functional_problem, code, limits=FAST).status == "AC"


def test_functional_reuses_one_solution(functional_problem):
    code = ("class Solution:\n    def __init__(self):\n        self.calls = 0\n"
            "    def add(self, a, b):\n        self.calls += 1\n        return a + b if self.calls == 1 else [self.calls]")
    v = grade(functional_problem, code, limits=FAST)
    assert (v.status, v.first_failure) == ("WA", 1)


def test_functional_tuple_top_level_only(functional_problem):
    top = "class Solution:\n    def add(self, a, b):\n        return tuple(a + b) if isinstance(a, list) else a + b"
    assert grade(functional_problem, top, limits=FAST).status == "AC"
    nested = "class Solution:\n    def add(self, a, b):\n        return [tuple(a + b)] if isinstance(a, list) else a + b"
    assert grade(functional_problem, nested, limits=FAST).status == "WA"


def test_missing_method_is_clear(functional_problem):
    v = grade(functional_problem, "class Solution:\n    def other(self):\n        return 1", limits=FAST)
    assert v.status == "RE" and "no method 'add'" in v.message


def test_zero_tests_is_an_error(stdin_problem):
    stdin_problem.public_tests = []
    with pytest.raises(InvalidInputError, match="no public tests"):
        grade(stdin_problem, "print(1)")


def test_no_code_block():
    from skyplex_livecodebench.grader import Verdict  # noqa: F401

    assert extract_code("I think the answer is 7.") is None
    assert extract_code("x\n```python\nprint(1)\n```\ntext\n```\nprint(2)\n```") == "print(2)"


def test_no_code_verdict(stdin_problem):
    assert grade(stdin_problem, None).status == "NO_CODE"


@pytest.mark.parametrize("code,status", [
    ("while True:\n    pass", "TLE"),
    ("import time\ntime.sleep(10**6)", "TLE"),
    ("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", "OLE"),
    ("a = []\nwhile True:\n    a.append(bytearray(1 << 24))", "MLE"),
    ("raise ValueError('boom')", "RE"),
    ("import sys\nsys.stdout.buffer.write(b'\\xff\\xfe7\\n')", "WA"),
    ("def (:", "RE"),
])
def test_hostile_and_broken_programs(stdin_problem, code, status):
    v = grade(stdin_problem, code, limits=FAST)
    assert v.status == status, v
    assert v.first_failure == 0


def test_fork_bomb_is_contained(stdin_problem):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    assert grade(stdin_problem, code, limits=FAST).status == "TLE"
    # the grader still works afterwards (nothing left running in the way)
    assert grade(stdin_problem, "print(sum(map(int, input().split())))", limits=FAST).status == "AC"


def test_expected_outputs_are_not_on_disk(stdin_problem):
    # a program that searches everything it can read for the expected answer finds nothing to print
    code = r'''
import os
hits = []
for root in ("/workspace", "/tmp", "/proc/1", "/proc/2"):
    for d, _, files in os.walk(root):
        for f in files:
            try:
                data = open(os.path.join(d, f), "rb").read(1 << 20)
            except Exception:
                continue
            if b'"output"' in data or b"7\n8" in data:
                hits.append(os.path.join(d, f))
print(hits)
'''
    v = grade(stdin_problem, code, limits=FAST)
    assert v.status == "WA" and "[]" in v.diff, v


def test_leftover_process_cannot_answer_later_tests(stdin_problem):
    # test 1 leaves a daemon that writes the right answer for test 2 into the output file: it is killed first
    code = ('import os, sys, time\nline = input()\nif line == "3 4":\n    print(7)\n    sys.stdout.flush()\n'
            '    if os.fork() == 0:\n        time.sleep(0.3)\n        open("/tmp/out", "w").write("8\\n")\n'
            '        os._exit(0)\nelse:\n    time.sleep(1)\n')
    v = grade(stdin_problem, code, limits=FAST)
    assert (v.status, v.first_failure) == ("WA", 1), v


def test_programs_sharing_a_run_do_not_see_each_other(stdin_problem):
    from skyplex_livecodebench.grader import grade_batch

    litter = ("import os, subprocess\nopen('/tmp/answer', 'w').write('7')\nopen('/workspace/answer', 'w').write('7')\n"
              "os.makedirs('/tmp/d/e', exist_ok=True)\nsubprocess.Popen(['sleep', '1000'])\nprint(0)")
    look = ("import os, sys\nleft = [p for p in ('/tmp/answer', '/workspace/answer', '/tmp/d') if os.path.exists(p)]\n"
            "procs = [p for p in os.listdir('/proc') if p.isdigit() and int(p) > 3 and int(p) != os.getpid()]\n"
            "print(sum(map(int, input().split())) if not left and not procs else (left, procs))")
    verdicts = grade_batch([(stdin_problem, litter), (stdin_problem, look)], limits=FAST)
    assert [v.status for v in verdicts] == ["WA", "AC"], verdicts


def test_batch_resumes_after_a_program_ends_the_run(stdin_problem):
    # the first program is killed with the whole run (its process limit exhausted by sleepers that
    # outlive nothing); the batch still grades the programs after it in a fresh run
    from skyplex_livecodebench.grader import grade_batch

    hog = "import os\nos.kill(1, 9)\nos.kill(os.getppid(), 9)\nprint(7)"
    ok = "print(sum(map(int, input().split())))"
    verdicts = grade_batch([(stdin_problem, ok), (stdin_problem, hog), (stdin_problem, ok)], limits=FAST)
    assert verdicts[0].status == "AC" and verdicts[2].status == "AC"
    assert verdicts[1].status in ("RE", "WA"), verdicts[1]


def test_wall_limit_spares_busy_programs_but_not_sleepers(stdin_problem):
    # past the wall limit a program still burning CPU keeps running (its CPU limit decides); a sleeper is stopped
    busy = Limits(cpu_s=3, wall_s=0.5, memory_mb=512, output_mb=1)
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.5:\n    pass\nprint(sum(map(int, input().split())))"
    assert grade(stdin_problem, spin, limits=busy).status == "AC"
    assert grade(stdin_problem, "import time\ntime.sleep(30)", limits=busy).status == "TLE"
