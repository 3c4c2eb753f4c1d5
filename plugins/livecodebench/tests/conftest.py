"""Fixtures for the LiveCodeBench tests: the committed slice of release_v1 and O1-Mini's graded code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
from skyplex.testing import ScriptedModelBackend

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def problems_path() -> Path:
    return DATA / "problems.jsonl"


@pytest.fixture(scope="session")
def graded_path() -> Path:
    return DATA / "o1_mini_graded.json"


@pytest.fixture(scope="session")
def problems(problems_path):
    from skyplex_livecodebench.problems import load_problems

    return {p.question_id: p for p in load_problems(problems_path)}


@pytest.fixture(scope="session")
def official(graded_path) -> dict:
    return {r["question_id"]: r for r in json.loads(graded_path.read_text())}


@pytest.fixture(scope="session")
def sandbox_ok():
    from skyplex.sandbox import available

    ok, why = available()
    if not ok:
        pytest.skip(f"sandbox unavailable: {why}")
    return True


@pytest.fixture
def stdin_problem():
    from skyplex_livecodebench.problems import Problem, TestCase
    from datetime import datetime

    return Problem("sum", "sum", "", "atcoder", "abc1", datetime(2024, 1, 1), "easy",
                   public_tests=[TestCase("3 4\n", "7\n", "stdin"), TestCase("10 -2\n", "8\n", "stdin")])


@pytest.fixture
def functional_problem():
    from skyplex_livecodebench.problems import Problem, TestCase
    from datetime import datetime

    return Problem("add", "add", "", "leetcode", "w1", datetime(2024, 1, 1), "easy", func_name="add",
                   public_tests=[TestCase("1\n2", "3", "functional"), TestCase("[1]\n[2]", "[1, 2]", "functional")])


SOLVE = "```python\nclass Solution:\n    def countSeniors(self, details):\n        return sum(int(d[11:13]) > 60 for d in details)\n```"


class Models:
    @hookimpl
    def skyplex_register_models(self, register):
        register("solver", lambda: ScriptedModelBackend({"countSeniors": SOLVE, "": "no code here"}))


@pytest.fixture
def lcb_kernel(tmp_path):
    import skyplex_livecodebench.plugin as plugin

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("models", Models()), ("livecodebench", plugin)])
    with Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm) as kernel:
        yield kernel


@pytest.fixture
def harness_records():
    """``run(items, limits, channel=True)``: the harness's stdout records of one sandboxed run over
    ``items`` ((problem, code) pairs) with the host's live judge, and the jobs the judge stopped.
    With ``channel``, skips where the harness could not open its channel (then every test runs)."""
    from skyplex_livecodebench import grader

    def run(items, limits, channel: bool = True):
        jobs = [{"code": c, "kind": p.kind, "func_name": p.func_name, "inputs": [t.input for t in p.public_tests],
                 "cpu_s": limits.cpu_s, "wall_s": limits.wall, "memory_mb": limits.memory_mb,
                 "output_bytes": limits.output_mb << 20} for p, c in items]
        res, skipped = grader._run_jobs(jobs, limits, 256, 1, grader._judge(items, "public", limits))
        records = [json.loads(line) for line in res.stdout.decode().splitlines()]
        if channel and not records[0].get("channel"):
            pytest.skip("the harness could not open its channel in this sandbox (FIFOs refused); every test runs then")
        return records, skipped

    return run
