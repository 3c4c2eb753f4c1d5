"""``skyplex depyf decompile``: a function (``module:attr``) or a function in a file, back to source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from skyplex.cli import emit, fail, json_option


@click.group("depyf")
def depyf() -> None:
    """depyf: bytecode back to source, verified by recompiling it."""


@depyf.command("decompile")
@click.argument("ref")
@click.option("--function", "function", help="With a .py file as REF: the function in it to decompile.")
@click.option("--strict", is_flag=True, help="Exit 1 when the function cannot be decompiled.")
@json_option
def decompile_cmd(ref: str, function: str | None, strict: bool, json_output: bool) -> None:
    """Decompile REF: a 'module:function' reference, or a .py file with --function (compiled, never run).

    Prints the verified source, or the refusal (offset and instruction) and a dis listing as comments.
    """
    from skyplex.interfaces import InspectTarget

    from .inspector import DepyfInspector

    if function is not None:
        path = Path(ref)
        if not path.is_file():
            fail(f"{ref}: no such file; give a .py file with --function, or a 'module:function' reference")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{ref}: cannot read it as UTF-8 Python source ({exc})")
        target = InspectTarget(kind="source", ref=function, options={"source": text, "filename": str(path)})
    else:
        target = InspectTarget(kind="python-function", ref=ref)
    report = DepyfInspector().inspect(target)
    emit(report, json_output=json_output, human=_print_source)
    if strict and not report.metadata["verified"]:
        raise SystemExit(1)


def _print_source(report: Any) -> None:
    click.echo(report.artifacts[0].content, nl=False)


def register(cli: click.Group) -> None:
    """Add ``skyplex depyf ...`` to the ``skyplex`` CLI."""
    cli.add_command(depyf)
