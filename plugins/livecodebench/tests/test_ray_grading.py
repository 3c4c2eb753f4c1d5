"""Grading on Ray (one local Ray instance for the module): the same verdicts as the local executor, a
worker killed mid-batch loses no finished verdict and the rerun grades only the rest, and the guide's
``--executor ray`` command as written."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the plugin's [ray] extra (in its [test] extra) is not installed")

pytestmark = pytest.mark.usefixtures("sandbox_ok")

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "livecodebench.md"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 << 20)
    yield
    ray.shutdown()


def _same(v) -> dict:
    d = v.to_dict() if hasattr(v, "to_dict") else dict(v)
    d.pop("cpu_s")  # measured CPU time varies from run to run; everything else is the verdict
    return d


def _edge_tasks(problems):
    """Programs for every verdict kind, on two committed problems (stdin 1873_A and functional 2727)."""
    stdin, func = problems["1873_A"], problems["2727"]
    return [
        (stdin, "print('NO')"),                                       # WA
        (stdin, "raise ValueError('boom')"),                          # RE
        (stdin, "while True:\n    pass"),                             # TLE (CPU limit)
        (stdin, "x = bytearray(1 << 34)"),                            # MLE
        (stdin, None),                                                # NO_CODE, never leaves the host
        (func, "class Solution:\n    def other(self):\n        return 1"),  # RE: no such method
        (func, "class Solution:\n    def countSeniors(self, details):\n        return 0"),  # WA
    ]


def test_ray_verdicts_equal_the_local_executor(problems, official):
    from skyplex_livecodebench.batch import grade_many
    from skyplex_livecodebench.grader import Limits

    tasks = [(problems[q], c) for q in official for c in official[q]["code_list"] if q in problems]
    tasks += _edge_tasks(problems)
    limits = Limits(cpu_s=1, memory_mb=256)
    local = grade_many(tasks, workers=2, limits=limits, batch=8)
    on_ray = grade_many(tasks, workers=4, limits=limits, batch=8, executor="ray")
    assert [_same(v) for v in on_ray] == [_same(v) for v in local]
    statuses = {v.status for v in on_ray}
    assert {"AC", "WA", "RE", "TLE", "MLE", "NO_CODE"} <= statuses


def _worker_running_a_sandbox() -> int | None:
    """The pid of a Ray worker executing a grading task that has a sandbox running under it."""
    parents: dict[int, int] = {}
    titles: dict[int, bytes] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            titles[int(name)] = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        parents[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    workers = {pid for pid, t in titles.items() if t.startswith(b"ray::grade_on_worker")}
    busy = {parents[pid] for pid in parents if parents[pid] in workers}
    return min(busy) if len(busy) == 1 else None


def test_a_killed_worker_loses_no_finished_verdict(problems, tmp_path):
    from skyplex.testing import wait_for
    from skyplex_livecodebench.batch import grade_many, task_key
    from skyplex_livecodebench.grader import Limits
    from skyplex_livecodebench.ray_grading import GradingInterrupted

    fast = [(problems[q], "print('NO')") for q in ("1873_A", "1873_B", "1873_D")]
    sleeper = (problems["1883_B"], "import time\ntime.sleep(600)")
    tasks = [*fast, sleeper]
    journal = tmp_path / "verdicts.jsonl"
    killed: list[int] = []

    def kill_the_sleepers_worker(done: int, total: int, qid: str) -> None:
        # called on the driver after each journaled verdict: once the fast batch is in, the only grading
        # task still running is the sleeper's, with its sandbox under it; kill its worker as a crash would
        if done == len(fast) and not killed:
            found: list[int] = []
            wait_for(lambda: found.append(_worker_running_a_sandbox() or 0) or found[-1], "the sleeper's Ray worker")
            os.kill(found[-1], signal.SIGKILL)
            killed.append(found[-1])

    # batches of 3: the fast programs, then the sleeper, which may block for ten minutes of wall time, so
    # the kill, not a limit, ends it
    with pytest.raises(GradingInterrupted, match="1 of 2 grading batches failed.*rerun with the same journal"):
        grade_many(tasks, workers=1, batch=3, limits=Limits(cpu_s=1, wall_s=600), journal=journal,
                   executor="ray", ray_retries=0, progress=kill_the_sleepers_worker)
    assert killed
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(r["key"] for r in lines) == sorted(task_key(p, c, i) for i, (p, c) in enumerate(fast))
    assert all(r["verdict"]["status"] == "WA" for r in lines)

    regraded: list[str] = []
    verdicts = grade_many(tasks, workers=1, batch=3, limits=Limits(cpu_s=1, wall_s=1), journal=journal,
                          executor="ray", progress=lambda d, t, q: regraded.append(q))
    assert regraded == ["1883_B"]                      # the finished verdicts came from the journal
    assert [v.status for v in verdicts] == ["WA", "WA", "WA", "TLE"]
    assert len(journal.read_text().splitlines()) == 4


def test_ray_retries_are_checked():
    from skyplex import InvalidInputError
    from skyplex_livecodebench.ray_grading import run_batches

    with pytest.raises(InvalidInputError, match="retries"):
        run_batches([], lambda i, v: None, retries=-1)


def _cli(args, kernel):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args, obj=CliState(kernel_factory=lambda *a, **k: kernel))


def test_the_guides_ray_command_runs_as_written(monkeypatch, lcb_kernel, problems, official):
    import re

    from skyplex_livecodebench.batch import grade_many

    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S)
    commands = [line for b in blocks for line in b.splitlines() if "--executor ray" in line]
    assert commands, "the guide shows grading with --executor ray"
    for command in commands:
        args = shlex.split(command)
        if "--journal" in args:  # a journal left by an earlier run would answer instead of Ray
            Path(args[args.index("--journal") + 1]).unlink(missing_ok=True)
        res = _cli(args[1:] + ["--json"], lcb_kernel)
        assert res.exit_code == 0, (command, res.output)
        data = json.loads(res.output)
        wanted = [q for q in problems if q in official]
        local = grade_many([(problems[q], c) for q in wanted for c in official[q]["code_list"]])
        assert [_same(v) for v in data["verdicts"]] == [{**_same(v), "official": official[v.question_id]["graded_list"]}
                                                        for v in local]


def test_bad_executor_input(monkeypatch, lcb_kernel):
    monkeypatch.chdir(ROOT)
    res = _cli(["livecodebench", "grade", "plugins/livecodebench/tests/data/problems.jsonl", "--graded",
                "plugins/livecodebench/tests/data/o1_mini_graded.json", "--ray-address", "auto"], lcb_kernel)
    assert res.exit_code == 2 and "--ray-address is for --executor ray" in res.output
    res = _cli(["livecodebench", "grade", "x.jsonl", "--executor", "dask"], lcb_kernel)
    assert res.exit_code == 2 and "Traceback" not in res.output
