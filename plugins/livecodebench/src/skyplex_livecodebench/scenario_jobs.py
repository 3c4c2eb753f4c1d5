"""Self-repair, code execution and test output prediction as resumable kernel jobs.

Each job asks a model backend for answers (every answer appended to ``<out>.cache.jsonl`` as it
arrives, so a rerun after a crash asks the model only for what is missing), grades them, and writes
``out`` with one record per item in the graded-outputs shape (``question_id``, ``graded_list``,
``pass@1``...), which ``skyplex livecodebench score`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

from skyplex import InvalidInputError

from .jobs import _cache
from .problems import in_window, load_problems

SCENARIOS = ("codegeneration", "selfrepair", "codeexecution", "testoutputprediction")


def _answer_all(ctx: Any, model: Any, entries: Sequence[tuple[str, Any]], cache_path: Path, params: Any,
                base: int, total: int, chunk: int = 4) -> dict[str, str]:
    """Answers for ``(key, messages)`` entries, from the cache or the model (cached as they arrive)."""
    cached = _cache(cache_path)
    # keys end in "#<sample>": asking sample by sample keeps the n samples of one item in different calls,
    # which get different seeds when sampling
    todo = sorted(((k, m) for k, m in entries if k not in cached), key=lambda e: int(e[0].rsplit("#", 1)[1]))
    done = len(entries) - len(todo)
    ctx.progress(base + done, total, f"{done} answers cached")
    with open(cache_path, "a", encoding="utf-8") as fh:
        for s in range(0, len(todo), chunk):
            ctx.check_cancelled()
            part = todo[s:s + chunk]
            # a fresh seed per chunk when sampling, so n samples of one item are not one sample n times
            chunk_params = params if params.seed is None else params.model_copy(update={"seed": params.seed + done + s})
            outs = model.generate([m for _, m in part], chunk_params)
            for (key, _), c in zip(part, outs):
                cached[key] = c.text
                fh.write(json.dumps({"key": key, "text": c.text}) + "\n")
            fh.flush()
            ctx.progress(base + done + s + len(part), total, "asking the model")
    return cached


def _write(out: str, records: list[dict[str, Any]]) -> None:
    tmp = Path(out + ".tmp")
    tmp.write_text(json.dumps(records, indent=1), encoding="utf-8")
    tmp.replace(out)  # readers never see a half-written results file


def _record(key: str, meta: dict[str, Any], answers: list[str], preds: list[str], verdicts: list[Any]) -> dict:
    return {"question_id": key, **meta, "output_list": answers, "code_list": preds,
            "graded_list": [v.passed for v in verdicts], "pass@1": sum(v.passed for v in verdicts) / len(verdicts),
            "metadata": [json.dumps({"status": v.status, "message": v.message[:300]}) for v in verdicts]}


def run_scenario(ctx: Any, *, kernel: Any, scenario: str, source: str, backend: str, out: str, n: int,
                 temperature: float, max_tokens: int, limit: int, start: str | None, end: str | None,
                 graded: str | None = None, cot: bool = False, workers: int = 2) -> dict[str, Any]:
    """Run one of the three answer-and-grade scenarios (see :data:`SCENARIOS`)."""
    from skyplex.interfaces import GenerationParams

    model = kernel.models.get(backend)
    params = GenerationParams(max_tokens=max_tokens, temperature=temperature, seed=None if temperature == 0 else 0)
    records, passed, graded_n = answer_and_grade(ctx, scenario, model=model, source=source, n=n, limit=limit,
                                                 start=start, end=end, params=params, out=out, graded=graded,
                                                 cot=cot, workers=workers)
    _write(out, records)
    return {"scenario": scenario, "out": out, "items": len(records), "samples_per_item": n,
            "passed": passed, "graded": graded_n}


def answer_and_grade(ctx: Any, scenario: str, *, model: Any, source: str, n: int, limit: int, start: Any, end: Any,
                     params: Any, out: str, graded: str | None = None, cot: bool = False, workers: int = 2,
                     limits: Any = None) -> tuple[list[dict], int, int]:
    """Answer one scenario's items with ``model`` and grade them: ``(records, passed, graded)``, one record
    per item in the graded-outputs shape. ``ctx`` gives ``progress(done, total, message)`` and
    ``check_cancelled()``; answers are cached in ``<out>.cache.jsonl`` and verdicts journaled beside it."""
    runner: Callable[..., tuple[list[dict], int, int]] = {
        "codeexecution": _execution, "testoutputprediction": _test_output, "selfrepair": _self_repair}[scenario]
    return runner(ctx, model=model, source=source, n=n, limit=limit, start=start, end=end, params=params,
                  cache_path=Path(out + ".cache.jsonl"), graded=graded, cot=cot, workers=workers, out=out,
                  limits=limits)


def _execution(ctx: Any, *, model: Any, source: str, n: int, limit: int, start: Any, end: Any, params: Any,
               cache_path: Path, cot: bool, workers: int, limits: Any = None, **_: Any) -> tuple[list[dict], int, int]:
    from .execution import execution_prompt, extract_prediction, grade_execution, load_execution_items

    items = _window(load_execution_items(source), start, end)[: limit or None]
    keys = [(it, f"{it.id}#{j}") for it in items for j in range(n)]
    total = 2 * len(keys)
    answers = _answer_all(ctx, model, [(k, execution_prompt(it, cot=cot)) for it, k in keys], cache_path, params, 0, total)
    verdicts = grade_execution([(it, answers[k]) for it, k in keys], workers=workers, limits=limits,
                               progress=lambda d, t, m: ctx.progress(len(keys) + d, total, f"graded {m}"))
    records = []
    for i, it in enumerate(items):
        mine = range(i * n, (i + 1) * n)
        texts = [answers[keys[j][1]] for j in mine]
        records.append(_record(it.id, {"problem_id": it.question_id, "contest_date": it.contest_date.isoformat(),
                                       "difficulty": it.difficulty, "platform": it.platform, "mode": "cot" if cot else "direct"},
                               texts, [extract_prediction(t) or "" for t in texts], [verdicts[j] for j in mine]))
    return records, sum(v.passed for v in verdicts), len(verdicts)


def _test_output(ctx: Any, *, model: Any, source: str, n: int, limit: int, start: Any, end: Any, params: Any,
                 cache_path: Path, **_: Any) -> tuple[list[dict], int, int]:
    from .literals import last_assert
    from .testoutput import grade_test_output, output_items, output_prediction_prompt

    problems = in_window(load_problems(source), start, end)
    items = output_items(problems)[: limit or None]
    if not items:
        raise InvalidInputError(f"{source} has no functional (LeetCode-style) problems in the window to predict for")
    keys = [(it, f"{it.id}#{j}") for it in items for j in range(n)]
    answers = _answer_all(ctx, model, [(k, output_prediction_prompt(it)) for it, k in keys], cache_path, params, 0, len(keys))
    records, passed = [], 0
    for it in items:
        texts = [answers[f"{it.id}#{j}"] for j in range(n)]
        verdicts = [grade_test_output(it, t) for t in texts]
        passed += sum(v.passed for v in verdicts)
        p = it.problem
        records.append(_record(it.id, {"problem_id": p.question_id, "contest_date": p.contest_date.isoformat(),
                                       "difficulty": p.difficulty, "platform": p.platform, "input": it.call},
                               texts, [last_assert(t) or "" for t in texts], verdicts))
    ctx.progress(len(keys), len(keys), "graded")
    return records, passed, len(keys)


def _self_repair(ctx: Any, *, model: Any, source: str, n: int, limit: int, start: Any, end: Any, params: Any,
                 cache_path: Path, graded: str | None, workers: int, out: str, limits: Any = None,
                 **_: Any) -> tuple[list[dict], int, int]:
    from .batch import grade_many
    from .grader import extract_code
    from .repair import feedback, repair_prompt
    from .scores import load_official

    if not graded:
        raise InvalidInputError("self-repair needs --graded FILE: the first attempts in the graded-outputs format")
    official = load_official(graded)
    problems = [p for p in in_window(load_problems(source), start, end) if p.question_id in official][: limit or None]
    if not problems:
        raise InvalidInputError(f"{graded} grades none of the problems in {source} (in the window)")
    firsts = [(p, c) for p in problems for c in official[p.question_id].codes]
    total = 3 * len(firsts) * n
    first_verdicts = grade_many(firsts, workers=workers, journal=out + ".first.jsonl", limits=limits,
                                progress=lambda d, t, m: ctx.progress(d * n, total, f"graded first attempt {m}"))
    entries, owners = [], []
    for i, ((p, code), v) in enumerate(zip(firsts, first_verdicts)):
        if v.passed:
            continue  # a passing first attempt stays a pass; the model is asked only about failures
        for j in range(n):
            entries.append((f"{p.question_id}#{i}#{j}", repair_prompt(p, code, feedback(p, v))))
            owners.append(i)
    answers = _answer_all(ctx, model, entries, cache_path, params, len(firsts) * n, total)
    tasks = [(firsts[i][0], extract_code(answers[k])) for (k, _), i in zip(entries, owners)]
    repaired = grade_many(tasks, workers=workers, journal=out + ".verdicts.jsonl", limits=limits,
                          progress=lambda d, t, m: ctx.progress(2 * len(firsts) * n + d, total, f"graded repair {m}"))
    by_key = {k: (t[1], v) for (k, _), t, v in zip(entries, tasks, repaired)}
    records, passed, count = [], 0, 0
    start_i = 0
    for p in problems:
        codes = official[p.question_id].codes
        texts, preds, verdicts = [], [], []
        for i in range(start_i, start_i + len(codes)):
            for j in range(n):
                got = by_key.get(f"{p.question_id}#{i}#{j}")
                texts.append(answers.get(f"{p.question_id}#{i}#{j}", ""))
                preds.append((got[0] or "") if got else firsts[i][1])
                verdicts.append(got[1] if got else first_verdicts[i])
        start_i += len(codes)
        passed += sum(v.passed for v in verdicts)
        count += len(verdicts)
        records.append(_record(p.question_id, {"question_title": p.title, "platform": p.platform,
                                               "contest_date": p.contest_date.isoformat(), "difficulty": p.difficulty,
                                               "first_graded_list": [first_verdicts[i].passed for i in range(
                                                   start_i - len(codes), start_i) for _ in range(n)]},
                               texts, preds, verdicts))
    return records, passed, count


def _window(items: list[Any], start: Any, end: Any) -> list[Any]:
    from .problems import parse_date

    lo = parse_date(start, "start") if start is not None else None
    hi = parse_date(end, "end") if end is not None else None
    return [i for i in items if (lo is None or i.contest_date >= lo) and (hi is None or i.contest_date <= hi)]


def submit_scenario(kernel: Any, *, scenario: str, source: str, backend: str, out: str, n: int = 1,
                    temperature: float = 0.0, max_tokens: int = 512, limit: int = 0, start: str | None = None,
                    end: str | None = None, graded: str | None = None, cot: bool = False) -> Any:
    """Queue a scenario job (kind ``livecodebench-<scenario>``); rerunning with the same ``out`` resumes."""
    if scenario not in SCENARIOS[1:]:
        raise InvalidInputError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    if n < 1 or max_tokens < 1 or limit < 0:
        raise InvalidInputError("n and max_tokens must be at least 1 and limit at least 0")
    if scenario == "codeexecution":
        from .execution import load_execution_items

        if not _window(load_execution_items(source), start, end):
            raise InvalidInputError("no execution items in the chosen window; widen --start/--end")
    else:
        from .testoutput import output_items

        found = in_window(load_problems(source), start, end)
        if scenario == "testoutputprediction" and not output_items(found):
            raise InvalidInputError(f"{source} has no functional problems in the window to predict outputs for")
        if scenario == "selfrepair":
            from .scores import load_official

            if not graded:
                raise InvalidInputError("self-repair needs --graded FILE (first attempts in the graded-outputs format)")
            if not any(p.question_id in load_official(graded) for p in found):
                raise InvalidInputError(f"{graded} grades none of the problems in {source} (in the window)")
    kernel.models.get(backend)
    params = {"scenario": scenario, "source": str(source), "backend": backend, "out": str(out), "n": n,
              "temperature": temperature, "max_tokens": max_tokens, "limit": limit, "start": start, "end": end,
              "graded": str(graded) if graded else None, "cot": cot}
    return kernel.jobs.submit(lambda ctx, **p: run_scenario(ctx, kernel=kernel, **p),
                              name=f"livecodebench {scenario} {Path(out).name}", kind=f"livecodebench-{scenario}",
                              params=params)
