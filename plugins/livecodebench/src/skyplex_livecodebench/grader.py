"""The sandboxed grader: each program runs as a real process in the kernel sandbox, tests compared on the host.

One sandbox run per (problem, program): a small harness inside (``sandbox_harness.py``) forks a child
per stdin test (one child for all functional tests, reusing one ``Solution()`` as the benchmark does)
with CPU-time, memory and output limits, and returns raw outputs. Expected outputs never enter the
sandbox. Verdicts follow the benchmark: tests in order, the first failing test decides; the host
tells the harness over a live channel when a test has failed, so the rest are not run.
"""

from __future__ import annotations

import base64
import json
import signal
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Sequence

from skyplex import InvalidInputError

from .compare import compare_stdout, compare_stdout_tolerant, compare_value, compare_value_tolerant, line_diff
from .problems import Problem, TestCase

Status = Literal["AC", "WA", "TLE", "RE", "MLE", "OLE", "NO_CODE", "NO_ANSWER"]
EXIT_MEMORY, EXIT_NO_METHOD = 3, 4


@dataclass(frozen=True)
class Limits:
    """Per-test limits. ``cpu_s`` is CPU time (RLIMIT_CPU), so verdicts do not move with machine load;
    past ``wall_s`` (default ``2 * cpu_s + 2``) a program is stopped only if its CPU time has stopped
    moving (it sleeps or blocks), or at the latest after ``max(5 * wall_s, 10 * cpu_s)``."""

    cpu_s: int = 6
    wall_s: float | None = None
    memory_mb: int = 2048
    output_mb: int = 16

    def __post_init__(self) -> None:
        if self.cpu_s <= 0 or self.memory_mb < 64 or self.output_mb <= 0:
            raise InvalidInputError("limits: cpu_s and output_mb must be positive and memory_mb at least 64")

    @property
    def wall(self) -> float:
        return self.wall_s if self.wall_s is not None else 2.0 * self.cpu_s + 2.0


@dataclass
class Verdict:
    """The outcome of grading one program on one problem's tests."""

    question_id: str
    status: Status
    tests_total: int
    tests_passed: int = 0
    first_failure: int | None = None
    message: str = ""
    diff: str = ""
    #: the float-tolerant checker's opinion (reported beside the benchmark's verdict, never instead of it)
    tolerant_pass: bool | None = None
    cpu_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "AC"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def extract_code(answer: str) -> str | None:
    """The benchmark's rule: the text between the last two lines that start with a code fence."""
    lines = answer.split("\n")
    fences = [i for i, line in enumerate(lines) if line.startswith("```")]
    if len(fences) < 2:
        return None
    return "\n".join(lines[fences[-2] + 1: fences[-1]])


@lru_cache(maxsize=1)
def _harness_source() -> str:
    return resources.files("skyplex_livecodebench").joinpath("sandbox_harness.py").read_text()


@lru_cache(maxsize=8)
def _sandbox(limits: Limits, tests_in_run: int, input_mb: int):
    from skyplex.sandbox import Sandbox, SandboxPolicy

    tmp = 2 * limits.output_mb + input_mb + 16
    return Sandbox(SandboxPolicy(
        memory_mb=limits.memory_mb + 256, cpu_seconds=60 + tests_in_run, wall_timeout_s=max(5 * limits.wall, 10 * limits.cpu_s) * tests_in_run + 30,
        tmp_size_mb=tmp, disk_mb=16 + input_mb, file_size_mb=limits.output_mb + 1,
        max_output_bytes=min(1 << 30, (limits.output_mb << 21) + (1 << 20) * tests_in_run), processes=64,
        extra_env={"SKYPLEX_LCB_IN_SANDBOX": "1", "PYTHONDONTWRITEBYTECODE": "1"}))


