"""``generate`` as a kernel job: scripted answers, sandboxed grading, the eval_all output, and resuming."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.usefixtures("sandbox_ok")


def _cli(lcb_kernel, args):
    from skyplex.cli import CliState
    from skyplex.cli.main import cli

    return CliRunner().invoke(cli, args, obj=CliState(kernel_factory=lambda *a, **k: lcb_kernel))


def test_generate_grades_and_resumes(lcb_kernel, problems_path, tmp_path):
    out = tmp_path / "answers.json"
    args = ["livecodebench", "generate", str(problems_path), "--backend", "solver", "--out", str(out),
            "--start", "2023-05-13", "--end", "2023-05-13", "--json"]
    res = _cli(lcb_kernel, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    records = json.loads(out.read_text())
    assert data["passed"] == 1 and data["graded"] == len(records)
    by_id = {r["question_id"]: r for r in records}
    assert by_id["2727"]["graded_list"] == [True] and "countSeniors" in by_id["2727"]["code_list"][0]
    backend = lcb_kernel.models.get("solver")
    calls = len(backend.calls)
    # a rerun finds every answer in the cache and asks the model nothing
    assert _cli(lcb_kernel, args).exit_code == 0 and len(backend.calls) == calls
    # the result file is what `score` reads
    res = _cli(lcb_kernel, ["livecodebench", "score", str(out), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["pass_at"]["pass@1"]["value"] == pytest.approx(1 / len(records))


def test_generate_resumes_after_a_torn_cache_line(lcb_kernel, problems_path, tmp_path):
    out = tmp_path / "a.json"
    cache = tmp_path / "a.json.cache.jsonl"
    cache.write_text(json.dumps({"key": "2727#0", "text": "```python\nprint(1)\n```"}) + "\n" + '{"key": "27')
    res = _cli(lcb_kernel, ["livecodebench", "generate", str(problems_path), "--backend", "solver", "--out", str(out),
                            "--start", "2023-05-13", "--end", "2023-05-13", "--json"])
    assert res.exit_code == 0, res.output
    by_id = {r["question_id"]: r for r in json.loads(out.read_text())}
    assert by_id["2727"]["output_list"][0] == "```python\nprint(1)\n```"   # the cached answer was kept
    assert by_id["2727"]["graded_list"] == [False]


def test_generate_bad_input(lcb_kernel, problems_path, tmp_path):
    res = _cli(lcb_kernel, ["livecodebench", "generate", str(problems_path), "--backend", "solver", "--out",
                            str(tmp_path / "x.json"), "--start", "2031-01-01"])
    assert res.exit_code == 2 and "window" in res.output


@pytest.mark.slow
@pytest.mark.timeout(3600)  # only against a hang: the work is small, but a loaded machine may stretch it a lot
def test_generate_with_the_local_model(skyplex_local_backend, problems_path, tmp_path):
    # the real SmolLM2 answers two problems; whatever it writes is extracted and graded in the sandbox.
    # Kept small so load cannot push it past a limit: 48 tokens an answer, and 1 s of CPU per test, since
    # whatever the model writes may loop (and a CPU limit, unlike a wall clock, does not stretch with load)
    from skyplex import Kernel, Settings, hookimpl, make_plugin_manager
    import skyplex_livecodebench.plugin as plugin
    from skyplex_livecodebench.jobs import submit_generation

    class Local:
        @hookimpl
        def skyplex_register_models(self, register):
            register("smol", lambda: skyplex_local_backend)

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("m", Local()), ("lcb", plugin)])
    out = tmp_path / "smol.json"
    with Kernel(settings=Settings(data_dir=tmp_path / "d"), pm=pm) as kernel:
        job = submit_generation(kernel, problems=str(problems_path), backend="smol", out=str(out), limit=2,
                                max_tokens=48, cpu_s=1)
        done = kernel.jobs.wait(job.id)
    assert done.status == "succeeded", done.error
    records = json.loads(out.read_text())
    assert len(records) == 2 and all(len(r["graded_list"]) == 1 for r in records)
    assert all(json.loads(r["metadata"][0])["status"] in ("AC", "WA", "TLE", "RE", "MLE", "OLE", "NO_CODE")
               for r in records)
