"""``generate`` as a kernel job: answers from any model backend, cached per sample so a rerun resumes,
then graded in the sandbox and written in the benchmark's graded-outputs format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skyplex import InvalidInputError

from .problems import in_window, load_problems


def _cache(path: Path) -> dict[str, str]:
    done: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                done[rec["key"]] = rec["text"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that sample is generated again
    return done


def run_generation(ctx: Any, *, kernel: Any, problems: str, backend: str, out: str, n: int, temperature: float,
                   max_tokens: int, limit: int, start: str | None, end: str | None, chunk: int = 4,
                   workers: int = 2, cpu_s: int = 6, executor: str = "threads",
                   ray_address: str | None = None) -> dict[str, Any]:
    """Generate ``n`` answers per problem, extract and grade them (``cpu_s`` CPU seconds per test; on
    this machine, or with ``executor="ray"`` as Ray tasks, see :func:`.batch.grade_many`), and write
    ``out`` (``*_eval_all`` format)."""
    from skyplex.interfaces import GenerationParams

    from .batch import grade_many
    from .grader import Limits, extract_code
    from .prompts import generation_prompt

    selected = in_window(load_problems(problems), start, end)[: limit or None]
    model = kernel.models.get(backend)
    cache_path = Path(out + ".cache.jsonl")
    cached = _cache(cache_path)
    keys = [(p, j, f"{p.question_id}#{j}") for p in selected for j in range(n)]
    todo = [k for k in keys if k[2] not in cached]
    total = len(keys) * 2
    ctx.progress(len(keys) - len(todo), total, f"{len(keys) - len(todo)} answers cached")
    with open(cache_path, "a", encoding="utf-8") as fh:
        for s in range(0, len(todo), chunk):
            ctx.check_cancelled()
            part = todo[s:s + chunk]
            params = GenerationParams(max_tokens=max_tokens, temperature=temperature,
                                      seed=None if temperature == 0 else s)
            outs = model.generate([generation_prompt(p) for p, _, _ in part], params)
            for (_, _, key), c in zip(part, outs):
                cached[key] = c.text
                fh.write(json.dumps({"key": key, "text": c.text}) + "\n")
            fh.flush()
            ctx.progress(len(keys) - len(todo) + s + len(part), total, "generating")
    tasks = [(p, extract_code(cached[key])) for p, _, key in keys]
    verdicts = grade_many(tasks, workers=workers, journal=out + ".verdicts.jsonl", limits=Limits(cpu_s=cpu_s),
                          progress=lambda d, t, m: ctx.progress(len(keys) + d, total, f"graded {m}"),
                          executor=executor, ray_address=ray_address)  # type: ignore[arg-type]
    records = []
    for i, p in enumerate(selected):
        mine = range(i * n, (i + 1) * n)
        records.append({"question_id": p.question_id, "question_title": p.title, "platform": p.platform,
                        "contest_date": p.contest_date.isoformat(), "difficulty": p.difficulty,
                        "output_list": [cached[keys[j][2]] for j in mine],
                        "code_list": [tasks[j][1] or "" for j in mine],
                        "graded_list": [verdicts[j].passed for j in mine],
                        "pass@1": sum(verdicts[j].passed for j in mine) / n,
                        "metadata": [json.dumps({"status": verdicts[j].status, "message": verdicts[j].message[:300]})
                                     for j in mine]})
    tmp = Path(out + ".tmp")
    tmp.write_text(json.dumps(records, indent=1), encoding="utf-8")
    tmp.replace(out)  # readers never see a half-written results file
    return {"out": out, "problems": len(selected), "samples_per_problem": n,
            "passed": sum(v.passed for v in verdicts), "graded": len(verdicts)}


def submit_generation(kernel: Any, *, problems: str, backend: str, out: str, n: int = 1, temperature: float = 0.0,
                      max_tokens: int = 512, limit: int = 0, start: str | None = None, end: str | None = None,
                      cpu_s: int = 6, executor: str = "threads", ray_address: str | None = None) -> Any:
    """Queue a generation job (kind ``livecodebench-generate``); rerunning with the same ``out`` resumes.
    ``cpu_s`` is the CPU time each test of a generated program may use (the benchmark's 6 s by default);
    ``executor="ray"`` grades the answers as Ray tasks (on the cluster at ``ray_address``, or a local
    Ray instance), with the same verdicts."""
    if n < 1 or max_tokens < 1 or limit < 0 or cpu_s < 1:
        raise InvalidInputError("n, max_tokens and cpu_s must be at least 1 and limit at least 0")
    from .batch import check_executor

    check_executor(executor, ray_address)  # refuse now, not inside the job
    found = in_window(load_problems(problems), start, end)  # refuse bad input now, not inside the job
    if not found:
        raise InvalidInputError("no problems in the chosen window; widen --start/--end")
    kernel.models.get(backend)
    params = {"problems": str(problems), "backend": backend, "out": str(out), "n": n, "temperature": temperature,
              "max_tokens": max_tokens, "limit": limit, "start": start, "end": end, "cpu_s": cpu_s,
              "executor": executor, "ray_address": ray_address}
    return kernel.jobs.submit(lambda ctx, **p: run_generation(ctx, kernel=kernel, **p),
                              name=f"livecodebench generate {Path(out).name}", kind="livecodebench-generate",
                              params=params)
