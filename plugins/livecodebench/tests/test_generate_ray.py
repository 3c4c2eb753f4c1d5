"""``generate --executor ray``: the generation job grades its answers as Ray tasks on a real local Ray
instance (started by the job itself, as the command does), with the same graded output as on threads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the plugin's [ray] extra (in its [test] extra) is not installed")

pytestmark = pytest.mark.usefixtures("sandbox_ok")


@pytest.fixture
def no_ray_running():
    if ray.is_initialized():
        ray.shutdown()
    yield
    ray.shutdown()


def _cli(lcb_kernel, args):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args, obj=CliState(kernel_factory=lambda *a, **k: lcb_kernel))


def _graded(path):
    return {r["question_id"]: (r["graded_list"], [json.loads(m)["status"] for m in r["metadata"]], r["code_list"])
            for r in json.loads(path.read_text())}


def test_generate_grades_on_ray_as_on_threads(lcb_kernel, problems_path, tmp_path, no_ray_running):
    common = ["livecodebench", "generate", str(problems_path), "--backend", "solver", "--limit", "6", "--json"]
    on_threads = _cli(lcb_kernel, common + ["--out", str(tmp_path / "threads.json")])
    assert on_threads.exit_code == 0, on_threads.output
    on_ray = _cli(lcb_kernel, common + ["--out", str(tmp_path / "ray.json"), "--executor", "ray"])
    assert on_ray.exit_code == 0, on_ray.output
    assert ray.is_initialized()  # the job started a local Ray instance and graded there
    assert _graded(tmp_path / "ray.json") == _graded(tmp_path / "threads.json")
    result = json.loads(on_ray.output)
    assert result["graded"] == 6 and result["passed"] == json.loads(on_threads.output)["passed"]
    # the verdict journal of the Ray run makes a rerun grade nothing again
    journal = tmp_path / "ray.json.verdicts.jsonl"
    assert len(journal.read_text().splitlines()) == 6


@pytest.mark.parametrize("extra,needle", [
    (["--executor", "ray", "--scenario", "testoutputprediction"], "codegeneration only"),
    (["--ray-address", "auto"], "--ray-address is for --executor ray"),
])
def test_generate_ray_options_bad_input(lcb_kernel, problems_path, tmp_path, extra, needle):
    res = _cli(lcb_kernel, ["livecodebench", "generate", str(problems_path), "--backend", "solver",
                            "--out", str(tmp_path / "x.json"), *extra])
    assert res.exit_code == 2 and needle in res.output, res.output


def test_submit_generation_refuses_an_unknown_executor(lcb_kernel, problems_path, tmp_path):
    from skyplex import InvalidInputError
    from skyplex_livecodebench.jobs import submit_generation

    with pytest.raises(InvalidInputError, match="executor must be"):
        submit_generation(lcb_kernel, problems=str(problems_path), backend="solver", out=str(tmp_path / "x.json"),
                          executor="dask")


def test_evaluator_grades_on_ray_as_on_threads(lcb_kernel, problems_path, no_ray_running):
    from skyplex import Subject, Suite

    ev = lcb_kernel.evaluators.get("livecodebench")
    options = {"problems": str(problems_path), "end": "2023-05-20"}  # the window holds countSeniors, which it solves
    on_threads = ev.evaluate([Subject(name="solver", backend="solver")], Suite(name="s", options=options))
    on_ray = ev.evaluate([Subject(name="solver", backend="solver")],
                         Suite(name="s", options={**options, "executor": "ray"}))
    assert ray.is_initialized()  # the evaluation started a local Ray instance and graded there
    statuses = lambda rep: [(i.item_id, i.data["status"]) for i in rep.items]  # noqa: E731
    assert statuses(on_ray) == statuses(on_threads) and any(s == "AC" for _, s in statuses(on_ray))
    assert [(s.metric, s.value) for s in on_ray.scores] == [(s.metric, s.value) for s in on_threads.scores]


@pytest.mark.parametrize("options,needle", [
    ({"executor": "dask"}, "executor must be"),
    ({"ray_address": "auto"}, "Ray address is for the ray executor"),
    ({"executor": "ray", "scenario": "testoutputprediction"}, "codegeneration' only"),
])
def test_evaluator_ray_options_bad_input(lcb_kernel, problems_path, options, needle):
    from skyplex import InvalidInputError, Subject, Suite

    ev = lcb_kernel.evaluators.get("livecodebench")
    with pytest.raises(InvalidInputError, match=needle):
        ev.evaluate([Subject(name="solver", backend="solver")],
                    Suite(name="s", options={"problems": str(problems_path), **options}))
