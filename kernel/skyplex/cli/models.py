"""`skyplex models`: list model backends, generate completions, chat in a REPL."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from ..errors import SkyplexError
from .context import CliState, pass_state
from .output import emit_json, json_option, one_line

if TYPE_CHECKING:
    from ..interfaces.model import ChatMessage, GenerationParams, ModelBackend

CHAT_HELP = "Commands: /reset forgets the conversation, /exit (or Ctrl-D) quits."


@click.group()
def models() -> None:
    """Model backends: list them, generate completions, chat."""


@models.command("list")
@json_option
@pass_state
def list_models(state: CliState, json_output: bool) -> None:
    """List model backends: name, plugin, description, and whether each can run here."""
    kernel = state.kernel
    default = state.settings.default_model
    rows = []
    for entry in kernel.models.describe():
        rows.append({**entry, "default": entry["name"] == default, **_availability(state, entry["name"])})
    if json_output or state.json:
        emit_json(rows)
        return

    from rich.table import Table

    table = Table(title="model backends", title_justify="left")
    for column in ("name", "plugin", "model", "available", "description"):
        table.add_column(column)
    for row in rows:
        status = "[green]yes[/]" if row["available"] else "[red]no[/] (see below)"
        name = f"{row['name']} [dim](default)[/]" if row["default"] else row["name"]
        table.add_row(name, row["plugin"], row.get("model") or "-", status, _escape(row.get("description") or ""))
    state.out.print(table)
    # reasons are whole sentences with the fix in them: print them in full, not squeezed into a cell
    for row in rows:
        if not row["available"]:
            state.out.print(f"[red]{_escape(row['name'])}[/] unavailable: {_escape(row['reason'])}")
    if not rows:
        state.out.print("No model backends are registered. Run `skyplex plugins` to see load errors.")


def _availability(state: CliState, name: str) -> dict[str, Any]:
    """Whether backend ``name`` can be built here and what it serves; ``info()`` never loads weights."""
    try:
        info = state.kernel.models.get(name).info()
        reason = state.kernel.models.unavailable_reason(name)  # torch or weights missing, say
        if reason is not None:
            return {"available": False, "reason": reason, "model": info.model}
    except SkyplexError as exc:
        return {"available": False, "reason": exc.message}
    except ImportError as exc:  # an optional dependency of that backend is missing
        return {"available": False, "reason": f"missing dependency: {exc.name or exc}"}
    except Exception as exc:  # one broken backend must not hide the others
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {"available": True, "reason": None, "model": info.model, "info": info.model_dump(mode="json")}


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def generation_options(max_tokens: int) -> Any:
    """The sampling options shared by `generate` and `chat` (``max_tokens`` is the default)."""

    def decorate(f: Any) -> Any:
        options = [
            click.option("-m", "--model", help="Backend name (default: the `default_model` setting, normally local)."),
            click.option(
                "--max-tokens", type=int, default=max_tokens, show_default=True, help="Tokens to generate at most."
            ),
            click.option("--temperature", type=float, default=0.0, show_default=True, help="0 decodes greedily."),
            click.option("--top-p", type=float, default=1.0, show_default=True, help="Nucleus sampling mass."),
            click.option("--seed", type=int, help="Makes sampled output repeatable."),
            click.option("--stop", multiple=True, help="Stop when this text is produced (repeatable)."),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def make_params(**values: Any) -> GenerationParams:
    """Validated :class:`GenerationParams`; a bad value is reported against its CLI option."""
    from ..interfaces.model import GenerationParams
    from ..validation import validate

    # a bad value is named by its CLI option: 'invalid value for --max-tokens: ...'
    return validate(GenerationParams, {k: v for k, v in values.items() if v is not None}, option_style=True)


def _backend(state: CliState, name: str | None) -> tuple[str, ModelBackend]:
    name = name or state.settings.default_model
    return name, state.kernel.models.get(name)


def _read_prompts(prompts: tuple[str, ...]) -> list[str]:
    """Prompts from the arguments; '-' stands for stdin, one prompt per non-empty line."""
    out: list[str] = []
    for prompt in prompts:
        if prompt == "-":
            stdin = sys.stdin
            out.extend(line.rstrip("\r\n") for line in stdin if line.strip())
        else:
            out.append(prompt)
    if not out:
        raise click.UsageError("no prompts: give them as arguments, or '-' to read one per line from stdin")
    return out


@models.command()
@click.argument("prompts", nargs=-1)
@generation_options(max_tokens=64)
@click.option("--logprobs", is_flag=True, help="Also return each generated token's log-probability.")
@click.option("--top-logprobs", type=int, default=0, help="With --logprobs: the N most likely alternatives too.")
@json_option
@pass_state
def generate(
    state: CliState,
    prompts: tuple[str, ...],
    model: str | None,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    stop: tuple[str, ...],
    logprobs: bool,
    top_logprobs: int,
    json_output: bool,
) -> None:
    """Complete PROMPTS (one batch); '-' reads prompts from stdin, one per line.

    \b
    Example:
      skyplex models generate "The capital of France is" --max-tokens 8
      cat prompts.txt | skyplex models generate - --json
    """
    texts = _read_prompts(prompts)
    params = make_params(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        stop=list(stop),
        logprobs=logprobs or top_logprobs > 0,
        top_logprobs=top_logprobs,
    )
    started = time.perf_counter()
    # the first call loads (and on first use converts) the weights, which takes a while
    with state.err.status(f"Generating {len(texts)} completion(s)… (the model loads on first use)"):
        name, backend = _backend(state, model)
        completions = backend.generate(texts, params)
    seconds = time.perf_counter() - started

    if json_output or state.json:
        emit_json(
            {
                "model": name,
                "seconds": round(seconds, 3),
                "completions": [{"prompt": p, **c.model_dump(mode="json")} for p, c in zip(texts, completions)],
            }
        )
        return
    for index, (prompt, completion) in enumerate(zip(texts, completions), start=1):
        if len(texts) > 1:
            state.out.print(f"─── {index}: {one_line(prompt)}", style="dim", markup=False)
        click.echo(completion.text)  # raw text, untouched by rich markup
        if completion.logprobs:
            _print_logprobs(state, completion.logprobs)
    prompt_tokens = sum(c.usage.prompt_tokens for c in completions)
    new_tokens = sum(c.usage.completion_tokens for c in completions)
    state.err.print(
        f"{name}: {len(texts)} prompt(s), {prompt_tokens} prompt + {new_tokens} generated tokens in {seconds:.2f}s",
        style="dim",
        markup=False,
    )


def _print_logprobs(state: CliState, logprobs: list[Any]) -> None:
    from rich.table import Table

    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("token")
    table.add_column("logprob", justify="right")
    table.add_column("top alternatives")
    for item in logprobs:
        top = ", ".join(f"{t!r} {lp:.2f}" for t, lp in item.top.items())
        table.add_row(_escape(repr(item.token)), f"{item.logprob:.3f}", _escape(top))
    state.out.print(table)


@models.command()
@generation_options(max_tokens=256)
@click.option("--system", help="System message that opens the conversation.")
@pass_state
def chat(
    state: CliState,
    model: str | None,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    stop: tuple[str, ...],
    system: str | None,
) -> None:
    """Chat with a model; the reply streams as it is generated.

    Reads one user message per line. Works in a terminal and from a pipe
    (`printf 'Hi\\nWhat did I say?\\n' | skyplex models chat`). /reset forgets the conversation,
    /exit quits.
    """
    from ..interfaces.model import ChatMessage

    params = make_params(
        max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=list(stop)
    )
    name, backend = _backend(state, model)
    opening = [ChatMessage(role="system", content=system)] if system else []
    messages = list(opening)
    interactive = sys.stdin.isatty()
    if interactive:
        state.err.print(f"Chatting with {name}. {CHAT_HELP}", style="dim", markup=False)

    for line in _user_lines(interactive):
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            command = text.split()[0].lower()
            if command in ("/exit", "/quit"):
                break
            if command == "/reset":
                messages = list(opening)
                state.err.print("(conversation reset)", style="dim")
            else:
                state.err.print(f"unknown command {command!r}. {CHAT_HELP}", style="yellow", markup=False)
            continue
        messages.append(ChatMessage(role="user", content=text))
        try:
            reply = _stream_reply(state, backend, messages, params)
        except SkyplexError as exc:
            if not interactive:
                raise
            # in a terminal one failed turn (e.g. context full) should not end the session
            messages.pop()
            state.err.print(f"error: {exc.message}", style="red", markup=False)
            continue
        messages.append(ChatMessage(role="assistant", content=reply))


def _user_lines(interactive: bool) -> Iterator[str]:
    """User messages: with line editing in a terminal, else one per line of the pipe until EOF."""
    if interactive:
        while True:
            try:
                yield input(">>> ")
            except EOFError:
                click.echo()
                return
    else:
        yield from sys.stdin


def _stream_reply(
    state: CliState, backend: ModelBackend, messages: list[ChatMessage], params: GenerationParams
) -> str:
    """Print the reply to ``messages`` as it streams; return its whole text."""
    pieces = backend.stream(list(messages), params)
    # the spinner covers the wait for the first piece, which includes loading the model once
    with state.err.status("thinking…"):
        first = next(pieces, None)
    parts: list[str] = []
    for text in itertools.chain([first] if first is not None else [], pieces):
        parts.append(text)
        click.echo(text, nl=False)  # click.echo flushes, so each piece shows at once
    click.echo()
    return "".join(parts)


# `models score` lives in its own module; importing it adds the command to this group
from . import models_score  # noqa: E402,F401
