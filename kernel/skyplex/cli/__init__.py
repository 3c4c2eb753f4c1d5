"""The ``skyplex`` command line: one module per command group, plugins add their own groups.

Plugin authors add commands through the ``skyplex_register_commands(cli)`` hook and reach the
running kernel with :func:`pass_kernel`::

    @hookimpl
    def skyplex_register_commands(cli):
        @cli.command()
        @pass_kernel
        def hello(kernel):
            click.echo(", ".join(kernel.models.names()))

Importing this package stays cheap (click only): the command modules load on first use.
"""

from __future__ import annotations

from .context import CliState, pass_kernel, pass_state

__all__ = ["CliState", "pass_kernel", "pass_state"]
