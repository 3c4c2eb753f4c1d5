"""The ``livecodebench`` evaluator: generate with a model backend, grade in the sandbox, score pass@k."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skyplex import Evaluator, InvalidInputError, ProgressCallback, Report, Score, Subject, Suite
from skyplex.interfaces import ItemRecord

from .batch import grade_many
from .grader import Limits, extract_code
from .problems import in_window, load_problems
from .prompts import generation_prompt
from .scores import score

OPTIONS = {"problems", "n", "k", "temperature", "max_tokens", "start", "end", "cutoff", "limit", "workers",
           "cpu_s", "memory_mb"}


class LiveCodeBenchEvaluator(Evaluator):
    """Code generation on LiveCodeBench problems: pass@1 (and pass@k) per subject with bootstrap CIs.

    Suite options: ``problems`` (release JSONL path, required), ``n`` samples per problem (1),
    ``k`` list, ``temperature`` (0.2 when n > 1, else 0), ``max_tokens`` (1024), a contest-date window
    ``start``/``end``, a model ``cutoff`` (scores split into after/before it), ``limit`` problems,
    ``workers`` (2), ``cpu_s`` and ``memory_mb`` per test.
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

            verdicts = grade_many(tasks, workers=int(opts.get("workers", 2)), limits=limits, progress=tick)
            done += len(tasks)
            results: dict[str, list[bool]] = {}
            for (p, _), v in zip(tasks, verdicts):
                results.setdefault(p.question_id, []).append(v.passed)
                items.append(ItemRecord(item_id=p.question_id, subject=subject.name, score=float(v.passed),
                                        data={"status": v.status, "message": v.message[:300],
                                              "tolerant_pass": v.tolerant_pass}))
            table = score(results, problems, ks=ks, cutoff=opts.get("cutoff"))
            for k, e in table.pass_at.items():
                scores.append(Score(subject=subject.name, metric=f"pass@{k}", value=e.value, ci_low=e.ci_low,
                                    ci_high=e.ci_high, n=e.n))
            for group, by_name in table.groups.items():
                for name, ests in by_name.items():
                    for k, e in ests.items():
                        scores.append(Score(subject=subject.name, metric=f"pass@{k}[{group}={name}]", value=e.value,
                                            ci_low=e.ci_low, ci_high=e.ci_high, n=e.n))
        if progress is not None:
            progress(total, total, "done")
        return Report(evaluator=self.name, suite=suite.name, scores=scores, items=items,
                      metadata={"problems": len(problems), "samples_per_problem": n})
