"""Run what the docs show, exactly as written: find a plugin's page, read its commands, invoke them.

The project's rule is that every command a page shows is run by a test as typed. These helpers make
that one line per test::

    from skyplex.testing.docs import documented_commands, plugin_doc, run_cli

    page = plugin_doc("myeval", __file__)
    for argv, expected in documented_commands(page.read_text(), "skyplex myeval"):
        result = run_cli(argv, plugins={"myeval"}, data_dir=tmp_path / "data")
        assert result.exit_code == 0, result.output

A documented command is a line ``$ skyplex ...`` in a ```` ```console ```` block; the lines after it,
up to the next ``$ `` line, are the output the page promises.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from pathlib import Path
from typing import Any

__all__ = ["code_blocks", "documented_commands", "plugin_doc", "run_cli"]


def plugin_doc(name: str, test_file: str | Path) -> Path:
    """``docs/plugins/<name>.md`` of the checkout holding ``test_file`` (the calling test's ``__file__``).

    The page is looked up in each folder above the test file, so a plugin's tests find it from
    ``plugins/<name>/tests`` and from a copy of that layout elsewhere; a missing page fails the test
    with what was searched, rather than skipping.
    """
    start = Path(test_file).resolve().parent
    for folder in (start, *start.parents):
        page = folder / "docs" / "plugins" / f"{name}.md"
        if page.is_file():
            return page
    raise AssertionError(f"docs/plugins/{name}.md not found in any folder above {start}; "
                         "the tests run the page's commands as written, so keep the page in the checkout")


def code_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced blocks of ``lang`` (``console``, ``python``, ``sh`` ...) in ``text``."""
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```", text, re.M | re.S)


def documented_commands(text: str, prefix: str = "skyplex") -> list[tuple[list[str], list[str]]]:
    """``(argv after "skyplex", expected output lines)`` for each ``$ <prefix> ...`` line of the
    ```` ```console ```` blocks in ``text``, split as a POSIX shell would."""
    found = []
    for block in code_blocks(text, "console"):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith(f"$ {prefix}"):
                continue
            expected = []
            for following in lines[i + 1:]:
                if following.startswith("$ "):
                    break
                expected.append(following)
            found.append((shlex.split(line[2:])[1:], expected))
    return found


def run_cli(argv: list[str], *, plugins: Collection[str], data_dir: str | Path, builtins: bool = False,
            **invoke: Any) -> Any:
    """Invoke the real ``skyplex`` group in-process with ``argv`` (after ``skyplex``), a kernel loading only
    the installed ``plugins`` (plus the built-ins when ``builtins``) and ``--data-dir data_dir``.

    Returns click's ``Result`` (``exit_code``, ``stdout``, ``stderr``, ``output``); ``invoke`` goes to
    ``CliRunner.invoke`` (``input=``, ``env=``).
    """
    from click.testing import CliRunner

    from ..cli import CliState
    from ..cli.main import cli
    from ..kernel import Kernel
    from ..plugins import make_plugin_manager

    pm = make_plugin_manager(builtins=builtins, entrypoints=True, allowlist=set(plugins))
    state = CliState(lambda settings: Kernel(settings=settings, pm=pm))
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *argv], obj=state, **invoke)
