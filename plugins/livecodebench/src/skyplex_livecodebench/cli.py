"""``skyplex livecodebench grade|score|generate|leaderboard|plot``: sandboxed grading, pass@k, answers from a
model as a job (four scenarios), a leaderboard of runs and the pass@1-by-month plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, fail, json_option, pass_kernel

from .grader import Limits

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("livecodebench")
def group() -> None:
    """LiveCodeBench: grade programs in the sandbox, score pass@k by contest window."""


@group.command("grade")
@click.argument("problems_file", type=FILE)
@click.option("--graded", "graded_file", type=FILE, help="The benchmark's graded outputs (*_eval_all.json) to re-grade.")
@click.option("--code", "code_file", type=FILE, help="One program to grade (with --question).")
@click.option("--question", "questions", multiple=True, help="Only these question ids (repeatable).")
@click.option("--tests", type=click.Choice(["public", "private", "all"]), default="public", show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--cpu-s", type=click.IntRange(1, 600), default=6, show_default=True, help="CPU seconds per test.")
@click.option("--memory-mb", type=click.IntRange(64, 65536), default=2048, show_default=True)
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), help="Resumable verdict journal (JSONL).")
@click.option("--executor", type=click.Choice(["threads", "ray"]), default="threads", show_default=True,
              help="Where the sandboxes run: this machine, or a Ray cluster (needs the plugin's [ray] extra).")
@click.option("--ray-address", help="With --executor ray: the cluster to join ('auto', 'ray://HOST:10001'); "
                                    "default: RAY_ADDRESS, else a Ray instance started on this machine.")
@json_option
def grade_cmd(problems_file: Path, graded_file: Path | None, code_file: Path | None, questions: tuple[str, ...],
              tests: str, workers: int, cpu_s: int, memory_mb: int, journal: Path | None, executor: str,
              ray_address: str | None, json_output: bool) -> None:
    """Grade programs on PROBLEMS_FILE's tests, each run in the sandbox."""
    from .batch import grade_many
    from .problems import load_problems
    from .scores import load_official

    problems = {p.question_id: p for p in load_problems(problems_file)}
    wanted = list(questions) or list(problems)
    for q in wanted:
        if q not in problems:
            fail(f"question {q!r} is not in {problems_file}; pick one of its question ids", field="--question")
    if (graded_file is None) == (code_file is None):
        fail("give either --graded FILE (re-grade published code) or --code FILE with --question", field="--graded")
    if code_file is not None:
        if len(wanted) != 1 or not questions:
            fail("--code needs exactly one --question", field="--question")
        tasks = [(problems[wanted[0]], code_file.read_text(encoding="utf-8", errors="replace"))]
        official: dict[str, Any] = {}
    else:
        official = load_official(graded_file)
        wanted = [q for q in wanted if q in official]
        if not wanted:
            fail(f"{graded_file} grades none of the chosen problems", field="--graded")
        tasks = [(problems[q], c) for q in wanted for c in official[q].codes]
    if ray_address is not None and executor != "ray":
        fail("--ray-address is for --executor ray", field="--ray-address")
    from .ray_grading import GradingInterrupted

    try:
        verdicts = grade_many(tasks, workers=workers, tests=tests,  # type: ignore[arg-type]
                              limits=Limits(cpu_s=cpu_s, memory_mb=memory_mb), journal=journal,
                              executor=executor, ray_address=ray_address)  # type: ignore[arg-type]
    except GradingInterrupted as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for (p, _), v in zip(tasks, verdicts):
        row = v.to_dict()
        if official:
            row["official"] = official[p.question_id].graded
        rows.append(row)
    passed = sum(v.passed for v in verdicts)
    report = {"graded": len(verdicts), "passed": passed, "verdicts": rows}
    emit(report, json_output=json_output, human=_print_grades)


def _print_grades(report: dict[str, Any]) -> None:
    for r in report["verdicts"]:
        extra = f"  official={'pass' if all(r['official']) else 'fail'}" if "official" in r else ""
        click.echo(f"{r['question_id']:<12} {r['status']:<8}{extra}  {r['message'][:100]}")
    click.echo(f"passed {report['passed']} of {report['graded']}")


