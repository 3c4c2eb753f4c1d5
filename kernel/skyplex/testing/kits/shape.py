"""Conformance kit for a plugin's shape: the same rooms in the same places in every plugin.

The shape (docs/architecture.md): ``__init__.py`` does no work; ``plugin.py`` holds only hook
implementations, registers implementations by ``"module:attr"`` reference and hands commands and
routes to ``cli.register(cli)`` and ``routes.register(router, kernel)``; the tests folder (when the
plugin is installed from its source tree) has ``test_conformance.py``, plus ``test_cli.py`` and
``test_routes.py`` when the plugin adds commands or routes.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path
from typing import Any

from ...interfaces import KINDS


class PluginShapeConformance:
    """Set ``package`` (the import package, e.g. ``"skyplex_myeval"``)."""

    package: str = ""

    # helpers -----------------------------------------------------------------------------------
    def _package_dir(self) -> Path:
        assert self.package, "set package on the shape conformance subclass, e.g. 'skyplex_myeval'"
        spec = importlib.util.find_spec(self.package)
        assert spec is not None and spec.submodule_search_locations, f"{self.package} is not an installed package"
        return Path(next(iter(spec.submodule_search_locations)))

    def _plugin(self) -> Any:
        return importlib.import_module(f"{self.package}.plugin")

    def _hooks(self) -> set[str]:
        return {name for name in dir(self._plugin()) if name.startswith("skyplex_")}

    def _tests_dir(self) -> Path | None:
        # src layout: <project>/src/<package>/ beside <project>/tests/; absent in an installed wheel
        tests = self._package_dir().parent.parent / "tests"
        return tests if tests.is_dir() else None

    # the checks --------------------------------------------------------------------------------
    def test_init_does_no_work(self):
        tree = ast.parse((self._package_dir() / "__init__.py").read_text(encoding="utf-8"))
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            dunder = isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
                isinstance(t, ast.Name) and t.id.startswith("__")
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
            future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
            assert docstring or dunder or future, (
                f"{self.package}/__init__.py line {node.lineno} does work at import; keep it to a docstring "
                "(the kernel loads the plugin through plugin.py)"
            )

    def test_plugin_module_holds_only_hooks(self):
        tree = ast.parse((self._package_dir() / "plugin.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)):
                continue
            if isinstance(node, ast.FunctionDef) and node.name.startswith("skyplex_"):
                continue
            raise AssertionError(
                f"{self.package}/plugin.py line {node.lineno}: plugin.py holds hook implementations only; "
                "move other code to the kind's module, cli.py or routes.py"
            )

    def test_registers_by_reference(self):
        plugin = self._plugin()
        seen: list[tuple[str, str, Any]] = []
        for kind in KINDS:
            hook = getattr(plugin, f"skyplex_register_{kind}s", None)
            if hook is not None:
                hook(register=lambda name, factory, _kind=kind, **meta: seen.append((_kind, name, factory)))
        assert seen, f"{self.package}.plugin registers nothing"
        for kind, name, factory in seen:
            assert isinstance(factory, str) and ":" in factory, (
                f"{kind} {name!r} is registered with {factory!r}; register a 'package.module:attr' reference "
                "so loading the plugin imports no implementation"
            )

    def test_commands_live_in_cli_py(self):
        if "skyplex_register_commands" not in self._hooks():
            return
        cli = importlib.import_module(f"{self.package}.cli")
        assert callable(getattr(cli, "register", None)), f"{self.package}.cli needs register(cli)"

    def test_routes_live_in_routes_py(self):
        if "skyplex_register_routes" not in self._hooks():
            return
        routes = importlib.import_module(f"{self.package}.routes")
        assert callable(getattr(routes, "register", None)), f"{self.package}.routes needs register(router, kernel)"

    def test_tests_have_the_shared_names(self):
        tests = self._tests_dir()
        if tests is None:
            return  # installed from a wheel: the tests are not shipped
        expected = {"test_conformance.py"}
        if "skyplex_register_commands" in self._hooks():
            expected.add("test_cli.py")
        if "skyplex_register_routes" in self._hooks():
            expected.add("test_routes.py")
        missing = sorted(name for name in expected if not (tests / name).is_file())
        assert not missing, f"{tests} lacks {', '.join(missing)} (the test file names every plugin shares)"
