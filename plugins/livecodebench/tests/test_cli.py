"""``skyplex livecodebench grade|score`` as typed, bad input as one line with exit 2, and the guide's commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "livecodebench.md"
DATA = "plugins/livecodebench/tests/data"


def run(args, lcb_kernel):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args, obj=CliState(kernel_factory=lambda *a, **k: lcb_kernel))


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[3])


@pytest.mark.usefixtures("sandbox_ok")
def test_grade_official_code(lcb_kernel, tmp_path):
    journal = tmp_path / "j.jsonl"
    res = run(["livecodebench", "grade", f"{DATA}/problems.jsonl", "--graded", f"{DATA}/o1_mini_graded.json",
               "--question", "2727", "--question", "1873_A", "--journal", str(journal), "--json"], lcb_kernel)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["passed"] == 2 and [v["status"] for v in data["verdicts"]] == ["AC", "AC"]
    assert len(journal.read_text().splitlines()) == 2


@pytest.mark.usefixtures("sandbox_ok")
def test_grade_one_file(lcb_kernel, tmp_path):
    code = tmp_path / "sol.py"
    code.write_text("print('NO')")
    res = run(["livecodebench", "grade", f"{DATA}/problems.jsonl", "--code", str(code), "--question", "1873_A"], lcb_kernel)
    assert res.exit_code == 0, res.output
    assert "WA" in res.output and "passed 0 of 1" in res.output


def test_score(lcb_kernel):
    res = run(["livecodebench", "score", f"{DATA}/o1_mini_graded.json", "--problems", f"{DATA}/problems.jsonl",
               "--cutoff", "2023-10-01", "--json"], lcb_kernel)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["problems"] == 25 and 0 < data["pass_at"]["pass@1"]["value"] < 1
    assert set(data["groups"]["window"]) == {"after_cutoff", "before_cutoff"}


@pytest.mark.parametrize("args,needle", [
    (["score", f"{DATA}/o1_mini_graded.json", "-k", "2"], "pass@2 needs 2 samples"),
    (["score", f"{DATA}/problems.jsonl"], "not valid JSON"),
    (["score", f"{DATA}/o1_mini_graded.json", "--cutoff", "soon"], "ISO date"),
    (["grade", f"{DATA}/problems.jsonl", "--question", "nope", "--graded", f"{DATA}/o1_mini_graded.json"], "question 'nope'"),
    (["grade", f"{DATA}/problems.jsonl"], "either --graded"),
    (["grade", f"{DATA}/README.md", "--graded", f"{DATA}/o1_mini_graded.json"], "not valid JSON"),
    (["grade", "missing.jsonl"], "does not exist"),
])
def test_bad_input_is_one_line_exit_2(lcb_kernel, args, needle):
    res = run(["livecodebench", *args], lcb_kernel)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def doc_commands() -> list[str]:
    text = DOC.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line for b in blocks for line in b.splitlines() if line.startswith("skyplex livecodebench")]


def test_doc_has_commands():
    assert len(doc_commands()) >= 3


@pytest.mark.usefixtures("sandbox_ok")
@pytest.mark.parametrize("command", [c for c in doc_commands() if " generate " not in c and "--executor ray" not in c])
def test_doc_commands_run_as_written(lcb_kernel, command):
    res = run(shlex.split(command)[1:], lcb_kernel)
    assert res.exit_code == 0, (command, res.output)


@pytest.mark.slow
@pytest.mark.usefixtures("sandbox_ok")
@pytest.mark.parametrize("command", [c for c in doc_commands() if " generate " in c])
def test_doc_generate_runs_with_the_local_model(skyplex_local_backend, tmp_path, command):
    from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
    import skyplex_livecodebench.plugin as plugin

    class Local:
        @hookimpl
        def skyplex_register_models(self, register):
            register("local", lambda: skyplex_local_backend)

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("m", Local()), ("lcb", plugin)])
    with Kernel(settings=Settings(data_dir=tmp_path / "d"), pm=pm) as kernel:
        res = run(shlex.split(command)[1:], kernel)
    assert res.exit_code == 0, (command, res.output)
    if "--scenario" in command:
        assert ": 2 items," in res.output and " pass -> /tmp/lcb-smol-" in res.output
    else:
        assert "2 problems x 1 answers" in res.output
