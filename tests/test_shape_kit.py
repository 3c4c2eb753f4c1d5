"""PluginShapeConformance passes a plugin in the shape and fails each way of leaving it (a mutation
per rule), so a reviewer can trust a green shape check."""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

import pytest

from skyplex.testing import PluginShapeConformance

GOOD = {
    "__init__.py": '"""A plugin."""\n\n__all__: list[str] = []\n',
    "plugin.py": textwrap.dedent('''
        """Hooks."""
        from skyplex import hookimpl


        @hookimpl
        def skyplex_register_allocators(register):
            register("{name}", "{pkg}.allocator:Thing")


        @hookimpl
        def skyplex_register_commands(cli):
            from .cli import register

            register(cli)


        @hookimpl
        def skyplex_register_routes(router, kernel):
            from .routes import register

            register(router, kernel)
    '''),
    "cli.py": "def register(cli):\n    pass\n",
    "routes.py": "def register(router, kernel):\n    pass\n",
    "allocator.py": "class Thing:\n    pass\n",
}
TESTS = ("test_conformance.py", "test_cli.py", "test_routes.py")
counter = itertools.count()


def make_plugin(root: Path, files: dict[str, str], tests=TESTS) -> str:
    name = f"shapecheck{next(counter)}"
    pkg = f"skyplex_{name}"
    src = root / name / "src" / pkg
    src.mkdir(parents=True)
    for file, text in files.items():
        (src / file).write_text(text.format(name=name, pkg=pkg))
    (root / name / "tests").mkdir()
    for test in tests:
        (root / name / "tests" / test).write_text("")
    sys.path.insert(0, str(src.parent))
    return pkg


def failures(pkg: str) -> list[str]:
    kit = type("Kit", (PluginShapeConformance,), {"package": pkg})()
    failed = []
    for name in dir(kit):
        if name.startswith("test_"):
            try:
                getattr(kit, name)()
            except AssertionError:
                failed.append(name)
    return failed


@pytest.fixture
def root(tmp_path):
    saved = list(sys.path)
    yield tmp_path
    sys.path[:] = saved
    for mod in [m for m in sys.modules if m.startswith("skyplex_shapecheck")]:
        del sys.modules[mod]


def test_the_shape_passes(root):
    assert failures(make_plugin(root, GOOD)) == []


MUTATIONS = {
    "init does work": ({"__init__.py": "from .plugin import *\n"}, "test_init_does_no_work"),
    "class in plugin.py": ({"plugin.py": GOOD["plugin.py"] + "\nclass Helper:\n    pass\n"},
                           "test_plugin_module_holds_only_hooks"),
    "registers a class": ({"plugin.py": GOOD["plugin.py"].replace('"{pkg}.allocator:Thing"', "object")},
                          "test_registers_by_reference"),
    "no cli.register": ({"cli.py": "def commands(cli):\n    pass\n"}, "test_commands_live_in_cli_py"),
    "no routes.register": ({"routes.py": "ROUTES = []\n"}, "test_routes_live_in_routes_py"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_departure_from_the_shape_fails_its_check(root, mutation):
    change, check = MUTATIONS[mutation]
    assert failures(make_plugin(root, {**GOOD, **change})) == [check]


@pytest.mark.parametrize("missing", TESTS)
def test_each_missing_shared_test_file_fails(root, missing):
    pkg = make_plugin(root, GOOD, tests=[t for t in TESTS if t != missing])
    assert failures(pkg) == ["test_tests_have_the_shared_names"]
