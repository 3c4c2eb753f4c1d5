"""``skyplex voting sample|fit|curve|plot``: the command-line face of the plugin, on the kernel's CLI
helpers (the invocation's state, ``--json`` output, errors reported as one line with exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, ensure_state, json_option
from skyplex.errors import InvalidInputError

SAMPLES = click.argument("samples", type=click.Path(dir_okay=False, path_type=Path))


def _state(ctx: click.Context) -> Any:
    return ensure_state(ctx)


def _ks(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"--k {value!r} is not a comma-separated list of whole numbers", field="--k") from None


def _components(value: str) -> int | str:
    return value if value == "auto" else int(value) if value.isdigit() else value


def law_options(f: Any) -> Any:
    """Options shared by fit, curve and plot."""
    for d in reversed([
        click.option("--m", "m", type=int, help="Answers per query to fit on (default: all)."),
        click.option("--kmax", type=int, default=100, show_default=True, help="Largest K on the curve."),
        click.option("--tie", default="random", show_default=True, help="Tie rule: random, lose or win."),
        click.option("--components", default="auto", show_default=True, help="Difficulty prior: 1, 2, 2s, 3, auto, blend, grid, grid-fine, grid-gap, grid-pick, grid-or-paper, grid-paper-mix or stack."),
        click.option("--seed", type=int, default=0, show_default=True),
    ]):
        f = d(f)
    return f


@click.group()
def voting() -> None:
    """Voting inference systems: sample K answers, fit the law, predict accuracy against K."""


@voting.command()
@click.argument("queries", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--backend", default="local", show_default=True, help="Model backend to sample.")
@click.option("--k", "k", type=int, default=8, show_default=True, help="Answers per query.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Samples JSONL to write.")
@click.option("--answer-kind", default="letter", show_default=True, help="letter, number or text.")
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--max-tokens", type=int, default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@click.pass_context
def sample(ctx: click.Context, queries: Path, backend: str, k: int, out: Path, answer_kind: str, temperature: float,
           max_tokens: int, seed: int, json_output: bool) -> None:
    """Sample K answers per query as a job; rerunning with the same --out resumes from its cache."""
    from .jobs import submit_sampling

    kernel = _state(ctx).kernel
    job = submit_sampling(kernel, queries=str(queries), backend=backend, k=k, out=str(out), answer_kind=answer_kind,
                          temperature=temperature, max_tokens=max_tokens, seed=seed)
    done = kernel.jobs.wait(job.id)
    if done.status != "succeeded":
        raise click.ClickException(f"sampling job {done.id} {done.status}: {done.error or done.message}")
    emit({"job": done.id, **done.result}, json_output=json_output,
         human=lambda d: click.echo(f"{d['queries']} queries x {d['samples_per_query']} answers -> {d['out']} "
                                    f"({d['abstentions']} unparsable, job {d['job']})"))


def cost_options(f: Any) -> Any:
    """Options pricing a call, for the cost-aware K."""
    for d in reversed([
        click.option("--input-price", type=float, help="Dollars per million prompt tokens (turns on the cost-aware K)."),
        click.option("--output-price", type=float, help="Dollars per million completion tokens (default: --input-price)."),
        click.option("--prompt-tokens", type=float, help="Prompt tokens of one call (mean over queries)."),
        click.option("--completion-tokens", type=float, help="Completion tokens of one call (mean over queries)."),
        click.option("--value-per-correct", type=float, help="Dollars a correct answer is worth."),
    ]):
        f = d(f)
    return f


def _cost_per_call(input_price: float | None, output_price: float | None, prompt_tokens: float | None,
                   completion_tokens: float | None, value_per_correct: float | None) -> float | None:
    from .api import priced_call

    return priced_call(input_price=input_price, output_price=output_price, prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, value_per_correct=value_per_correct,
                       spell=lambda name: "--" + name.replace("_", "-"))


@voting.command()
@SAMPLES
@law_options
@click.option("--draws", type=int, default=8, show_default=True, help="Posterior draws per query for the K interval.")
@cost_options
@json_option
def fit(samples: Path, m: int | None, kmax: int, tie: str, components: str, seed: int, draws: int,
        input_price: float | None, output_price: float | None, prompt_tokens: float | None,
        completion_tokens: float | None, value_per_correct: float | None, json_output: bool) -> None:
    """Fit the law and print the optimal K with its interval (and the cost-aware K given a price)."""
    from .api import fit_summary

    cost = _cost_per_call(input_price, output_price, prompt_tokens, completion_tokens, value_per_correct)
    out = fit_summary(samples, m=m, kmax=kmax, tie=tie, components=_components(components), draws=draws, seed=seed,
                      cost_per_call=cost, value_per_correct=value_per_correct if cost is not None else None)

    def human(d: dict) -> None:
        lo, hi = d["k_interval"]
        click.echo(f"{d['queries']} queries, {d['answers']} answers ({d['abstentions']} unparsable)")
        click.echo(f"optimal K = {d['k_opt']} (95% interval {lo}-{hi}), predicted accuracy {d['accuracy_opt']:.4f}; "
                   f"K=1 {d['curve'][0]:.4f}, K={d['kmax']} {d['curve'][-1]:.4f}")
        if "curve_low" in d:
            click.echo(f"{d['level']:.0%} band: K=1 [{d['curve_low'][0]:.4f}, {d['curve_high'][0]:.4f}], "
                       f"K={d['kmax']} [{d['curve_low'][-1]:.4f}, {d['curve_high'][-1]:.4f}]")
        if "cost" in d:
            c = d["cost"]
            click.echo(f"cost-aware K = {c['k_cost_opt']} at ${c['cost_per_call']:.6g} per call: predicted accuracy "
                       f"{c['accuracy_at_k_cost_opt']:.4f}, net ${c['net_value_per_query']:.6g} per query "
                       f"(at K = {c['k_accuracy_opt']}: ${c['net_value_per_query_at_k_accuracy_opt']:.6g})")

    emit(out, json_output=json_output, human=human)


@voting.command()
@SAMPLES
@law_options
@click.option("--k", "ks", help="Comma-separated K to report (default 1..kmax).")
@click.option("--heldout", is_flag=True, help="Compare with the empirical curve of the answers after the first m.")
@click.option("--draws", type=int, default=8, show_default=True,
              help="Posterior draws per query for the predicted curve's 95% band (0: no band).")
@json_option
def curve(samples: Path, m: int | None, kmax: int, tie: str, components: str, seed: int, ks: str | None,
          heldout: bool, draws: int, json_output: bool) -> None:
    """Predicted accuracy at each K with its 95% band (and the held-out empirical curve with --heldout)."""
    from .api import curve_summary

    out = curve_summary(samples, ks=_ks(ks), m=m, kmax=kmax, tie=tie, components=_components(components),
                        heldout=heldout, seed=seed, draws=draws)

    def human(d: dict) -> None:
        for i, k in enumerate(d["k"]):
            line = f"K={k:<5d} predicted {d['predicted'][i]:.4f}"
            if "predicted_low" in d:
                line += f" [{d['predicted_low'][i]:.4f}, {d['predicted_high'][i]:.4f}]"
            if "empirical" in d:
                line += f"  empirical {d['empirical'][i]:.4f} [{d['empirical_low'][i]:.4f}, {d['empirical_high'][i]:.4f}]"
            click.echo(line)
        click.echo(f"optimal K = {d['k_opt']}" + (f", MAE vs held-out {d['mae']:.4f}" if "mae" in d else "")
                   + (f", held-out inside the band at {d['band_coverage']:.0%} of K" if "band_coverage" in d else ""))

    emit(out, json_output=json_output, human=human)


@voting.command()
@SAMPLES
@law_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG to write.")
@json_option
def plot(samples: Path, m: int | None, kmax: int, tie: str, components: str, seed: int, out: Path,
         json_output: bool) -> None:
    """Plot predicted vs held-out empirical accuracy against K, overall and for easy/hard queries."""
    from .plot import plot_curves

    info = plot_curves(samples, out, m=m, kmax=kmax, tie=tie, components=_components(components), seed=seed)
    emit(info, json_output=json_output, human=lambda d: click.echo(f"wrote {d['out']}"))


def register(cli: click.Group) -> None:
    """Add ``skyplex voting ...`` to the ``skyplex`` CLI."""
    cli.add_command(voting)
