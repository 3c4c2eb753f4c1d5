"""The ``livecodebench`` evaluator: answer with a model backend, grade (in the sandbox where a program
runs), score pass@k, for each of the benchmark's four scenarios."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from skyplex import Evaluator, InvalidInputError, ProgressCallback, Report, Score, Subject, Suite
from skyplex.interfaces import ItemRecord

from .batch import check_executor, grade_many
from .grader import Limits, extract_code
from .problems import in_window, load_problems
from .prompts import generation_prompt
from .scores import score

OPTIONS = {"problems", "n", "k", "temperature", "max_tokens", "start", "end", "cutoff", "limit", "workers",
           "cpu_s", "memory_mb", "scenario", "graded", "cot", "executor", "ray_address"}
SCENARIOS = ("codegeneration", "selfrepair", "codeexecution", "testoutputprediction")


@dataclass(frozen=True)
class _Item:
    """What the score breakdowns need of one scored item (a problem, an execution item or a test)."""

    question_id: str
    difficulty: str
    platform: str
    contest_date: datetime


class _Progress:
    """The job context the scenario runners report to, forwarded to the evaluator's progress callback."""

    def __init__(self, progress: ProgressCallback | None, subject: str, base: int, total: int, share: int) -> None:
        self.callback, self.subject, self.base, self.total, self.share = progress, subject, base, total, share

    def progress(self, done: int, total: int, message: str) -> None:
        if self.callback is not None and total:
            self.callback(self.base + self.share * done // total, self.total, f"{self.subject}: {message}")

    def check_cancelled(self) -> None:
        """Evaluations are not cancellable piecewise; the evaluator runs to the end."""


class LiveCodeBenchEvaluator(Evaluator):
    """LiveCodeBench's four scenarios: pass@1 (and pass@k) per subject with bootstrap CIs.

    Suite options: ``scenario`` (``codegeneration`` by default, ``selfrepair``, ``codeexecution``,
    ``testoutputprediction``), ``problems`` (release JSONL path, or execution items for code execution;
    required), ``graded`` (self-repair: the first attempts, graded-outputs format), ``cot`` (code
    execution: step-by-step first), ``n`` samples per item (1), ``k`` list, ``temperature`` (0.2 when
    n > 1, else 0), ``max_tokens`` (1024), a contest-date window ``start``/``end``, a model ``cutoff``
    (scores split into after/before it), ``limit`` problems or items, ``workers`` (2), ``cpu_s`` and
    ``memory_mb`` per test; ``executor`` ``"ray"`` (code generation) grades the answers as Ray tasks, on
    the cluster at ``ray_address`` or on a local Ray instance started for the run.
    """

    name = "livecodebench"

    def __init__(self, kernel: Any = None, **defaults: Any) -> None:
        self.kernel = kernel
        self.defaults = defaults

    def evaluate(self, subjects: Sequence[Subject], suite: Suite, *,
                 progress: ProgressCallback | None = None) -> Report:
        opts = {**self.defaults, **suite.options}
        unknown = set(opts) - OPTIONS
        if unknown:
            raise InvalidInputError(f"suite options: unknown {sorted(unknown)}; known: {sorted(OPTIONS)}")
        if not opts.get("problems"):
            raise InvalidInputError("suite option 'problems' must name a LiveCodeBench release file (JSONL)")
        scenario = opts.get("scenario", "codegeneration")
        if scenario not in SCENARIOS:
            raise InvalidInputError(f"suite option 'scenario' must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        if opts.get("graded") and scenario != "selfrepair":
            raise InvalidInputError("suite option 'graded' is for scenario 'selfrepair'")
        if opts.get("cot") and scenario != "codeexecution":
            raise InvalidInputError("suite option 'cot' is for scenario 'codeexecution'")
        executor, ray_address = opts.get("executor", "threads"), opts.get("ray_address")
        check_executor(executor, ray_address)
        if executor == "ray" and scenario != "codegeneration":
            raise InvalidInputError(f"executor 'ray' grades scenario 'codegeneration' only, not {scenario!r}")
        if scenario != "codegeneration":
            return self._scenario(scenario, subjects, suite, opts, progress)
        problems = in_window(load_problems(Path(opts["problems"])), opts.get("start"), opts.get("end"))
        if opts.get("limit"):
            problems = problems[: int(opts["limit"])]
        if not problems:
            raise InvalidInputError("no problems in the chosen window; widen start/end")
        n = int(opts.get("n", 1))
        ks = [int(k) for k in opts.get("k", [1])]
        from skyplex.interfaces import GenerationParams

        params = GenerationParams(max_tokens=int(opts.get("max_tokens", 1024)),
                                  temperature=float(opts.get("temperature", 0.2 if n > 1 else 0.0)), seed=0)
        limits = Limits(cpu_s=int(opts.get("cpu_s", 6)), memory_mb=int(opts.get("memory_mb", 2048)))
        scores: list[Score] = []
        items: list[ItemRecord] = []
        total = len(subjects) * len(problems) * n
        done = 0
        for subject in subjects:
            if self.kernel is None or not subject.backend:
                raise InvalidInputError(f"subject {subject.name!r} needs a model backend (and a kernel) to answer")
            backend = self.kernel.models.get(subject.backend)
            prompts = [generation_prompt(p) for p in problems for _ in range(n)]
            answers = [c.text for c in backend.generate(prompts, params)]
            tasks = [(p, extract_code(answers[i * n + j])) for i, p in enumerate(problems) for j in range(n)]

            def tick(d: int, t: int, msg: str, base: int = done) -> None:
                if progress is not None:
                    progress(base + d, total, f"{subject.name}: graded {msg}")

            verdicts = grade_many(tasks, workers=int(opts.get("workers", 2)), limits=limits, progress=tick,
                                  executor=executor, ray_address=ray_address)
            done += len(tasks)
            results: dict[str, list[bool]] = {}
            for (p, _), v in zip(tasks, verdicts):
                results.setdefault(p.question_id, []).append(v.passed)
                items.append(ItemRecord(item_id=p.question_id, subject=subject.name, score=float(v.passed),
                                        data={"status": v.status, "message": v.message[:300],
                                              "tolerant_pass": v.tolerant_pass}))
            scores += _scores(subject.name, score(results, problems, ks=ks, cutoff=opts.get("cutoff")))
        if progress is not None:
            progress(total, total, "done")
        return Report(evaluator=self.name, suite=suite.name, scores=scores, items=items,
                      metadata={"scenario": "codegeneration", "problems": len(problems), "samples_per_problem": n})

    def _scenario(self, scenario: str, subjects: Sequence[Subject], suite: Suite, opts: dict[str, Any],
                  progress: ProgressCallback | None) -> Report:
        """Self-repair, code execution or test output prediction, through the same runners as the jobs."""
        from skyplex.interfaces import GenerationParams

        from .scenario_jobs import answer_and_grade

        n = int(opts.get("n", 1))
        ks = [int(k) for k in opts.get("k", [1])]
        temperature = float(opts.get("temperature", 0.2 if n > 1 else 0.0))
        params = GenerationParams(max_tokens=int(opts.get("max_tokens", 1024)), temperature=temperature,
                                  seed=None if temperature == 0 else 0)
        limits = Limits(cpu_s=int(opts.get("cpu_s", 6)), memory_mb=int(opts.get("memory_mb", 2048)))
        scores: list[Score] = []
        items: list[ItemRecord] = []
        n_items = 0
        for s_index, subject in enumerate(subjects):
            if self.kernel is None or not subject.backend:
                raise InvalidInputError(f"subject {subject.name!r} needs a model backend (and a kernel) to answer")
            model = self.kernel.models.get(subject.backend)
            ctx = _Progress(progress, subject.name, s_index * 100, len(subjects) * 100, 100)
            with tempfile.TemporaryDirectory(prefix="skyplex-lcb-eval-") as work:
                # the runners cache answers and journal verdicts beside their output; an evaluation keeps none
                records, _, _ = answer_and_grade(
                    ctx, scenario, model=model, source=str(opts["problems"]), n=n, limit=int(opts.get("limit") or 0),
                    start=opts.get("start"), end=opts.get("end"), params=params, out=str(Path(work) / "run"),
                    graded=str(opts["graded"]) if opts.get("graded") else None, cot=bool(opts.get("cot", False)),
                    workers=int(opts.get("workers", 2)), limits=limits)
            if not records:
                raise InvalidInputError("no items in the chosen window; widen start/end")
            n_items = len(records)
            results = {r["question_id"]: [bool(g) for g in r["graded_list"]] for r in records}
            for r in records:
                for passed, meta in zip(r["graded_list"], r["metadata"]):
                    m = json.loads(meta)
                    items.append(ItemRecord(item_id=r["question_id"], subject=subject.name, score=float(passed),
                                            data={"status": m["status"], "message": m["message"]}))
            described = [_Item(r["question_id"], r.get("difficulty", "unknown"), r.get("platform", "unknown"),
                               datetime.fromisoformat(r["contest_date"])) for r in records]
            table = score(results, described, ks=ks, cutoff=opts.get("cutoff"))  # type: ignore[arg-type]
            scores += _scores(subject.name, table)
        if progress is not None:
            progress(len(subjects) * 100, len(subjects) * 100, "done")
        return Report(evaluator=self.name, suite=suite.name, scores=scores, items=items,
                      metadata={"scenario": scenario, "items": n_items, "samples_per_item": n})


def _scores(subject: str, table: Any) -> list[Score]:
    out = [Score(subject=subject, metric=f"pass@{k}", value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n)
           for k, e in table.pass_at.items()]
    for group, by_name in table.groups.items():
        for name, ests in by_name.items():
            for k, e in ests.items():
                out.append(Score(subject=subject, metric=f"pass@{k}[{group}={name}]", value=e.value,
                                 ci_low=e.ci_low, ci_high=e.ci_high, n=e.n))
    return out