@group.command("score")
@click.argument("graded_file", type=FILE)
@click.option("--problems", "problems_file", type=FILE, help="Release file, for difficulty/platform/date breakdowns.")
@click.option("-k", "ks", multiple=True, type=click.IntRange(1, 1000), default=(1,), show_default=True)
@click.option("--cutoff", help="Model training cutoff (YYYY-MM-DD): scores after vs before it.")
@click.option("--start", help="Only problems from this contest date on (YYYY-MM-DD).")
@click.option("--end", help="Only problems up to this contest date (YYYY-MM-DD).")
@json_option
def score_cmd(graded_file: Path, problems_file: Path | None, ks: tuple[int, ...], cutoff: str | None,
              start: str | None, end: str | None, json_output: bool) -> None:
    """pass@k with bootstrap intervals from graded outputs (the benchmark's *_eval_all.json format)."""
    from datetime import datetime

    from .problems import Problem, in_window, load_problems, parse_date
    from .scores import load_official, score, table_to_dict

    official = load_official(graded_file)
    if problems_file is not None:
        problems = [p for p in load_problems(problems_file) if p.question_id in official]
    else:
        problems = [Problem(q, q, "", r.platform, "", parse_date(r.contest_date or datetime(1970, 1, 1), "contest_date"),
                            r.difficulty) for q, r in official.items()]
    problems = in_window(problems, start, end)
    if not problems:
        fail("no graded problems in the chosen window", field="--start")
    too_big = [k for k in ks if any(len(official[p.question_id].graded) < k for p in problems)]
    if too_big:
        fail(f"pass@{too_big[0]} needs {too_big[0]} samples on every problem; the file has fewer", field="-k")
    table = score({p.question_id: official[p.question_id].graded for p in problems}, problems, ks=ks, cutoff=cutoff)
    emit(table_to_dict(table), json_output=json_output, human=_print_table)


def _print_table(t: dict[str, Any]) -> None:
    click.echo(f"{t['problems']} problems")
    for name, e in t["pass_at"].items():
        click.echo(f"{name}: {e['value']:.4f}  [{e['ci_low']:.4f}, {e['ci_high']:.4f}]")
    for g, d in t["groups"].items():
        for name, ks in d.items():
            for k, e in ks.items():
                click.echo(f"  {g}={name:<14} {k}: {e['value']:.4f}  [{e['ci_low']:.4f}, {e['ci_high']:.4f}]  n={e['n']}")


@group.command("generate")
@click.argument("problems_file", type=FILE)
@click.option("--scenario", type=click.Choice(["codegeneration", "selfrepair", "codeexecution", "testoutputprediction"]),
              default="codegeneration", show_default=True,
              help="What the model does: write a program, repair a failed one (--graded), predict a call's value "
                   "(PROBLEMS_FILE holds execution items), or predict a test's output.")
@click.option("--graded", "graded_file", type=FILE, help="selfrepair: the first attempts (graded-outputs format).")
@click.option("--cot", is_flag=True, help="codeexecution: ask for a step-by-step trace before the answer.")
@click.option("--backend", default="local", show_default=True, help="Kernel model backend that answers.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Graded outputs to write (*_eval_all format).")
@click.option("-n", "n", type=click.IntRange(1, 1000), default=1, show_default=True, help="Answers per problem.")
@click.option("--temperature", type=click.FloatRange(0, 5), default=0.0, show_default=True)
@click.option("--max-tokens", type=click.IntRange(1, 32768), default=512, show_default=True)
@click.option("--limit", type=click.IntRange(0), default=0, help="Only the first N problems or items (0: all).")
@click.option("--start", help="Only problems from this contest date on (YYYY-MM-DD).")
@click.option("--end", help="Only problems up to this contest date (YYYY-MM-DD).")
@click.option("--executor", type=click.Choice(["threads", "ray"]), default="threads", show_default=True,
              help="codegeneration: grade here (threads) or as Ray tasks (needs the ray extra).")
@click.option("--ray-address", help="With --executor ray: the cluster to join ('auto', 'ray://HOST:10001'); "
                                    "default a local Ray instance.")
