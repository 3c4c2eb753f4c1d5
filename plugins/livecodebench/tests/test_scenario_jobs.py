"""``generate --scenario selfrepair|codeexecution|testoutputprediction`` as kernel jobs: scripted
answers, real grading (the sandbox where programs run), the graded-outputs file, resuming, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
from skyplex.testing import ScriptedModelBackend

DATA = Path(__file__).resolve().parent / "data"
ITEMS = DATA / "execution_items.jsonl"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def kernel(tmp_path, graded_path):
    import skyplex_livecodebench.plugin as plugin

    items = _lines(ITEMS)
    right_1873 = next(r for r in json.loads(graded_path.read_text()) if r["question_id"] == "1873_A")["code_list"][0]

    class Models:
        @hookimpl
        def skyplex_register_models(self, register):
            register("executor", lambda: ScriptedModelBackend({
                items[0]["input"]: f"[THOUGHT]...[/THOUGHT]\n[ANSWER]\nassert {items[0]['input']} == {items[0]['output']}\n[/ANSWER]",
                items[1]["input"]: f"[ANSWER]\nassert {items[1]['input']} == 12345\n[/ANSWER]",
                "": "I would rather not say."}))
            register("predictor", lambda: ScriptedModelBackend({
                "countSeniors(details = ['7868190130M7522'": "```python\nassert countSeniors(details = []) == 2\n```",
                "": "```python\nassert f() == -1\n```"}))
            register("fixer", lambda: ScriptedModelBackend({
                "print('NO')": f"The program ignores the input.\n```python\n{right_1873}\n```",
                "": "no idea"}))

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("m", Models()), ("lcb", plugin)])
    with Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm) as k:
        yield k


def cli(kernel, args):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli as main

    return CliRunner().invoke(main, ["livecodebench", *args], obj=CliState(kernel_factory=lambda *a, **k: kernel))


@pytest.mark.usefixtures("sandbox_ok")
def test_code_execution_job_grades_and_resumes(kernel, tmp_path):
    out = tmp_path / "exec.json"
    args = ["generate", str(ITEMS), "--scenario", "codeexecution", "--cot", "--backend", "executor", "--limit", "3",
            "--out", str(out), "--json"]
    res = cli(kernel, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["scenario"] == "codeexecution" and data["passed"] == 1 and data["graded"] == 3
    records = json.loads(out.read_text())
    assert [r["graded_list"] for r in records] == [[True], [False], [False]]
    assert [json.loads(r["metadata"][0])["status"] for r in records] == ["AC", "WA", "NO_ANSWER"]
    assert records[0]["mode"] == "cot" and records[1]["code_list"] == ["12345"]
    backend = kernel.models.get("executor")
    calls = len(backend.calls)
    assert cli(kernel, args).exit_code == 0 and len(backend.calls) == calls   # every answer came from the cache
    res = cli(kernel, ["score", str(out), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["pass_at"]["pass@1"]["value"] == pytest.approx(1 / 3)


def test_test_output_job(kernel, problems_path, tmp_path):
    out = tmp_path / "tout.json"
    res = cli(kernel, ["generate", str(problems_path), "--scenario", "testoutputprediction", "--backend", "predictor",
                       "--limit", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "testoutputprediction: 4 items, 1 of 4 pass" in res.output
    records = json.loads(out.read_text())
    assert records[0]["question_id"] == "2727#0" and records[0]["graded_list"] == [True]
    assert records[0]["input"].startswith("countSeniors(details = ")
    assert all(r["graded_list"] == [False] for r in records[1:])


@pytest.mark.usefixtures("sandbox_ok")
def test_self_repair_job(kernel, problems_path, graded_path, tmp_path):
    firsts = [r for r in json.loads(graded_path.read_text()) if r["question_id"] in ("1873_A", "2727", "1873_B")]
    for r in firsts:
        if r["question_id"] == "1873_A":
            r["code_list"], r["graded_list"] = ["print('NO')"], [False]
        if r["question_id"] == "1873_B":
            r["code_list"], r["graded_list"] = ["print(0)"], [False]
    graded = tmp_path / "firsts.json"
    graded.write_text(json.dumps(firsts))
    out = tmp_path / "repaired.json"
    res = cli(kernel, ["generate", str(problems_path), "--scenario", "selfrepair", "--graded", str(graded),
                       "--backend", "fixer", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    by_id = {r["question_id"]: r for r in json.loads(out.read_text())}
    assert by_id["1873_A"]["first_graded_list"] == [False] and by_id["1873_A"]["graded_list"] == [True]
    assert by_id["1873_B"]["graded_list"] == [False]          # "no idea" has no code block
    assert json.loads(by_id["1873_B"]["metadata"][0])["status"] == "NO_CODE"
    assert by_id["2727"]["graded_list"] == [True] and by_id["2727"]["output_list"] == [""]   # passed: not asked
    asked = " ".join(str(c) for c in kernel.models.get("fixer").calls)
    assert asked.count("### Feedback:") == 2 and "Wrong Answer" in asked


@pytest.mark.parametrize("args,needle", [
    (["--scenario", "codegeneration", "--graded", "GRADED"], "--graded is for --scenario selfrepair"),
    (["--scenario", "testoutputprediction", "--cot"], "--cot is for --scenario codeexecution"),
    (["--scenario", "selfrepair"], "self-repair needs --graded"),
    (["--scenario", "testoutputprediction", "--start", "2023-08-01", "--end", "2023-08-31"], "no functional problems"),
    (["--scenario", "codeexecution"], "execution"),
    (["--scenario", "fortune"], "Invalid value for '--scenario'"),
])
def test_bad_input_is_one_line_exit_2(kernel, problems_path, graded_path, tmp_path, args, needle):
    args = [str(graded_path) if a == "GRADED" else a for a in args]
    res = cli(kernel, ["generate", str(problems_path), *args, "--backend", "predictor", "--out", str(tmp_path / "o.json")])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_samples_of_one_item_go_to_different_calls_with_different_seeds(tmp_path):
    from skyplex.interfaces import GenerationParams
    from skyplex_livecodebench.scenario_jobs import _answer_all

    class Recorder:
        def __init__(self):
            self.calls = []

        def generate(self, prompts, params):
            from types import SimpleNamespace

            self.calls.append((list(prompts), params.seed))
            return [SimpleNamespace(text=f"{p}@{params.seed}") for p in prompts]

    class Ctx:
        def progress(self, *a):
            pass

        def check_cancelled(self):
            pass

    model = Recorder()
    entries = [(f"item{i}#{j}", f"prompt{i}") for i in range(3) for j in range(3)]
    answers = _answer_all(Ctx(), model, entries, tmp_path / "c.jsonl", GenerationParams(temperature=0.8, seed=0), 0, 9,
                          chunk=3)
    assert all(len(set(prompts)) == len(prompts) for prompts, _ in model.calls)   # never one prompt twice per call
    assert len({seed for _, seed in model.calls}) == len(model.calls)
    assert len({answers[f"item0#{j}"] for j in range(3)}) == 3
