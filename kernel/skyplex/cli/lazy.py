"""Commands known by name and help before their module is imported."""

from __future__ import annotations

from typing import Any

import click

from ..builtins import resolve


class LazyCommand(click.Command):
    """A command known by name and one-line help, whose module is imported only when it runs
    (or its own ``--help`` is asked for)."""

    def __init__(self, name: str, reference: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self.reference = reference
        self._command: click.Command | None = None

    @property
    def command(self) -> click.Command:
        """The real click command, imported on first use."""
        if self._command is None:
            command = resolve(self.reference)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.reference} is not a click command")
            self._command = command
        return self._command

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        return self.command.make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.command.invoke(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or ""