def _round_up(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()  # few distinct policies, so the sandbox cache stays small


#: runs with fewer tests than this share one policy: each distinct policy is a Sandbox whose first run
#: pays an availability probe (a sandbox start), and the run-level bounds it sets are only backstops
#: behind the harness's per-test limits
POLICY_TESTS = 256


def grade(problem: Problem, code: str | None, *, tests: Literal["public", "private", "all"] = "public",
          limits: Limits | None = None) -> Verdict:
    """Grade ``code`` (already extracted; None means the answer had no code block) on ``problem``'s tests."""
    return grade_batch([(problem, code)], tests=tests, limits=limits)[0]


def grade_batch(items: Sequence[tuple[Problem, str | None]], *, tests: Literal["public", "private", "all"] = "public",
                limits: Limits | None = None, early_stop: bool = True) -> list[Verdict]:
    """Grade several programs in one sandbox run (they run one after another; between programs every
    process is killed and the writable places are emptied). A run that ends early is resumed for the
    programs it did not reach, so one program exhausting the run's memory decides only its own verdict.
    With ``early_stop`` the host compares each stdin test's output as it comes (:mod:`.channel`) and a
    program's remaining tests are not run once one has failed; the verdicts are the same either way."""
    limits = limits or Limits()
    verdicts: list[Verdict | None] = [None] * len(items)
    pending = []
    for idx, (problem, code) in enumerate(items):
        cases = problem.tests(tests)
        if not cases:
            raise InvalidInputError(f"problem {problem.question_id} has no {tests} tests; a problem without tests "
                                    "cannot be graded (it would pass anything)")
        if code is None or not code.strip():
            verdicts[idx] = Verdict(problem.question_id, "NO_CODE", len(cases), first_failure=0,
                                    message="the answer has no fenced code block")
        else:
            pending.append(idx)
    no_channel: set[int] = set()  # programs graded again because a skip was not backed by a failing test
    while pending:
        jobs = []
        for idx in pending:
            problem, code = items[idx]
            jobs.append({"code": code, "kind": problem.kind, "func_name": problem.func_name,
                         "inputs": [c.input for c in problem.tests(tests)], "cpu_s": limits.cpu_s,
                         "wall_s": limits.wall, "memory_mb": limits.memory_mb, "output_bytes": limits.output_mb << 20})
        n_tests = sum(len(j["inputs"]) for j in jobs)
        input_mb = 1 + (max(len(t) for j in jobs for t in j["inputs"]) >> 20)
        run_items = [items[idx] for idx in pending]
        judge = None if not early_stop or no_channel.intersection(pending) else _judge(run_items, tests, limits)
        res, skipped = _run_jobs(jobs, limits, _round_up(max(n_tests, POLICY_TESTS)), _round_up(input_mb), judge)
        records: list[dict] = []
        for line in res.stdout.decode("utf-8", "replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
        if not records or not records[0].get("ready"):
            why = res.killed_by or res.stderr.decode("utf-8", "replace").strip()[-300:] or f"exit {res.returncode}"
            idx = pending[0]
            verdicts[idx] = _sandbox_end(items[idx][0], len(items[idx][0].tests(tests)), 0, res.killed_by,
                                         f"the grading harness did not start: {why}")
            pending = pending[1:]
            continue
        started = {r["job"] for r in records if r.get("start")}
        if not started:  # the harness read nothing: charge the first program so the loop always advances
            idx = pending.pop(0)
            verdicts[idx] = _sandbox_end(items[idx][0], len(items[idx][0].tests(tests)), 0, res.killed_by,
                                         "the grading harness stopped before running the program")
            continue
        still = []
        for j, idx in enumerate(pending):
            if j not in started:
                still.append(idx)
                continue
            problem = items[idx][0]
            cases = problem.tests(tests)
            mine = [r for r in records if r.get("job") == j and not r.get("start") and not r.get("end")]
            ended = any(r.get("job") == j and r.get("end") for r in records)
            killed = None if ended else (res.killed_by or "signal")
            if problem.kind == "functional":
                verdicts[idx] = _functional(problem, cases, mine, killed, limits)
            else:
                verdicts[idx] = _stdin(problem, cases, mine, killed, limits)
            cut = [r["skipped"] for r in mine if "skipped" in r]
            if cut and not _skip_backed(verdicts[idx], cut[0], j in skipped):
                verdicts[idx] = None  # stopped early without a failing test on record: grade it again
                no_channel.add(idx)
                still.append(idx)
        pending = sorted(still)
    return [v for v in verdicts if v is not None]


def _judge(run_items: Sequence[tuple[Problem, str | None]], tests: str, limits: Limits):
    """For the live channel: does this test record (a stdin test's process record, or a functional
    test's returned value) fail its test, by the benchmark's comparison and by the tolerant one (a
    failure only the exact comparison sees leaves the rest to run, since the tolerant verdict beside it
    needs them)?"""
    cases = [p.tests(tests) for p, _ in run_items]
    functional = [p.kind == "functional" for p, _ in run_items]

    def fails(job: int, rec: dict) -> bool:
        test = rec.get("test")
        if not isinstance(test, int) or not 0 <= job < len(cases) or not 0 <= test < len(cases[job]):
            return False
        if functional[job]:
            if "value" not in rec:
                return False
            got, expected = decode_value(rec["value"]), json.loads(cases[job][test].output)
            return not compare_value(got, expected) and not compare_value_tolerant(got, expected)
        if _runtime_status(rec, limits) is not None:
            return True
        try:
            got = base64.b64decode(rec.get("stdout", "")).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return True
        expected = cases[job][test].output
        return not compare_stdout(got, expected)[0] and not compare_stdout_tolerant(got, expected)

    return fails


def _skip_backed(verdict: Verdict, skipped_at: int, host_skipped: bool) -> bool:
    """A job the harness stopped early is graded only if the host asked for it and a test before the
    stop failed on the record (the verdict's first failure; for a functional job, a result in its
    results file), so early stops never decide a verdict."""
    return host_skipped and verdict.first_failure is not None and verdict.first_failure < skipped_at \
        and verdict.status != "AC"


def _run_jobs(jobs: list[dict], limits: Limits, tests_in_run: int, input_mb: int, judge=None):
    """One sandbox run of the harness over ``jobs``: (the run's result, the jobs the host told to stop).
    With ``judge`` the harness gets a live channel to the host (:mod:`.channel`)."""
    from skyplex.sandbox import SandboxUnavailable

    from .channel import LiveChannel

    for attempt in (0, 1):
        sb = _sandbox(limits, tests_in_run, input_mb)
        try:
            with sb.temp_workspace(prefix="skyplex-lcb-") as ws:
                (ws / "job.json").write_text(json.dumps({"jobs": jobs, "channel": judge is not None}))
                (ws / "harness.py").write_text(_harness_source())
                if judge is None:
                    return sb.run(["/usr/bin/python3", "-I", "harness.py"], workspace=ws), set()
                with LiveChannel(ws, judge) as channel:
                    res = sb.run(["/usr/bin/python3", "-I", "harness.py"], workspace=ws)
                return res, channel.skipped
        except SandboxUnavailable:
            # a Sandbox caches its availability probe, and on a heavily loaded host that probe can fail
            # transiently: probe once more with a fresh Sandbox before refusing (still failing closed)
            _sandbox.cache_clear()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _sandbox_end(problem: Problem, total: int, index: int, killed_by: str | None, message: str) -> Verdict:
    status: Status = {"memory": "MLE", "timeout": "TLE", "cpu": "TLE", "output": "OLE"}.get(killed_by or "", "RE")
    return Verdict(problem.question_id, status, total, index, index, message)


def _runtime_status(rec: dict[str, Any], limits: Limits) -> tuple[Status, str] | None:
    """The verdict a test's process end implies, or None when it ended normally."""
    sig, code = rec.get("signal"), rec.get("exit")
    if rec.get("walled"):
        return "TLE", f"still running after {rec.get('wall', limits.wall):.1f} s wall time, sleeping or blocked"
    # the harness stops a stdin test at its CPU limit (cpu_limit); SIGXCPU is the rlimit backstop
    if rec.get("cpu_limit") or sig == signal.SIGXCPU or (sig == signal.SIGKILL
                                                         and rec.get("cpu", 0) >= limits.cpu_s - 0.05):
        return "TLE", f"used more than {limits.cpu_s} s of CPU time"
    if sig == signal.SIGXFSZ or rec.get("stdout_size", 0) > (limits.output_mb << 20):
        return "OLE", f"wrote more than {limits.output_mb} MB of output"
    if code == EXIT_MEMORY or (sig is not None and rec.get("rss_kb", 0) * 1024 > 0.9 * (limits.memory_mb << 20)):
        return "MLE", f"ran out of its {limits.memory_mb} MB of memory"
    if sig is not None:
        return "RE", f"killed by signal {signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig}"
    if code not in (0, None):
        tail = (rec.get("stderr") or "").strip().splitlines()
        return "RE", (tail[-1] if tail else f"exit status {code}")[:500]
    return None


def _stdin(problem: Problem, cases: Sequence[TestCase], recs: list[dict], killed_by: str | None,
           limits: Limits) -> Verdict:
    total, cpu, tolerant = len(cases), 0.0, True
    by_test = {r.get("test"): r for r in recs}
    for i, case in enumerate(cases):
        rec = by_test.get(i)
        if rec is None:
            v = _sandbox_end(problem, total, i, killed_by, f"test {i + 1}: the sandbox ended the run ({killed_by})")
            v.cpu_s = cpu
            return v
        cpu += float(rec.get("cpu", 0.0))
        bad = _runtime_status(rec, limits)
        if bad:
            return Verdict(problem.question_id, bad[0], total, i, i, f"test {i + 1}: {bad[1]}", cpu_s=cpu)
        raw = base64.b64decode(rec.get("stdout", ""))
        try:
            got = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Verdict(problem.question_id, "WA", total, i, i, f"test {i + 1}: output is not valid UTF-8",
                           tolerant_pass=False, cpu_s=cpu)
        ok, why = compare_stdout(got, case.output)
        tolerant = tolerant and compare_stdout_tolerant(got, case.output)
        if not ok:
            rest = all(compare_stdout_tolerant(_out(by_test.get(j)), c.output) for j, c in enumerate(cases) if j > i)
            return Verdict(problem.question_id, "WA", total, i, i, f"test {i + 1}: {why}", line_diff(got, case.output),
                           tolerant_pass=tolerant and rest, cpu_s=cpu)
    return Verdict(problem.question_id, "AC", total, total, None, "", tolerant_pass=tolerant, cpu_s=cpu)


def _out(rec: dict | None) -> str:
    if rec is None or rec.get("exit") != 0:
        return "\x00<not run>"
    return base64.b64decode(rec.get("stdout", "")).decode("utf-8", "replace")


class _Opaque:
    """A result the harness could only describe (its repr): equal to nothing."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return self.text


def decode_value(v: Any) -> Any:
    """Rebuild a functional result from the harness's tagged JSON (tuples, sets and dicts kept apart)."""
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "f" in v:
        return float(v["f"])
    if "t" in v:
        return tuple(decode_value(x) for x in v["t"])
    try:
        if "s" in v:
            items = [decode_value(x) for x in v["s"]]
            return frozenset(items) if v.get("frozen") else set(items)
        if "d" in v:
            return {decode_value(k): decode_value(x) for k, x in v["d"]}
    except TypeError:
        return _Opaque(str(v)[:200])
    return _Opaque(str(v.get("r", v))[:200])


def _functional(problem: Problem, cases: Sequence[TestCase], recs: list[dict], killed_by: str | None,
                limits: Limits) -> Verdict:
    total = len(cases)
    if not recs:
        return _sandbox_end(problem, total, 0, killed_by, f"the sandbox ended the run ({killed_by})")
    rec = recs[0]
    cpu = float(rec.get("cpu", 0.0))
    values = {r["test"]: r["value"] for r in rec.get("results", []) if "test" in r}
    errors = [r for r in rec.get("results", []) if "error" in r or "missing" in r]
    tolerant = True
    for i, case in enumerate(cases):
        try:
            expected = json.loads(case.output)
        except ValueError:
            raise InvalidInputError(f"problem {problem.question_id} test {i + 1}: expected output is not JSON") from None
        if i not in values:
            if errors and "missing" in errors[0]:
                msg = f"the program has no method {errors[0]['missing']!r} (class Solution or a function)"
                return Verdict(problem.question_id, "RE", total, i, i, msg, cpu_s=cpu)
            bad = _runtime_status(rec, limits)
            if bad is None:
                bad = ("RE", errors[0]["error"][:500] if errors else "the program stopped before returning a result")
            elif errors and bad[0] == "RE":
                bad = ("RE", errors[0]["error"][:500])
            return Verdict(problem.question_id, bad[0], total, i, i, f"test {i + 1}: {bad[1]}", cpu_s=cpu)
        got = decode_value(values[i])
        tolerant = tolerant and compare_value_tolerant(got, expected)
        if not compare_value(got, expected):
            return Verdict(problem.question_id, "WA", total, i, i, f"test {i + 1}: returned {repr(got)[:200]}, "
                           f"expected {repr(expected)[:200]}", tolerant_pass=tolerant and all(
                               j in values and compare_value_tolerant(decode_value(values[j]), json.loads(c.output))
                               for j, c in enumerate(cases) if j > i), cpu_s=cpu)
    return Verdict(problem.question_id, "AC", total, total, None, tolerant_pass=tolerant, cpu_s=cpu)
