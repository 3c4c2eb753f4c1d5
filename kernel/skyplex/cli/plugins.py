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
    state.plugin_commands(reserved=reserved)
    plugins = kernel.plugins()
    errors = [e.to_dict() for e in kernel.plugin_errors]
    for plugin in plugins:
        plugin["commands"] = state.commands_of(plugin["name"])
        # kernel.plugins() knows load errors; hook errors (e.g. in the command hook) come later
        plugin["errors"] = [e for e in errors if e["plugin"] == plugin["name"]]
    loaded = {p["name"] for p in plugins}
    # a plugin that failed to import has no row of its own; give it one so the table shows it
    for err in errors:
        if err["plugin"] not in loaded:
            loaded.add(err["plugin"])
            plugins.append({"name": err["plugin"], "module": None, "builtin": False, "distribution": None,
                            "version": None, "kinds": [], "provides": {}, "hooks": [], "commands": [],
                            "errors": [e for e in errors if e["plugin"] == err["plugin"]]})
    return {"plugins": plugins, "errors": errors}


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
    table.add_column("distribution")
    table.add_column("version")
    table.add_column("builtin")
    table.add_column("provides")
    table.add_column("commands")
    table.add_column("hooks", justify="right")
    table.add_column("errors", justify="right")
    for plugin in report["plugins"]:
        provides = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in plugin["provides"].items())
        table.add_row(
            plugin["name"],
            plugin["distribution"] or "-",
            plugin["version"] or "-",
            "yes" if plugin["builtin"] else "no",
            provides or "-",
            ", ".join(plugin["commands"]) or "-",
            str(len(plugin["hooks"])),
            str(len(plugin["errors"])) if plugin["errors"] else "-",
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
