"""Plugin discovery: built-ins, entry points, allowlist, autoload switch, failures never fatal."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from skyplex import DuplicateNameError, Kernel, PluginError, Settings, hookimpl, make_plugin_manager
from skyplex.interfaces import AllocationProblem, Allocation, Allocator


def install_fake_distribution(site: Path, dist: str, plugins: dict[str, str], modules: dict[str, str]) -> None:
    """Write a real (minimal) installed distribution: dist-info with entry points, plus modules."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    eps = "[skyplex]\n" + "".join(f"{name} = {target}\n" for name, target in plugins.items())
    (info / "entry_points.txt").write_text(eps)
    for mod, src in modules.items():
        (site / f"{mod}.py").write_text(textwrap.dedent(src))


GOOD = """
from skyplex import hookimpl
from skyplex.interfaces import Allocator, Allocation

class Cheapest(Allocator):
    '''Always rents one of the cheapest GPU.'''
    def allocate(self, problem):
        g = min(problem.gpu_types, key=lambda g: g.price_per_hour)
        return Allocation(allocator=self.name, gpus={g.name: 1}, cost_per_hour=g.price_per_hour)

@hookimpl
def skyplex_register_allocators(register):
    register("cheapest", Cheapest, description="one cheapest GPU")
"""

BROKEN_IMPORT = """
raise RuntimeError("this plugin is broken on purpose")
"""

RAISES_IN_HOOK = """
from skyplex import hookimpl

@hookimpl
def skyplex_register_schedulers(register):
    raise ValueError("hook exploded")
"""

DUPLICATE = """
from skyplex import hookimpl
from skyplex.interfaces import Allocator

class Other(Allocator):
    def allocate(self, problem):
        raise NotImplementedError

@hookimpl
def skyplex_register_allocators(register):
    register("cheapest", Other)
"""

UNKNOWN_HOOK = """
from skyplex import hookimpl

@hookimpl
def skyplex_no_such_hook():
    pass
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SKYPLEX_PLUGINS", raising=False)
    monkeypatch.delenv("SKYPLEX_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    yield site
    for mod in ("sp_good", "sp_broken", "sp_raises", "sp_dup", "sp_unknown"):
        sys.modules.pop(mod, None)


def only(*names: str):
    """A manager with just the fake distributions' plugins: real plugins may be installed beside them."""
    return make_plugin_manager(builtins=False, allowlist=set(names))


def kernel_for(pm, tmp_path, **kw) -> Kernel:
    return Kernel(settings=Settings(data_dir=tmp_path / "data"), pm=pm, **kw)


def test_builtins_are_plugins():
    pm = make_plugin_manager(entrypoints=False)
    assert set(pm.meta) == {"skyplex"} and pm.meta["skyplex"].builtin
    assert pm.meta["skyplex"].module == "skyplex.builtins"


def test_entry_point_plugin_loads_and_registers(site, tmp_path):
    install_fake_distribution(site, "skyplex-good", {"good": "sp_good"}, {"sp_good": GOOD})
    pm = only("good")
    assert "good" in pm.meta and pm.meta["good"].distribution == "skyplex-good"
    kernel = kernel_for(pm, tmp_path)
    assert kernel.allocators.names() == ["cheapest"]
    alloc = kernel.allocators.get("cheapest").allocate(
        AllocationProblem.model_validate(
            {
                "workload": {"requests": [{"input_tokens": 10, "output_tokens": 10, "rate": 1}]},
                "gpu_types": [
                    {"name": "A", "memory_gb": 24, "price_per_hour": 2.0},
                    {"name": "B", "memory_gb": 24, "price_per_hour": 1.0},
                ],
            }
        )
    )
    assert alloc.gpus == {"B": 1} and alloc.allocator == "cheapest"
    info = {p["name"]: p for p in kernel.plugins()}["good"]
    assert info["provides"] == {"allocator": ["cheapest"]}
    assert "skyplex_register_allocators" in info["hooks"]
    assert info["version"] == "0.1"


