"""The ``skyplex`` command line, and the helpers plugin commands are written with.

Plugin authors add commands through the ``skyplex_register_commands(cli)`` hook (in the plugin's
``cli.py``), reach the running kernel with :func:`pass_kernel`, offer ``--json`` with
:func:`json_option` and print with :func:`emit`; failures are reported for them (one line on stderr,
exit 2 for bad input, see :mod:`skyplex.cli.errors`)::

    from skyplex.cli import emit, json_option, pass_kernel

    def register(cli):
        @cli.command()
        @json_option
        @pass_kernel
        def hello(kernel, json_output):
            emit({"models": kernel.models.names()}, json_output=json_output,
                 human=lambda data: click.echo(", ".join(data["models"])))

Importing this package stays cheap (click only): the command modules load on first use.
"""

from __future__ import annotations

from .context import CliState, ensure_state, pass_kernel, pass_state
from .errors import EXIT_BAD_INPUT, EXIT_FAULT, EXIT_INTERRUPTED, explain, fail
from .output import emit, emit_json, json_option, wants_json

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAULT",
    "EXIT_INTERRUPTED",
    "CliState",
    "emit",
    "emit_json",
    "ensure_state",
    "explain",
    "fail",
    "json_option",
    "pass_kernel",
    "pass_state",
    "wants_json",
]