@json_option
@pass_kernel
def generate_cmd(kernel: Any, problems_file: Path, scenario: str, graded_file: Path | None, cot: bool, backend: str,
                 out: str, n: int, temperature: float, max_tokens: int, limit: int, start: str | None,
                 end: str | None, executor: str, ray_address: str | None, json_output: bool) -> None:
    """Answer PROBLEMS_FILE with a model backend as a job, grade the answers; rerunning resumes."""
    from .jobs import submit_generation
    from .scenario_jobs import submit_scenario

    if graded_file is not None and scenario != "selfrepair":
        fail("--graded is for --scenario selfrepair", field="--graded")
    if cot and scenario != "codeexecution":
        fail("--cot is for --scenario codeexecution", field="--cot")
    if executor == "ray" and scenario != "codegeneration":
        fail("--executor ray grades --scenario codegeneration only", field="--executor")
    if ray_address is not None and executor != "ray":
        fail("--ray-address is for --executor ray", field="--ray-address")
    if scenario == "codegeneration":
        job = submit_generation(kernel, problems=str(problems_file), backend=backend, out=out, n=n,
                                temperature=temperature, max_tokens=max_tokens, limit=limit, start=start, end=end,
                                executor=executor, ray_address=ray_address)
    else:
        job = submit_scenario(kernel, scenario=scenario, source=str(problems_file), backend=backend, out=out, n=n,
                              temperature=temperature, max_tokens=max_tokens, limit=limit, start=start, end=end,
                              graded=str(graded_file) if graded_file else None, cot=cot)
    done = kernel.jobs.wait(job.id)
    if done.status != "succeeded":
        raise click.ClickException(f"{scenario} job {done.id} {done.status}: {done.error or done.message}")
    result = dict(done.result)
    result.setdefault("scenario", "codegeneration")
    emit({"job": done.id, **result}, json_output=json_output, human=_print_generated)


def _print_generated(d: dict[str, Any]) -> None:
    if d["scenario"] == "codegeneration":
        click.echo(f"{d['problems']} problems x {d['samples_per_problem']} answers, "
                   f"{d['passed']} of {d['graded']} pass -> {d['out']} (job {d['job']})")
    else:
        click.echo(f"{d['scenario']}: {d['items']} items, {d['passed']} of {d['graded']} pass -> {d['out']} (job {d['job']})")


def _runs(graded_files: tuple[Path, ...], names: tuple[str, ...]) -> list:
    from .board import load_run

    if names and len(names) != len(graded_files):
        fail(f"give one --name per file ({len(graded_files)} files, {len(names)} names)", field="--name")
    return [load_run(f, names[i] if names else None) for i, f in enumerate(graded_files)]


@group.command("leaderboard")
@click.argument("graded_files", type=FILE, nargs=-1, required=True)
@click.option("--name", "names", multiple=True, help="A name per file (default: the file name).")
@click.option("--cutoff", help="Model training cutoff (YYYY-MM-DD): pass@1 after vs before it.")
@click.option("--start", help="Only problems from this contest date on (YYYY-MM-DD).")
@click.option("--end", help="Only problems up to this contest date (YYYY-MM-DD).")
@json_option
def leaderboard_cmd(graded_files: tuple[Path, ...], names: tuple[str, ...], cutoff: str | None, start: str | None,
                    end: str | None, json_output: bool) -> None:
    """Rank graded-outputs files (runs) by pass@1 with bootstrap intervals."""
    from .board import leaderboard

    rows = leaderboard(_runs(graded_files, names), start=start, end=end, cutoff=cutoff)

    def human(d: dict[str, Any]) -> None:
        for r in d["rows"]:
            split = (f"  after={r['after_cutoff'] if r['after_cutoff'] is None else round(r['after_cutoff'], 4)}"
                     f" before={r['before_cutoff'] if r['before_cutoff'] is None else round(r['before_cutoff'], 4)}"
                     if "after_cutoff" in r else "")
            click.echo(f"{r['run']:<40} {r['pass@1']:.4f}  [{r['ci_low']:.4f}, {r['ci_high']:.4f}]  "
                       f"n={r['problems']}{split}")

    emit({"rows": rows}, json_output=json_output, human=human)


@group.command("plot")
@click.argument("graded_files", type=FILE, nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Image to write: .png or .svg.")
@click.option("--name", "names", multiple=True, help="A legend name per file (default: the file name).")
@click.option("--cutoff", help="Draw a model's training cutoff (YYYY-MM-DD).")
@click.option("--start", help="Only problems from this contest date on (YYYY-MM-DD).")
@click.option("--end", help="Only problems up to this contest date (YYYY-MM-DD).")
def plot_cmd(graded_files: tuple[Path, ...], out: Path, names: tuple[str, ...], cutoff: str | None,
             start: str | None, end: str | None) -> None:
    """pass@1 by contest month for each graded-outputs file (the contamination picture)."""
    from .board import month_plot

    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        fail(f"--out {out}: the file name must end in .png or .svg", field="--out")
    data = month_plot(_runs(graded_files, names), fmt=fmt, cutoff=cutoff, start=start, end=end)  # type: ignore[arg-type]
    out.write_bytes(data)
    click.echo(f"wrote {out} ({len(data)} bytes)")


def register(cli: click.Group) -> None:
    """Add the ``livecodebench`` command group to the ``skyplex`` CLI."""
    cli.add_command(group)