def test_failing_import_is_reported_not_fatal(site, tmp_path):
    install_fake_distribution(
        site, "skyplex-two", {"good": "sp_good", "broken": "sp_broken"}, {"sp_good": GOOD, "sp_broken": BROKEN_IMPORT}
    )
    pm = only("good", "broken")
    assert [e.plugin for e in pm.load_errors] == ["broken"]
    assert "broken on purpose" in pm.load_errors[0].error
    kernel = kernel_for(pm, tmp_path)
    assert "cheapest" in kernel.allocators  # the good plugin still works
    with pytest.raises(PluginError, match="broken"):
        kernel_for(only("good", "broken"), tmp_path, strict=True)


def test_plugin_raising_in_hook_is_reported(site, tmp_path):
    install_fake_distribution(
        site, "skyplex-r", {"good": "sp_good", "raises": "sp_raises"}, {"sp_good": GOOD, "sp_raises": RAISES_IN_HOOK}
    )
    kernel = kernel_for(only("good", "raises"), tmp_path)
    errs = [(e.plugin, e.where) for e in kernel.plugin_errors]
    assert ("raises", "skyplex_register_schedulers") in errs
    assert "cheapest" in kernel.allocators


def test_duplicate_names_name_both_plugins(site, tmp_path):
    install_fake_distribution(
        site, "skyplex-d", {"good": "sp_good", "dup": "sp_dup"}, {"sp_good": GOOD, "sp_dup": DUPLICATE}
    )
    kernel = kernel_for(only("good", "dup"), tmp_path)
    (err,) = kernel.plugin_errors
    assert "'good'" in err.error and "'dup'" in err.error and "cheapest" in err.error
    # the plugin pluggy calls first keeps the name (the later-registered one, as pluggy orders hooks)
    assert kernel.allocators.entry("cheapest").plugin != err.plugin
    with pytest.raises(DuplicateNameError, match="both plugin '(good|dup)' and plugin '(good|dup)'"):
        kernel_for(only("good", "dup"), tmp_path, strict=True)


def test_allowlist_limits_external_plugins(site, tmp_path, monkeypatch):
    install_fake_distribution(
        site, "skyplex-a", {"good": "sp_good", "raises": "sp_raises"}, {"sp_good": GOOD, "sp_raises": RAISES_IN_HOOK}
    )
    monkeypatch.setenv("SKYPLEX_PLUGINS", "good")
    pm = make_plugin_manager()
    assert "good" in pm.meta and "raises" not in pm.meta
    assert "skyplex" in pm.meta  # built-ins are not subject to the allowlist
    assert make_plugin_manager(allowlist={"raises"}).has_plugin("raises")


def test_autoload_can_be_disabled(site, monkeypatch):
    install_fake_distribution(site, "skyplex-g", {"good": "sp_good"}, {"sp_good": GOOD})
    monkeypatch.setenv("SKYPLEX_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = make_plugin_manager()
    assert "good" not in pm.meta and "skyplex" in pm.meta
    assert make_plugin_manager(entrypoints=True).has_plugin("good")  # explicit beats the env


def test_unknown_hook_is_reported_and_dropped(site, tmp_path):
    install_fake_distribution(site, "skyplex-u", {"unknown": "sp_unknown"}, {"sp_unknown": UNKNOWN_HOOK})
    pm = only("unknown")
    assert [(e.plugin, e.where) for e in pm.load_errors] == [("unknown", "validate")]
    assert not pm.has_plugin("unknown")


def test_extra_objects_register_like_plugins(tmp_path):
    class Plugin:
        @hookimpl
        def skyplex_register_allocators(self, register):
            register("fixed", lambda: FixedAllocator())

    class FixedAllocator(Allocator):
        def allocate(self, problem):
            return Allocation(allocator=self.name, gpus={}, cost_per_hour=0)

    pm = make_plugin_manager(builtins=False, entrypoints=False, extra=[("mine", Plugin())])
    kernel = kernel_for(pm, tmp_path)
    assert kernel.allocators.get("fixed").name == "fixed"
    assert kernel.allocators.get("fixed") is kernel.allocators.get("fixed")  # shared instance
