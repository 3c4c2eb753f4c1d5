"""`skyplex plugins`: what loaded, what each plugin provides, and what failed."""

from __future__ import annotations

from typing import Any

import click

from .context import CliState, pass_state
from .output import emit_json, json_option


def plugin_report(state: CliState, reserved: Any = ()) -> dict[str, Any]:
    """Loaded plugins (with the CLI commands they add) and every load or hook error, as plain data."""
    kernel = state.kernel
    # asking for plugin commands runs their hook, so errors raised there are reported here too
    commands = state.plugin_commands(reserved=reserved)
    plugins = kernel.plugins()
    for plugin in plugins:
        plugin["commands"] = sorted(n for n in commands if state.command_owner(n) == plugin["name"])
    return {"plugins": plugins, "errors": [e.to_dict() for e in kernel.plugin_errors]}


@click.command()
@json_option
@pass_state
def plugins(state: CliState, json_output: bool) -> None:
    """List installed plugins: version, what they provide, hooks, and load errors."""
    from .main import BUILTIN_COMMANDS

    report = plugin_report(state, reserved=BUILTIN_COMMANDS)
    if json_output or state.json:
        emit_json(report)
        return

    from rich.table import Table

    table = Table(title="skyplex plugins", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("version")
    table.add_column("builtin")
    table.add_column("provides")
    table.add_column("commands")
    table.add_column("hooks", justify="right")
    for plugin in report["plugins"]:
        provides = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in plugin["provides"].items())
        table.add_row(
            plugin["name"],
            plugin["version"] or "-",
            "yes" if plugin["builtin"] else "no",
            provides or "-",
            ", ".join(plugin["commands"]) or "-",
            str(len(plugin["hooks"])),
        )
    out = state.out
    out.print(table)
    if not report["plugins"]:
        out.print("No plugins loaded. Install one with `pip install skyplex-<name>`.")
    for err in state.kernel.plugin_errors:
        # markup=False: error text may hold square brackets that rich would read as styles
        out.print(f"✗ {err.plugin} ({err.where}): {err.error}", style="red", markup=False)
        if state.verbose and err.traceback:
            out.print(err.traceback.rstrip(), style="dim red", markup=False)
    if report["errors"] and not state.verbose:
        out.print("Run `skyplex -v plugins` for the tracebacks.", style="dim")
