"""The ``livecodebench`` evaluator's other three scenarios (code execution, test output prediction,
self-repair) through the kernel's evaluator interface.

Scripted models (the kernel's ``ScriptedModelBackend``) write answers whose verdicts are known, since
the 135M local model cannot be relied on to produce a right answer; the slow test runs every scenario
with the real SmolLM2 and checks that whatever it writes is graded and scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from skyplex import InvalidInputError, Kernel, Settings, Subject, Suite, hookimpl, make_plugin_manager
from skyplex.testing import ScriptedModelBackend

pytestmark = pytest.mark.usefixtures("sandbox_ok")

DATA = Path(__file__).resolve().parent / "data"
ITEMS = DATA / "execution_items.jsonl"
DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "livecodebench.md"
STATUSES = {"AC", "WA", "TLE", "RE", "MLE", "OLE", "NO_CODE", "NO_ANSWER"}

# a correct maximumOr (problem 2730, which O1-Mini's official attempt fails): the best is to spend all k
# doublings on one element, so try each with the OR of the others from prefix and suffix ORs
MAXIMUM_OR = """```python
class Solution:
    def maximumOr(self, nums, k):
        n = len(nums)
        prefix, suffix = [0] * (n + 1), [0] * (n + 1)
        for i, x in enumerate(nums):
            prefix[i + 1] = prefix[i] | x
        for i in range(n - 1, -1, -1):
            suffix[i] = suffix[i + 1] | nums[i]
        return max(prefix[i] | (nums[i] << k) | suffix[i + 1] for i in range(n))
```"""


def _items(count: int) -> list[dict]:
    return [json.loads(line) for line in ITEMS.read_text().splitlines()[:count]]


def _models() -> dict[str, ScriptedModelBackend]:
    first, second, third = _items(3)
    return {
        # right value, wrong value, and the call itself (not a literal, so it cannot pass by running)
        "executor": ScriptedModelBackend([f"[ANSWER]assert {first['input']} == {first['output']}[/ANSWER]",
                                          f"[ANSWER]assert {second['input']} == 41[/ANSWER]",
                                          f"[ANSWER]assert {third['input']} == {third['input']}[/ANSWER]"]),
        # countSeniors' first two public tests expect 2 and 0
        "predictor": ScriptedModelBackend(["```python\nassert countSeniors(details = []) == 2\n```",
                                           "```python\nassert countSeniors(details = []) == 3\n```"]),
        "repairer": ScriptedModelBackend({"maximumOr": MAXIMUM_OR, "": "I cannot fix this."}),
    }


@pytest.fixture
def scenario_kernel(tmp_path):
    import skyplex_livecodebench.plugin as plugin

    backends = _models()

    class Models:
        @hookimpl
        def skyplex_register_models(self, register):
            for name, backend in backends.items():
                register(name, lambda b=backend: b)

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("models", Models()), ("lcb", plugin)])
    with Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm) as kernel:
        kernel.scripted = backends  # type: ignore[attr-defined]
        yield kernel


def _evaluate(kernel, backend: str, options: dict, progress=None):
    ev = kernel.evaluators.get("livecodebench")
    return ev.evaluate([Subject(name=backend, backend=backend)], Suite(name="s", options=options), progress=progress)


def _pass1(report) -> float:
    return next(s.value for s in report.scores if s.metric == "pass@1")


def test_code_execution(scenario_kernel):
    seen = []
    rep = _evaluate(scenario_kernel, "executor", {"scenario": "codeexecution", "problems": str(ITEMS), "limit": 3,
                                                  "cutoff": "2023-05-01"}, progress=lambda d, t, m: seen.append((d, t)))
    ids = [i["id"] for i in _items(3)]
    assert [(i.item_id, i.data["status"]) for i in rep.items] == list(zip(ids, ["AC", "WA", "NO_ANSWER"]))
    assert _pass1(rep) == pytest.approx(1 / 3)
    assert rep.metadata == {"scenario": "codeexecution", "items": 3, "samples_per_item": 1}
    assert any(s.metric == "pass@1[window=after_cutoff]" for s in rep.scores)
    assert seen and seen[-1][0] == seen[-1][1] and all(d <= t for d, t in seen)
    prompt = json.dumps([m.model_dump() for m in scenario_kernel.scripted["executor"].calls[0][0][0]])
    assert "[THOUGHT]" not in prompt                         # direct unless cot is asked for


def test_code_execution_chain_of_thought(scenario_kernel):
    rep = _evaluate(scenario_kernel, "executor", {"scenario": "codeexecution", "problems": str(ITEMS), "limit": 3,
                                                  "cot": True})
    assert [i.data["status"] for i in rep.items] == ["AC", "WA", "NO_ANSWER"]
    prompt = json.dumps([m.model_dump() for m in scenario_kernel.scripted["executor"].calls[0][0][0]])
    assert "[THOUGHT]" in prompt


def test_test_output_prediction(scenario_kernel):
    rep = _evaluate(scenario_kernel, "predictor", {"scenario": "testoutputprediction",
                                                   "problems": str(DATA / "problems.jsonl"), "limit": 2})
    assert [(i.item_id, i.data["status"]) for i in rep.items] == [("2727#0", "AC"), ("2727#1", "WA")]
    assert _pass1(rep) == pytest.approx(0.5)
    assert any(s.metric == "pass@1[platform=leetcode]" for s in rep.scores)


def test_self_repair(scenario_kernel, official, problems):
    from skyplex_livecodebench.batch import grade_many

    rep = _evaluate(scenario_kernel, "repairer", {"scenario": "selfrepair", "problems": str(DATA / "problems.jsonl"),
                                                  "graded": str(DATA / "o1_mini_graded.json")})
    status = {i.item_id: i.data["status"] for i in rep.items}
    # feedback comes from this grader's verdicts on the public tests (an official failure on a hidden test
    # that passes them is not sent back)
    firsts = grade_many([(problems[q], r["code_list"][0]) for q, r in official.items()])
    failed_first = {v.question_id for v in firsts if not v.passed}
    assert "2730" in failed_first and status["2730"] == "AC"       # repaired
    assert all(status[q] == "NO_CODE" for q in failed_first - {"2730"})
    assert all(status[q] == "AC" for q in set(official) - failed_first)
    # the model is asked only about the first attempts that failed
    asked = [p for batch, _ in scenario_kernel.scripted["repairer"].calls for p in batch]
    assert len(asked) == len(failed_first)
    assert _pass1(rep) == pytest.approx((len(official) - len(failed_first) + 1) / len(official))


@pytest.mark.parametrize("options,needle", [
    ({"scenario": "translation"}, "scenario"),
    ({"scenario": "codeexecution", "graded": "x.json"}, "'graded' is for scenario 'selfrepair'"),
    ({"scenario": "testoutputprediction", "cot": True}, "'cot' is for scenario 'codeexecution'"),
    ({"scenario": "selfrepair"}, "needs --graded"),
    ({"scenario": "codeexecution", "start": "2031-01-01"}, "window"),
    ({"scenario": "testoutputprediction", "start": "2031-01-01"}, "no functional"),
])
def test_bad_scenario_options(scenario_kernel, options, needle):
    problems = str(ITEMS if options.get("scenario") == "codeexecution" else DATA / "problems.jsonl")
    with pytest.raises(InvalidInputError, match=needle):
        _evaluate(scenario_kernel, "executor", {"problems": problems, **options})


@pytest.mark.slow
@pytest.mark.timeout(3600)  # only against a hang; the work is small
def test_every_scenario_with_the_local_model(skyplex_local_backend, tmp_path):
    import skyplex_livecodebench.plugin as plugin

    class Local:
        @hookimpl
        def skyplex_register_models(self, register):
            register("smol", lambda: skyplex_local_backend)
            register("local", lambda: skyplex_local_backend)

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("m", Local()), ("lcb", plugin)])
    # self-repair on the four problems of 2023-05-13, of which O1-Mini's first attempt fails one (2730)
    runs = {"codeexecution": {"problems": str(ITEMS), "limit": 2},
            "testoutputprediction": {"problems": str(DATA / "problems.jsonl"), "limit": 2},
            "selfrepair": {"problems": str(DATA / "problems.jsonl"), "graded": str(DATA / "o1_mini_graded.json"),
                           "start": "2023-05-13", "end": "2023-05-13", "cpu_s": 1}}
    with Kernel(settings=Settings(data_dir=tmp_path / "d"), pm=pm) as kernel:
        for scenario, options in runs.items():
            rep = _evaluate(kernel, "smol", {"scenario": scenario, "max_tokens": 48, **options})
            assert rep.metadata["scenario"] == scenario and rep.metadata["items"] == options.get("limit", 4)
            assert len(rep.items) >= 2 and {i.data["status"] for i in rep.items} <= STATUSES
            assert 0.0 <= _pass1(rep) <= 1.0
        # the guide's Python example, as written, from the repository root
        import os
        import re

        (example,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "evaluators.get" in b]
        here = os.getcwd()
        os.chdir(DOC.parents[2])
        try:
            scope = {"kernel": kernel}
            exec(example, scope)
        finally:
            os.chdir(here)
        assert scope["report"].metadata == {"scenario": "codeexecution", "items": 2, "samples_per_item": 1}
