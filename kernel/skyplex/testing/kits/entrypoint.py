"""Conformance kit for a plugin entry point: the contract every caller relies on."""

from __future__ import annotations

import importlib.metadata as md
from typing import Any

from ...interfaces import KINDS


class EntryPointConformance:
    """Checks a plugin installs through its entry point and registers what it promises.

    Set ``plugin_name`` (the entry-point name) and ``expected`` ({kind: [names]}); set
    ``create_options`` ({name: {option: value}}) for factories that need options to build.
    """

    plugin_name: str = ""
    expected: dict[str, list[str]] = {}
    create_options: dict[str, dict[str, Any]] = {}

    def test_entry_point_is_declared(self):
        assert self.plugin_name, "set plugin_name on the conformance subclass"
        names = {ep.name for ep in md.entry_points(group="skyplex")}
        assert self.plugin_name in names, f"no entry point {self.plugin_name!r} in group 'skyplex'"

    def test_loads_and_registers(self, tmp_path):
        from ...config import Settings
        from ...kernel import Kernel
        from ...plugins import make_plugin_manager

        pm = make_plugin_manager(builtins=False, entrypoints=True, allowlist={self.plugin_name})
        assert not pm.load_errors, [e.error for e in pm.load_errors]
        kernel = Kernel(settings=Settings(data_dir=tmp_path), pm=pm, strict=True)
        try:
            for kind, names in self.expected.items():
                assert kind in KINDS, f"unknown kind {kind!r}"
                registry = kernel.registry(kind)
                for name in names:
                    assert name in registry, f"{kind} {name!r} not registered by {self.plugin_name!r}"
                    obj = registry.create(name, **self.create_options.get(name, {}))
                    assert isinstance(obj, KINDS[kind])
        finally:
            kernel.close()
