"""`skyplex jobs`: list, inspect, follow and cancel long-running work (evaluations, proofs, builds)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from .context import CliState, pass_state
from .output import STATUS_STYLE, elapsed, emit_json, format_duration, format_time, json_option, one_line

if TYPE_CHECKING:
    from rich.console import Console

    from ..jobs import Job

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
#: `jobs show --follow` exits with this when the job did not succeed, so scripts can `&&` on it
EXIT_JOB_UNSUCCESSFUL = 1


@click.group()
def jobs() -> None:
    """Long-running work: list, show (and follow) and cancel jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@click.option("--kind", help="Only jobs of this kind (e.g. evaluation).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="Newest N jobs.")
@json_option
@pass_state
def list_jobs(state: CliState, status: str | None, kind: str | None, limit: int, json_output: bool) -> None:
    """List recent jobs, newest first."""
    found = state.kernel.jobs.list(status=status, kind=kind, limit=limit)
    if json_output or state.json:
        emit_json(found)
        return
    if not found:
        state.out.print("No jobs" + (" matching the filters." if status or kind else " yet."))
        return

    from rich.table import Table

    table = Table(title="jobs", title_justify="left")
    for column in ("id", "kind", "name", "status", "progress", "created", "took", "message"):
        table.add_column(column, justify="right" if column == "progress" else "left", no_wrap=column == "id")
    for job in found:
        table.add_row(
            job.id,
            job.kind,
            job.name or "-",
            _status_text(job.status),
            f"{job.progress:.0%}",
            format_time(job.created_at),
            format_duration(elapsed(job.started_at, job.finished_at)),
            _plain(one_line(job.error or job.message or "", 50)),
        )
    state.out.print(table)


@jobs.command()
@click.argument("job_id")
@click.option(
    "-f", "--follow", is_flag=True, help="Draw a progress bar until the job ends; exit 1 unless it succeeded."
)
@click.option(
    "--interval", type=click.FloatRange(0.05, 60), default=0.2, show_default=True, help="Seconds between polls."
)
@json_option
@pass_state
def show(state: CliState, job_id: str, follow: bool, interval: float, json_output: bool) -> None:
    """Show one job: status, progress, params, result or error.

    With --follow, waits for the job to end (Ctrl-C stops watching, not the job) and exits with
    status 1 when it failed or was cancelled.
    """
    manager = state.kernel.jobs
    job = manager.get(job_id)  # unknown ids fail here, before any progress bar is drawn
    as_json = json_output or state.json
    if follow and job.status not in FINAL_STATUSES:
        try:
            job = _follow(state, job, interval, draw=not as_json)
        except KeyboardInterrupt:
            state.err.print(
                f"Stopped following job {job_id}; it keeps running (`skyplex jobs cancel {job_id}` stops it).",
                markup=False,
            )
            raise click.exceptions.Exit(130) from None
    if as_json:
        emit_json(job)
    else:
        _print_job(state.out, job)
    if follow and job.status != "succeeded":
        raise click.exceptions.Exit(EXIT_JOB_UNSUCCESSFUL)


def _follow(state: CliState, job: Job, interval: float, *, draw: bool) -> Job:
    """Watch ``job`` until it reaches a final state; draw a progress bar on stderr when ``draw``."""
    snapshots = state.kernel.jobs.watch(job.id, interval=interval)
    if not draw:
        for job in snapshots:
            pass
        return job

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[count]}", markup=False),
        TextColumn("{task.fields[status]}", markup=False),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}", markup=False, style="dim"),
        console=state.err,
    ) as progress:
        task = progress.add_task(_title(job), total=1.0, count="", status=job.status, note="")
        for job in snapshots:
            count = f"{job.done}/{job.total}" if job.total else ""
            progress.update(
                task,
                completed=job.progress,
                count=count,
                status=job.status,
                note=one_line(job.message or "", 40),
            )
    return job


def _title(job: Job) -> str:
    return f"{job.kind} {job.name}" if job.name else f"{job.kind} {job.id}"


@jobs.command()
@click.argument("job_id")
@json_option
@pass_state
def cancel(state: CliState, job_id: str, json_output: bool) -> None:
    """Ask a job to stop. Queued jobs never start; running ones stop at their next check."""
    job = state.kernel.jobs.cancel(job_id)
    if json_output or state.json:
        emit_json(job)
        return
    from rich.text import Text

    line = Text(f"job {job.id}: ")
    line.append_text(_status_text(job.status))
    if job.status not in FINAL_STATUSES:
        line.append(" (cancel requested; it stops at its next check)", style="dim")
    state.out.print(line)


def _status_text(status: str) -> Any:
    from rich.text import Text

    return Text(status, style=STATUS_STYLE.get(status, ""))


def _plain(text: str) -> Any:
    from rich.text import Text

    return Text(text)


def _print_job(out: Console, job: Job) -> None:
    """A two-column view of one job, with its params and result as indented JSON."""
    from rich.table import Table
    from rich.text import Text

    from .output import to_jsonable

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    count = f" ({job.done}/{job.total})" if job.total else ""
    rows: list[tuple[str, Any]] = [
        ("id", Text(job.id)),
        ("kind", Text(job.kind)),
        ("name", Text(job.name or "-")),
        ("status", _status_text(job.status)),
        ("progress", Text(f"{job.progress:.0%}{count}")),
        ("message", Text(job.message or "-")),
        ("created", Text(format_time(job.created_at))),
        ("started", Text(format_time(job.started_at))),
        ("finished", Text(format_time(job.finished_at))),
        ("took", Text(format_duration(elapsed(job.started_at, job.finished_at)))),
    ]
    if job.params:
        rows.append(("params", Text(json.dumps(to_jsonable(job.params), indent=2))))
    if job.result is not None:
        rows.append(("result", Text(json.dumps(to_jsonable(job.result), indent=2))))
    if job.error:
        rows.append(("error", Text(str(job.error), style="red")))
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
