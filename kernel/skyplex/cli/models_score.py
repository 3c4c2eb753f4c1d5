"""`skyplex models score`: log P(continuation | context) for one context and several continuations."""

from __future__ import annotations

import time

import click

from .context import CliState, pass_state
from .models import _backend, models
from .output import emit_json, json_option


@models.command()
@click.argument("context")
@click.argument("continuations", nargs=-1, required=True)
@click.option("-m", "--model", help="Backend name (default: the `default_model` setting, normally local).")
@click.option("--tokens", "show_tokens", is_flag=True, help="Also print each continuation token's logprob.")
@json_option
@pass_state
def score(
    state: CliState, context: str, continuations: tuple[str, ...], model: str | None, show_tokens: bool, json_output: bool
) -> None:
    """Score each of CONTINUATIONS after CONTEXT: its total logprob, and whether greedy decoding picks it.

    The continuations are scored in one batch (the context is computed once), most likely first.
    Leading spaces matter: " Paris" after "The capital of France is".

    \b
    Example:
      skyplex models score "The capital of France is" " Paris" " Lyon"
    """
    from ..interfaces import ScoreRequest

    started = time.perf_counter()
    with state.err.status(f"Scoring {len(continuations)} continuation(s)… (the model loads on first use)"):
        name, backend = _backend(state, model)
        scores = backend.score([ScoreRequest(context=context, continuation=c) for c in continuations])
    seconds = time.perf_counter() - started
    rows = sorted(zip(continuations, scores), key=lambda pair: -pair[1].logprob)
    if json_output or state.json:
        emit_json(
            {
                "model": name,
                "context": context,
                "seconds": round(seconds, 3),
                "scores": [{"continuation": c, **s.model_dump(mode="json")} for c, s in rows],
            }
        )
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"log P(continuation | {context!r})", title_justify="left")
    for column in ("continuation", "logprob", "tokens", "greedy"):
        table.add_column(column)
    for continuation, s in rows:
        tokens = " ".join(f"{t.token!r}:{t.logprob:.2f}" for t in s.tokens) if show_tokens else str(len(s.tokens))
        table.add_row(escape(repr(continuation)), f"{s.logprob:.4f}", escape(tokens), "yes" if s.is_greedy else "no")
    state.out.print(table)
    state.err.print(f"{name}: {len(continuations)} continuation(s) in {seconds:.2f}s", style="dim", markup=False)
