"""`skyplex new-plugin`: scaffold a plugin distribution (package, hook, tests, README)."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from ..errors import InvalidInputError
from .context import CliState, pass_state


def default_dest(name: str) -> Path:
    """``plugins/NAME`` inside a skyplex checkout (which has a plugins/ folder), else ``./NAME``."""
    plugins = Path("plugins")
    return plugins / name if plugins.is_dir() else Path(name)


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create; it must not exist or be empty (default: plugins/NAME if ./plugins exists, else ./NAME).",
)
@click.option(
    "--kind", default="evaluator", show_default=True, help="Interface kind of the example implementation."
)
@pass_state
def new_plugin(state: CliState, name: str, dest: Path | None, kind: str) -> None:
    """Create plugin NAME: a `skyplex-NAME` distribution importing `skyplex_NAME`, with tests.

    \b
    Example:
      skyplex new-plugin my_eval
      pip install -e "plugins/my_eval[test]"
      python -m pytest plugins/my_eval/tests
    """
    # looked up at call time (not imported at module load) so `--help` stays cheap
    scaffold = importlib.import_module("skyplex.scaffold")
    dest = dest if dest is not None else default_dest(name)
    try:
        path = Path(scaffold.render_plugin(name, dest, kind=kind))
    except FileExistsError as exc:
        raise InvalidInputError(f"--dest {dest}: {exc}", field="--dest") from None
    except OSError as exc:  # e.g. no permission to write there
        raise InvalidInputError(f"--dest {dest}: cannot write the plugin there: {exc}", field="--dest") from None
    click.echo(f"Created {kind} plugin {name!r} in {path}")
    click.echo(scaffold.next_steps(path), nl=False)
