"""``skyplex goex``: run a request with review, inspect, commit, undo, and read the journal.

Built on the kernel's CLI helpers: the invocation's kernel (``pass_kernel``), ``--json`` on every
command that prints records (``json_option``/``emit``), bad input as one line with exit 2 (``fail``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from skyplex.cli import emit, fail, json_option, pass_kernel, wants_json


def _executor(kernel):
    return kernel.executors.get("goex")


def _line(rec) -> None:
    click.echo(f"{rec.id}  {rec.action.kind:<8} {rec.status:<10} {rec.outcome.get('classification', '')}  {rec.action.description}")
    if rec.error:
        click.echo(f"  error: {rec.error}")


def _show(rec, json_output: bool = False) -> None:
    """One action record: its line for people, the whole record with ``--json``."""
    emit(rec, json_output=json_output, human=_line)


def _preview(rec) -> None:
    p = rec.preview
    if p.get("diff"):
        click.echo(p["diff"])
    for key in ("summary", "statements", "rows", "request", "current", "compensation", "response"):
        if p.get(key) not in (None, [], {}):
            click.echo(f"{key}: {json.dumps(p[key], indent=2, default=str)[:4000]}")
    if p.get("stdout"):
        click.echo(f"stdout:\n{p['stdout']}")


@click.group()
def goex() -> None:
    """GoEX: run LLM-proposed actions staged, review, commit, undo."""


@goex.command()
@click.argument("request", required=False)
@click.option("--model", default="local", show_default=True, help="Model backend that proposes the action.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), help="Folder the action may change.")
@click.option("--database", type=click.Path(exists=True, dir_okay=False), help="SQLite database the action may change.")
@click.option("--action-file", type=click.Path(exists=True, dir_okay=False), help="Skip the model: run this action JSON.")
@click.option("--commit/--no-commit", default=None, help="Commit (or undo) without asking.")
@click.option("--approve", is_flag=True, help="Approve an irreversible action before committing.")
@json_option
@pass_kernel
def run(kernel, request, model, root, database, action_file, commit, approve, json_output) -> None:
    """Turn REQUEST into an action, run it staged, show its effect, then commit or undo it.

    With --action-file the action is read from a JSON file ({"kind", "payload", "description"})
    instead of asked of a model; --root/--database then pin its target the same way. With --json the
    final record is printed as JSON, so --commit or --no-commit must say what to do without asking.
    """
    from .flow import propose_from_request

    if bool(request) == bool(action_file):
        fail("give either REQUEST (words for the model) or --action-file FILE (an action as JSON)")
    json_output = wants_json(json_output)
    if json_output and commit is None:
        fail("--json prints only the final record, so give --commit or --no-commit (no question is asked)",
             field="--commit")
    targets = {"root": str(Path(root).resolve()) if root else None,
               "database": str(Path(database).resolve()) if database else None}
    if action_file:
        action = _read_action_file(Path(action_file), targets)
        ex = _executor(kernel)
        rec = ex.run(ex.propose(action).id)
    else:
        ex = _executor(kernel)
        rec = propose_from_request(ex, kernel.models.get(model), request, targets)
    if not json_output:
        _line(rec)
        _preview(rec)
    if commit is None:
        commit = click.confirm("Commit this action?", default=False)
    if commit:
        if approve:
            ex.approve(rec.id, by="cli")
        rec = ex.commit(rec.id)
    else:
        rec = ex.undo(rec.id)
    _show(rec, json_output)


def _read_action_file(path: Path, targets: dict[str, str | None]):
    """The action in ``path``, its target pinned to --root/--database; bad files are usage errors."""
    from skyplex.interfaces.executor import Action
    from skyplex.validation import validate

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not a JSON file: {exc}; write one action object "
             '{"kind": ..., "payload": {...}}', field="--action-file")
    if not isinstance(data, dict) or not isinstance(data.get("payload", {}), dict):
        fail(f"{path} must hold one JSON object with 'kind' and a 'payload' object", field="--action-file")
    payload = dict(data.get("payload") or {})
    for key, value in targets.items():
        if value:
            payload[key] = value
    return validate(Action, {**data, "payload": payload}, where=f"{path}: action")


@goex.command()
@click.argument("action_id")
@json_option
@pass_kernel
def status(kernel, action_id, json_output) -> None:
    """Show one action and its preview."""
    rec = _executor(kernel).get(action_id)
    emit(rec, json_output=json_output, human=lambda r: (_line(r), _preview(r)))


@goex.command()
@click.argument("action_id")
@json_option
@pass_kernel
def commit(kernel, action_id, json_output) -> None:
    """Commit an action that ran."""
    _show(_executor(kernel).commit(action_id), json_output)


@goex.command()
@click.argument("action_id")
@json_option
@pass_kernel
def approve(kernel, action_id, json_output) -> None:
    """Approve an irreversible action before commit, or a committed one's model-proposed reverse."""
    _show(_executor(kernel).approve(action_id, by="cli"), json_output)


@goex.command()
@click.argument("action_id")
@click.option("--force", is_flag=True, help="Restore even if the target changed since the commit.")
@click.option("--model", default=None,
              help="Model backend to propose a reverse REST call when none can be derived (sent only after approve).")
@json_option
@pass_kernel
def undo(kernel, action_id, force, model, json_output) -> None:
    """Undo a committed action (or discard one that only ran)."""
    _show(_executor(kernel).undo(action_id, force=force, model=model), json_output)


@goex.command("log")
@click.option("--limit", default=20, show_default=True)
@click.option("--verify", is_flag=True, help="Check the journal's hash chain.")
@json_option
@pass_kernel
def log_(kernel, limit, verify, json_output) -> None:
    """Recent actions, newest first; with --verify, exit 1 when the journal's chain is broken."""
    ex = _executor(kernel)
    records = ex.journal(limit)
    problems = ex.verify_journal() if verify else None
    data = {"actions": records} if problems is None else {"actions": records, "intact": not problems,
                                                           "problems": problems}

    def human(_data) -> None:
        for rec in records:
            _line(rec)
        if problems is not None:
            click.echo("journal intact" if not problems else "\n".join(problems))

    emit(data, json_output=json_output, human=human)
    if problems:
        raise SystemExit(1)


@goex.group()
def secret() -> None:
    """Credentials in the encrypted vault."""


@secret.command("set")
@click.argument("name")
@click.option("--value", prompt=True, hide_input=True)
@pass_kernel
def secret_set(kernel, name, value) -> None:
    """Store a secret; actions refer to it as {{secret:NAME}}."""
    _executor(kernel).vault.set(name, value)
    click.echo(f"stored secret {name}")


def register(cli: click.Group) -> None:
    """Add ``skyplex goex ...`` to the ``skyplex`` group (called from the plugin's hook)."""
    cli.add_command(goex)
