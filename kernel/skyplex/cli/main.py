"""The root ``skyplex`` group: global options, lazily loaded command groups, plugin groups, errors.

Built-in commands come from the built-in plugin (``skyplex.builtins``) by reference; their modules
are imported only when the command runs (or for its own ``--help``), and the
kernel only when a command needs it, so ``skyplex --help`` stays fast. Failures reach people as
one line on stderr, ``error: ...``; ``-v`` adds the traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .. import builtins
from ..errors import SkyplexError
from .context import CliState, KernelFactory, ensure_state
from .errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, explain, one_line

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "cli", "main"]

log = logging.getLogger(__name__)

#: built-in command names -> (reference, one-line help); the built-in plugin (``skyplex.builtins``)
#: owns the table and registers them; they are imported on first use
BUILTIN_COMMANDS = builtins.COMMANDS


class SkyplexGroup(click.Group):
    """Root group: built-in commands load lazily; unknown names are looked up among plugin commands.

    Its :meth:`main` turns every failure into a one-line ``error: ...`` on stderr with a fitting exit
    status, both for the installed console script and for click's ``CliRunner`` in tests.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(BUILTIN_COMMANDS) | set(self.commands)
        try:
            names |= set(ensure_state(ctx).plugin_commands(reserved=BUILTIN_COMMANDS))
        except SkyplexError as exc:
            # --help must work even when the config is broken; the command itself will say why
            log.warning("plugin commands not listed: %s", exc)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            # found without building the kernel, so built-in commands work even when the config is broken
            return _builtin_commands()[cmd_name]
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return ensure_state(ctx).plugin_commands(reserved=BUILTIN_COMMANDS).get(cmd_name)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; report failures in one line. Returns the exit code unless ``standalone_mode``."""
        state = extra.get("obj")
        if not isinstance(state, CliState):
            state = extra["obj"] = CliState()
        code = _run(self, state, args, prog_name or "skyplex", complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code


_BUILTIN_COMMANDS: dict[str, click.Command] = {}


def _builtin_commands() -> dict[str, click.Command]:
    # one set of lazy commands per process: each imports its module at most once
    if not _BUILTIN_COMMANDS:
        _BUILTIN_COMMANDS.update(builtins.commands())
    return _BUILTIN_COMMANDS


def _run(
    group: click.Group,
    state: CliState,
    args: Sequence[str] | None,
    prog_name: str,
    complete_var: str | None,
    **extra: Any,
) -> int:
    """Invoke ``group`` and map the outcome to an exit status, printing any error as one line."""
    try:
        rv = click.Group.main(
            group, args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra
        )
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help())
        return 0
    except (Exception, KeyboardInterrupt) as exc:
        message, code = explain(exc, verbose=state.verbose)
        return _fail(state, exc, message, code)
    # click returns a command's return value; an int means an exit status (ctx.exit() also lands here)
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


#: kept for code that imported the helper from here
_flat = one_line


def _fail(state: CliState, exc: BaseException, message: str, code: int) -> int:
    if state.verbose and not isinstance(exc, (click.UsageError, KeyboardInterrupt, click.Abort)):
        # -v: the traceback too, for every failure that is not a plain usage mistake
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"error: {message}", err=True)
    return code


@click.group(
    "skyplex",
    cls=SkyplexGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML settings file (default: $SKYPLEX_CONFIG).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database, API key and model cache live (default: $SKYPLEX_DATA_DIR or ~/.local/share/skyplex).",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON output for list and show commands.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging, and tracebacks on errors.")
@click.version_option(package_name="skyplex", message="skyplex %(version)s", prog_name="skyplex")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, data_dir: Path | None, json_output: bool, verbose: bool) -> None:
    """skyplex: a plugin-based microkernel for running LLM systems.

    Plugins add their own command groups; `skyplex plugins` shows what is installed.
    """
    ensure_state(ctx)
    if ctx.invoked_subcommand is None:  # `skyplex` or `skyplex --data-dir X` alone: show what there is
        click.echo(ctx.get_help())


def main(argv: Sequence[str] | None = None, *, kernel_factory: KernelFactory | None = None) -> int:
    """Console-script entry point; returns the exit status (``argv`` and the factory are for tests)."""
    return cli.main(argv, prog_name="skyplex", standalone_mode=False, obj=CliState(kernel_factory))


if __name__ == "__main__":  # python -m skyplex.cli.main
    sys.exit(main())
