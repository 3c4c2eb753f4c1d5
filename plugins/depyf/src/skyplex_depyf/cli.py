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
    """Decompile REF: a 'module:function' reference, or a .py/.pyc file with --function (never run).

    Prints the verified source, or the refusal (offset and instruction) and a dis listing as comments.
    """
    from skyplex.interfaces import InspectTarget

    from .decompiler import decompile
    from .inspector import DepyfInspector

    if function is not None and ref.endswith(".pyc"):
        from .inspector import function_from_pyc, report_of

        result = decompile(function_from_pyc(Path(ref), function))
        report = report_of("depyf", InspectTarget(kind="pyc", ref=f"{ref}:{function}"), result)
        emit(report, json_output=json_output, human=_print_source)
        if strict and not report.metadata["verified"]:
            raise SystemExit(1)
        return
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


@depyf.command("dump")
@click.argument("script", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the dump (created).")
@json_option
def dump_cmd(script: Path, args: tuple[str, ...], out: Path, json_output: bool) -> None:
    """Run SCRIPT (with ARGS) and write every frame torch.compile transforms into --out: decompiled
    code, FX graphs, guards, manifest.json and index.html."""
    if not script.is_file():
        fail(f"{script}: no such script; give the path of a Python file that calls torch.compile")
    try:
        import torch  # noqa: F401
    except ImportError:
        fail("torch is not installed; `pip install torch` to dump what torch.compile does")
    from .dump import dump_script

    dump = dump_script(script, out, list(args))
    emit({"folder": str(out), **dump.manifest(), "script_error": dump.script_error}, json_output=json_output,
         human=lambda data: _print_dump(data))
    if dump.script_error:
        fail(f"{script} raised {dump.script_error}; the partial dump is in {out}")


def _print_dump(data: dict) -> None:
    for frame in data["frames"]:
        state = "source" if frame["transformed_verified"] else "dis listing"
        transformed = next((n for n in frame["files"] if n.endswith("_transformed.py")), "?")
        extras = f", {len(frame['graphs'])} graph(s), {frame['guard_count']} guards"
        click.echo(f"{transformed}  ({frame['function']}, {state}{extras})")
    click.echo(f"{len(data['frames'])} compiled frames written to {data['folder']} (open index.html)")


def _print_source(report: Any) -> None:
    click.echo(report.artifacts[0].content, nl=False)


def register(cli: click.Group) -> None:
    """Add ``skyplex depyf ...`` to the ``skyplex`` CLI."""
    cli.add_command(depyf)
