"""Render a new plugin distribution from the template shipped in ``skyplex/templates/plugin/``.

``render_plugin("myeval", Path("plugins/myeval"))`` writes a complete ``skyplex-myeval`` distribution
(pyproject, README, ``src/skyplex_myeval/`` with plugin.py, cli.py, routes.py and evaluator.py, and
tests: test_conformance.py, test_cli.py, test_routes.py, test_evaluator.py) that installs and passes
its tests with only the kernel installed. From a shell::

    skyplex new-plugin myeval          # or: python -m skyplex.scaffold myeval plugins/myeval

Templates are plain files ending in ``.tmpl``; ``{{key}}`` in a file's text or path is replaced by
the value of ``key`` (see :func:`template_values`). Nothing is evaluated, so a template can contain
any text, and an unknown key is an error rather than a silent blank.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .errors import InvalidInputError
from . import builtins

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TEMPLATE_SUFFIX = ".tmpl"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _template_root() -> Traversable:
    return files("skyplex") / "templates" / "plugin"


def plugin_kinds() -> list[str]:
    """Kinds the template can produce an example for (one folder each under templates/plugin/)."""
    return sorted(entry.name for entry in _template_root().iterdir() if entry.is_dir())


def validate_name(name: str) -> str:
    """Check a plugin name: lowercase letters, digits and '_', starting with a letter, at most 40.

    The name becomes the entry-point name, the distribution ``skyplex-<name>`` and the import
    package ``skyplex_<name>``, so it must be valid in all three.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and '_', starting with a letter "
            "(at most 40 characters), e.g. 'myeval'",
            field="name",
        )
    if keyword.iskeyword(name) or name.endswith("_"):
        raise InvalidInputError(
            f"invalid plugin name {name!r}: pick a name that is not a Python keyword and does not end in '_'",
            field="name",
        )
    # the plugin's name is also its command group and usually its registered name: keep clear of the built-ins'
    taken = {builtins.PLUGIN_NAME, *builtins.MODELS, *(c.replace("-", "_") for c in builtins.COMMANDS)}
    if name in taken:
        raise InvalidInputError(
            f"plugin name {name!r} is taken by the kernel's built-ins ({', '.join(sorted(taken))}); pick another",
            field="name",
        )
    return name


def kernel_requirement(version: str) -> str:
    """The requirement pinning the kernel's minor version, e.g. ``skyplex>=0.1,<0.2`` for 0.1.3."""
    match = re.match(r"^(\d+)\.(\d+)", version)
    if not match:
        return "skyplex"  # an uninstalled source tree has no usable version; leave it unpinned
    major, minor = int(match[1]), int(match[2])
    return f"skyplex>={major}.{minor},<{major}.{minor + 1}"


def template_values(name: str, kind: str) -> dict[str, str]:
    """What each ``{{key}}`` in the template becomes for plugin ``name``."""
    from . import __version__

    return {
        "name": name,
        "package": f"skyplex_{name}",
        "distribution": f"skyplex-{name}",
        "kind": kind,
        "kernel_requirement": kernel_requirement(__version__),
    }


def substitute(text: str, values: dict[str, str], *, where: str = "template") -> str:
    """Replace every ``{{key}}`` in ``text``; an unknown key raises KeyError naming ``where``."""

    def one(match: re.Match[str]) -> str:
        key = match[1]
        if key not in values:
            raise KeyError(f"{where}: unknown placeholder {{{{{key}}}}}; known: {', '.join(sorted(values))}")
        return values[key]

    return _PLACEHOLDER.sub(one, text)


def _walk(root: Traversable, prefix: PurePosixPath = PurePosixPath()):
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _walk(entry, prefix / entry.name)
        else:
            yield prefix / entry.name, entry


def render_plugin(name: str, dest: Path, *, kind: str = "evaluator") -> Path:
    """Write a new plugin distribution ``skyplex-<name>`` into ``dest`` and return its path.

    ``kind`` picks the example implementation (see :func:`plugin_kinds`). ``dest`` may exist only
    if it is an empty folder; nothing is written unless every template file rendered.
    """
    validate_name(name)
    kinds = plugin_kinds()
    if kind not in kinds:
        raise InvalidInputError(
            f"no plugin template for kind {kind!r}; templates exist for: {', '.join(kinds)}", field="kind"
        )
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty folder; choose a new path or empty it")

    values = template_values(name, kind)
    rendered: dict[Path, bytes] = {}  # render everything first so a template error leaves no half-written plugin
    for rel, entry in _walk(_template_root() / kind):
        target = PurePosixPath(substitute(str(rel), values, where=str(rel)))
        if target.name.endswith(TEMPLATE_SUFFIX):
            text = substitute(entry.read_text(encoding="utf-8"), values, where=str(rel))
            rendered[Path(*target.parts[:-1], target.name[: -len(TEMPLATE_SUFFIX)])] = text.encode("utf-8")
        else:
            rendered[Path(*target.parts)] = entry.read_bytes()  # copied as is (e.g. data files)

    for rel_path, content in rendered.items():
        path = dest / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return dest


def main(argv: list[str] | None = None) -> int:
    """``python -m skyplex.scaffold NAME DEST [--kind KIND]``."""
    parser = argparse.ArgumentParser(prog="python -m skyplex.scaffold", description="Create a new skyplex plugin.")
    parser.add_argument("name", help="plugin name: lowercase letters, digits and '_' (e.g. myeval)")
    parser.add_argument("dest", type=Path, help="folder to create (must not exist, or be empty)")
    parser.add_argument("--kind", default="evaluator", help="example implementation to start from")
    args = parser.parse_args(argv)
    try:
        out = render_plugin(args.name, args.dest, kind=args.kind)
    except (InvalidInputError, FileExistsError) as exc:
        parser.exit(2, f"error: {exc}\n")
    sys.stdout.write(f"Created skyplex-{args.name} in {out}\n" + next_steps(out))
    return 0


def next_steps(path: Path) -> str:
    """What to run after rendering a plugin into ``path``: install it with its test extra, run its tests."""
    return (
        "Next:\n"
        f'  pip install -e "{path}[test]"\n'
        f"  python -m pytest {path / 'tests'}\n"
        "  skyplex plugins   # lists it once installed\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
