"""``skyplex melange allocate|plot|profile``: the command-line face of the plugin, on the kernel's CLI
helpers (the invocation's state, ``--json`` output, errors reported as one line with exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, ensure_state, json_option
from skyplex.errors import InvalidInputError


def _state(ctx: click.Context) -> Any:
    return ensure_state(ctx)


def _csv_numbers(value: str | None, kind: type = float, name: str = "value") -> list:
    if not value:
        return []
    try:
        return [kind(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers", param_hint=name) from None


def _caps(values: tuple[str, ...]) -> dict[str, int]:
    caps = {}
    for item in values:
        name, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit():
            raise click.BadParameter(f"{item!r} is not GPU=N (e.g. H100=2)", param_hint="--cap")
        caps[name.strip()] = int(n)
    return caps


def problem_options(f: Any) -> Any:
    """Options shared by ``allocate`` and ``plot`` that build or adjust the problem."""
    decorators = [
        click.argument("problem_file", required=False, type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--trace", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Request trace (CSV/JSONL: input_tokens, output_tokens[, timestamp]) to build buckets from."),
        click.option("--rate", type=float, help="Total request rate (req/s) for --trace (default: from timestamps)."),
        click.option("--model", "model_name", help="Model preset for roofline estimates, e.g. llama-2-7b."),
        click.option("--gpus", help="Comma-separated catalogue GPU names (default: the whole catalogue)."),
        click.option("--tpot-ms", type=float, help="TPOT SLO in milliseconds."),
        click.option("--ttft-ms", type=float, help="TTFT SLO in milliseconds."),
        click.option("--slice-factor", "-S", type=int, help="Slices per bucket (default 8)."),
        click.option("--solver", type=click.Choice(["cbc", "highs"]), help="MIP solver (default cbc)."),
        click.option("--time-limit", type=float, help="Solver time limit, seconds."),
        click.option("--gap", type=float, help="Accepted relative MIP gap."),
        click.option("--profile", "profiles", multiple=True, type=click.Path(exists=True, dir_okay=False),
                     help="Measured profile file (repeatable, one per GPU type)."),
        click.option("--cap", "caps", multiple=True, help="Availability cap GPU=N (repeatable)."),
        click.option("--catalogue", type=click.Path(exists=True, dir_okay=False), help="GPU catalogue JSON to use."),
        click.option("--period-rates", help="Comma-separated total rates per period: one allocation each."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def build_problem(problem_file: Path | None, trace: Path | None, rate: float | None, model_name: str | None,
                  gpus: str | None, tpot_ms: float | None, ttft_ms: float | None, slice_factor: int | None,
                  solver: str | None, time_limit: float | None, gap: float | None, profiles: tuple[str, ...],
                  caps: tuple[str, ...], catalogue: str | None, period_rates: str | None, plot: bool):
    """An AllocationProblem from a file and/or a trace, with the command-line overrides applied."""
    from skyplex.interfaces import SLO, AllocationProblem

    from .allocator import load_problem
    from .workload import workload_from_trace

    if problem_file is None and trace is None:
        raise click.UsageError("give a PROBLEM_FILE (JSON/YAML AllocationProblem or the paper's format) or --trace")
    if problem_file is not None:
        problem = load_problem(problem_file)
        if trace is not None:
            problem = problem.model_copy(update={"workload": workload_from_trace(trace, total_rate=rate)})
    else:
        problem = AllocationProblem(workload=workload_from_trace(trace, total_rate=rate))  # type: ignore[arg-type]
    opts = dict(problem.options)
    slo = problem.slo.model_copy(update={k: v / 1000 for k, v in (("tpot_s", tpot_ms), ("ttft_s", ttft_ms)) if v is not None})
    SLO.model_validate(slo.model_dump())
    for key, value in (("model_name", model_name), ("slice_factor", slice_factor), ("solver", solver),
                       ("time_limit_s", time_limit), ("gap", gap), ("catalogue", catalogue)):
        if value is not None:
            opts[key] = value
    if gpus:
        opts["gpu_names"] = [g.strip() for g in gpus.split(",") if g.strip()]
    if profiles:
        opts["profile"] = list(profiles)
    if caps:
        opts["availability"] = {**opts.get("availability", {}), **_caps(caps)}
    if period_rates:
        opts["period_rates"] = _csv_numbers(period_rates, float, "--period-rates")
    opts["plot"] = plot
    return problem.model_copy(update={"options": opts, "slo": slo})


@click.group("melange")
def melange() -> None:
    """Mélange: the cheapest GPU mix for an LLM workload under a latency SLO."""


@melange.command("allocate")
@problem_options
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write a PNG plot here.")
@json_option
@click.pass_context
def allocate_cmd(ctx: click.Context, plot_path: Path | None, json_output: bool, **kw: Any) -> None:
    """Solve PROBLEM_FILE (or a --trace) and print the cheapest GPU mix."""
    from .allocator import MelangeAllocator

    state = _state(ctx)
    problem = build_problem(**kw, plot=plot_path is not None)
    alloc = MelangeAllocator().allocate(problem)
    if plot_path is not None and alloc.feasible:
        from .plot import render_png

        render_png(alloc.details["plot"], plot_path)
    emit(alloc, json_output=json_output, human=lambda a: _print_allocation(state.out, a))
    if not alloc.feasible:
        ctx.exit(1)


def _print_allocation(console: Any, alloc: Any) -> None:
    from rich.table import Table

    console.print(alloc.explanation)
    if not alloc.feasible:
        return
    t = Table(title="GPUs")
    for col in ("GPU type", "count", "utilisation", "request classes (share)"):
        t.add_column(col)
    for p in alloc.placements:
        classes = ", ".join(f"{k} ({v:.0%})" for k, v in p.share.items())
        t.add_row(p.gpu_type if p.count == 1 else p.gpu_type, str(p.count), f"{(p.utilisation or 0):.0%}", classes)
    console.print(t)
    b = Table(title="single-type baselines")
    for col in ("GPU type", "GPUs", "cost $/h", "Mélange saves"):
        b.add_column(col)
    for name, base in alloc.details.get("baselines", {}).items():
        saved = alloc.details["savings"].get(name)
        b.add_row(name, str(base["gpus"]) if base["feasible"] else "-",
                  f"{base['cost_per_hour']:.2f}" if base["feasible"] else base["reason"],
                  f"{saved:.1%}" if saved is not None else "-")
    console.print(b)
    if "periods" in alloc.details:
        pt = Table(title="per period")
        for col in ("period", "req/s", "GPUs", "cost $/h"):
            pt.add_column(col)
        for p in alloc.details["periods"]:
            pt.add_row(str(p["period"]), f"{p['rate']:g}", ", ".join(f"{n} {g}" for g, n in p["gpus"].items()),
                       f"{p['cost_per_hour']:.2f}")
        console.print(pt)


@melange.command("plot")
@problem_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG file to write.")
@click.option("--points", type=int, default=8, show_default=True, help="Rates on the cost curve.")
@json_option
@click.pass_context
def plot_cmd(ctx: click.Context, out: Path, points: int, json_output: bool, **kw: Any) -> None:
    """Plot cost vs request rate (Mélange and each single type) and the best GPU type per bucket.

    Writes a PNG with two panels; --json also prints the data drawn (cost curve and heatmap).
    """
    from .allocator import MelangeAllocator
    from .plot import render_png

    state = _state(ctx)
    problem = build_problem(**kw, plot=True)
    problem = problem.model_copy(update={"options": {**problem.options, "plot_points": points}})
    alloc = MelangeAllocator().allocate(problem)
    if not alloc.feasible:
        raise InvalidInputError(alloc.explanation, field="problem")
    render_png(alloc.details["plot"], out)
    state.err.print(f"wrote {out}")
    if json_output or state.json:
        emit(alloc.details["plot"], json_output=True)


@melange.command("profile")
@click.option("--endpoint", required=True, help="OpenAI base URL, e.g. http://127.0.0.1:8000/v1.")
@click.option("--model", required=True, help="Model name the endpoint serves.")
@click.option("--gpu", required=True, help="GPU type the endpoint runs on (names the profile).")
@click.option("--inputs", default="128,512,2048", show_default=True, help="Input lengths (tokens).")
@click.option("--outputs", default="64,256", show_default=True, help="Output lengths (tokens).")
@click.option("--rates", default="1,2,4,8", show_default=True, help="Request rates (req/s).")
@click.option("--requests", "requests_per_point", type=int, default=32, show_default=True, help="Requests per point.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Profile file (JSONL); an existing one is resumed.")
@click.option("--api-key", envvar="OPENAI_API_KEY", help="Bearer token for the endpoint.")
@click.option("--extra-body", default="{}", help='JSON merged into each request, e.g. \'{"ignore_eos": true}\'.')
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Per-request timeout, seconds.")
@click.pass_context
def profile_cmd(ctx: click.Context, endpoint: str, model: str, gpu: str, inputs: str, outputs: str, rates: str,
                requests_per_point: int, out: Path, api_key: str | None, extra_body: str, timeout: float) -> None:
    """Measure TTFT/TPOT/throughput of an endpoint over lengths x rates into a resumable profile."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .profiler import SweepSpec, run_sweep

    state = _state(ctx)
    try:
        extra = json.loads(extra_body)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--extra-body") from exc
    spec = SweepSpec(_csv_numbers(inputs, int, "--inputs"), _csv_numbers(outputs, int, "--outputs"),
                     _csv_numbers(rates, float, "--rates"), requests_per_point, timeout)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=state.err) as bar:
        task = bar.add_task(f"profiling {model} on {gpu}", total=len(spec.points()))

        def progress(done: int, total: int, point: Any) -> None:
            desc = "skipped (already measured)" if point is None else (
                f"{point.input_tokens} in/{point.output_tokens} out @ {point.rate:g} req/s")
            bar.update(task, completed=done, description=desc)

        path = run_sweep(endpoint, model, gpu, out, spec, api_key=api_key, extra_body=extra, progress=progress)
    state.err.print(f"profile written to {path}")


def register(cli: click.Group) -> None:
    """Add ``skyplex melange ...`` to the ``skyplex`` CLI."""
    cli.add_command(melange)
