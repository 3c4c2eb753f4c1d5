"""``skyplex arena leaderboard|categories|import|votes|voters``: the command-line face of the plugin, on the
kernel's CLI helpers (the invocation's state and kernel, ``--json`` here or on the root group, errors as
one line with exit 2). Commands given a VOTES file never start the kernel; without one they read the
votes in the kernel's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from skyplex.cli import CliState, emit, json_option, pass_kernel, pass_state, wants_json
from skyplex.encoding import dumps

VOTES_ARG = click.argument("votes", required=False, type=click.Path(dir_okay=False, path_type=Path))


def _battles(state: CliState, votes: Path | None) -> Any:
    """Battles from a file, or the votes in the kernel store when no file is given."""
    from .battles import load_battles

    if votes is not None:
        return load_battles(votes)
    from .service import ArenaService

    return ArenaService(state.kernel).stored_battles()


@click.group("arena")
def arena() -> None:
    """Chatbot Arena: pairwise votes between models and Bradley-Terry leaderboards."""


@arena.command("leaderboard")
@VOTES_ARG
@click.option("--ci", type=click.Choice(["sandwich", "bootstrap", "none"]), default="sandwich", show_default=True,
              help="How to compute confidence intervals.")
@click.option("--category", help="Only battles in this category (see `skyplex arena categories`).")
@click.option("--rounds", type=int, default=100, show_default=True, help="Bootstrap rounds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option("--ties", type=click.Choice(["half", "drop"]), default="half", show_default=True)
@click.option("--both-bad", type=click.Choice(["half", "drop"]), default="half", show_default=True)
@click.option("--style-control", is_flag=True, help="Control for answer style (needs style features).")
@click.option("--exclude-flagged", is_flag=True, help="Drop the votes of voters flagged as anomalous.")
@click.option("--refuse-degenerate", is_flag=True,
              help="Fail instead of regularising when the ratings do not exist (disconnected or unbeaten models).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write the ratings plot (PNG) here.")
@click.option("--heatmap", type=click.Path(dir_okay=False, path_type=Path), help="Write the win-rate heatmap (PNG) here.")
@json_option
@pass_state
def leaderboard_cmd(state: CliState, votes: Path | None, ci: str, category: str | None, rounds: int, seed: int,
                    level: float, ties: str, both_bad: str, style_control: bool, exclude_flagged: bool,
                    refuse_degenerate: bool, fmt: str, plot: Path | None, heatmap: Path | None,
                    json_output: bool) -> None:
    """Ratings, intervals and ranks of the models in VOTES (JSON/JSONL, .gz ok; default: stored votes)."""
    from .anomaly import flagged_voters
    from .leaderboard import build_leaderboard, matrices

    battles = _battles(state, votes)
    excluded = flagged_voters(battles) if exclude_flagged else []
    board = build_leaderboard(battles, ci=ci, category=category, rounds=rounds, seed=seed, level=level, ties=ties,
                              both_bad=both_bad, style_control=style_control, exclude_voters=excluded,
                              on_degenerate="refuse" if refuse_degenerate else "regularise")
    if plot is not None:
        from .plot import ratings_png

        plot.write_bytes(ratings_png(board))
        state.err.print(f"wrote {plot}")
    if heatmap is not None:
        from .plot import heatmap_png

        mats = matrices(battles.excluding_voters(excluded), category=category)
        heatmap.write_bytes(heatmap_png(mats["models"], mats["win_rate"], order=[r.model for r in board.rows]))
        state.err.print(f"wrote {heatmap}")
    if fmt == "csv" and not wants_json(json_output):
        click.echo(board.to_csv(), nl=False)
    else:
        emit(board, json_output=json_output or fmt == "json", human=lambda b: _print_board(state, b))


def _print_board(state: CliState, board: Any) -> None:
    from rich.table import Table

    title = f"{board.battles} votes, {board.models} models, {int(board.level * 100)}% {board.ci} intervals"
    if board.category:
        title += f", category {board.category}"
    t = Table(title=title)
    for col in ("rank", "model", "rating", "CI", "votes", "win rate", "online Elo"):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col in ("model", "CI"))
    for r in board.rows:
        ci = "" if r.ci_low is None else f"{r.ci_low:.1f} .. {r.ci_high:.1f}"
        t.add_row(str(r.rank), r.model, f"{r.rating:.1f}", ci, str(r.votes), f"{r.win_rate:.1%}",
                  "" if r.elo is None else f"{r.elo:.0f}")
    if state.out.is_terminal:
        state.out.print(t)
    else:  # piped output has no terminal width to honour: use one that fits long model names
        from rich.console import Console

        Console(width=120, highlight=False).print(t)
    if board.style_coefficients:
        state.out.print("style coefficients (log-odds per s.d.): "
                        + ", ".join(f"{k} {v:+.3f}" for k, v in board.style_coefficients.items()))
    for w in board.warnings:
        state.err.print(f"[yellow]warning:[/] {w}")


@arena.command("categories")
@VOTES_ARG
@json_option
@pass_state
def categories_cmd(state: CliState, votes: Path | None, json_output: bool) -> None:
    """Categories in VOTES with their battle counts and leaders (sandwich intervals)."""
    from .leaderboard import per_category

    boards = per_category(_battles(state, votes), elo=False)
    emit(dict(boards), json_output=json_output, human=lambda data: _print_categories(state, data))


def _print_categories(state: CliState, boards: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title="per-category leaderboards")
    for col in ("category", "votes", "models", "first", "rating", "CI"):
        t.add_column(col)
    for name, b in boards.items():
        top = b.rows[0]
        t.add_row(name, str(b.battles), str(b.models), top.model, f"{top.rating:.1f}",
                  f"{top.ci_low:.1f} .. {top.ci_high:.1f}" if top.ci_low is not None else "")
    state.out.print(t)


@arena.command("import")
@click.argument("votes", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_kernel
def import_cmd(kernel: Any, votes: Path, json_output: bool) -> None:
    """Store the votes of VOTES (JSON/JSONL, model_a/model_b/winner) in the kernel store; re-imports add nothing."""
    from .battles import read_records
    from .store import ArenaStore

    result = ArenaStore(kernel.store).import_records(read_records(votes), source=votes.name)
    emit(result, json_output=json_output,
         human=lambda r: click.echo(f"imported {r['imported']} vote(s) from {votes} ({r['duplicates']} already "
                                    f"stored, {r['self_battles']} self-battle(s) skipped)"))


@arena.command("votes")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest LIMIT votes.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write JSONL here instead of stdout.")
@pass_state
def votes_cmd(state: CliState, limit: int | None, out: Path | None) -> None:
    """Export the stored votes as JSONL (common battle format; machine-readable already, so no --json)."""
    from .store import ArenaStore

    records = ArenaStore(state.kernel.store).votes(limit=limit)
    text = "".join(dumps(r) + "\n" for r in records)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        state.err.print(f"wrote {len(records)} vote(s) to {out}")


@arena.command("voters")
@VOTES_ARG
@click.option("--alpha", type=float, default=0.01, show_default=True, help="False-alarm rate per voter.")
@click.option("--all", "show_all", is_flag=True, help="List every voter, not just the flagged ones.")
@json_option
@pass_state
def voters_cmd(state: CliState, votes: Path | None, alpha: float, show_all: bool, json_output: bool) -> None:
    """Flag anomalous voters in VOTES (default: stored votes)."""
    from .anomaly import flag_voters

    checks = flag_voters(_battles(state, votes), alpha=alpha)
    shown = checks if show_all else [c for c in checks if c.flagged]
    emit(shown, json_output=json_output, human=lambda _: _print_voters(state, checks, shown, alpha))


def _print_voters(state: CliState, checks: list[Any], shown: list[Any], alpha: float) -> None:
    from rich.table import Table

    t = Table(title=f"{sum(c.flagged for c in checks)} of {len(checks)} voters flagged (alpha {alpha:g})")
    for col in ("voter", "votes", "scored", "p-value", "flagged at vote"):
        t.add_column(col)
    for c in shown:
        t.add_row(c.voter, str(c.votes), str(c.scored), "-" if c.p_value is None else f"{c.p_value:.2g}",
                  str(c.checkpoint or "-"))
    state.out.print(t)


def register(cli: click.Group) -> None:
    """Add ``skyplex arena ...`` to the root command group."""
    cli.add_command(arena)
