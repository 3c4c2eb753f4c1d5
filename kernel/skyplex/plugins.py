"""Building the plugin manager: built-ins, entry points (group ``skyplex``), allowlist, load errors.

A plugin that fails to import is recorded in ``pm.load_errors`` and skipped; it never stops the rest.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import os
import traceback
from dataclasses import dataclass

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "skyplex"

#: Modules registered exactly like external plugins (the core's own features are a plugin too):
#: ``skyplex.builtins`` registers the built-in model backends and CLI commands by reference.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (("skyplex", "skyplex.builtins"),)


@dataclass
class PluginLoadError:
    """A plugin that could not be loaded or whose hook raised."""

    plugin: str
    error: str
    where: str = "import"
    traceback: str = ""

    def to_dict(self) -> dict:
        return {"plugin": self.plugin, "where": self.where, "error": self.error}


@dataclass
class PluginMeta:
    name: str
    module: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None


class SkyplexPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where each plugin came from and what failed."""

    def __init__(self) -> None:
        super().__init__("skyplex")
        self.add_hookspecs(hookspecs)
        self.load_errors: list[PluginLoadError] = []
        self.meta: dict[str, PluginMeta] = {}

    def record_error(self, plugin: str, exc: BaseException, where: str) -> PluginLoadError:
        err = PluginLoadError(
            plugin=plugin,
            error=f"{type(exc).__name__}: {exc}",
            where=where,
            traceback="".join(traceback.format_exception(exc)),
        )
        self.load_errors.append(err)
        log.warning("skyplex plugin %r failed in %s: %s", plugin, where, err.error)
        return err


def _env_allowlist() -> set[str] | None:
    raw = os.environ.get("SKYPLEX_PLUGINS")
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def make_plugin_manager(
    *,
    builtins: bool = True,
    entrypoints: bool | None = None,
    allowlist: set[str] | None = None,
    extra: list[tuple[str, object]] | None = None,
) -> SkyplexPluginManager:
    """A manager holding the built-in plugins and the installed ones.

    ``entrypoints`` defaults to on unless ``SKYPLEX_DISABLE_PLUGIN_AUTOLOAD`` is set; ``allowlist``
    defaults to ``SKYPLEX_PLUGINS`` (comma-separated entry-point names) and limits external plugins.
    ``extra`` registers ready objects (name, module-or-object), e.g. plugins under test.
    """
    pm = SkyplexPluginManager()
    if builtins:
        for name, module in BUILTIN_PLUGINS:
            _register_module(pm, name, module, builtin=True)
    if entrypoints is None:
        entrypoints = not _env_flag("SKYPLEX_DISABLE_PLUGIN_AUTOLOAD")
    if allowlist is None:
        allowlist = _env_allowlist()
    if entrypoints:
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            if allowlist is not None and ep.name not in allowlist:
                continue
            if pm.has_plugin(ep.name):
                pm.record_error(
                    ep.name,
                    RuntimeError(f"a plugin named {ep.name!r} is already registered; entry point {ep.value} skipped"),
                    "import",
                )
                continue
            dist = getattr(ep, "dist", None)
            _register_module(
                pm,
                ep.name,
                ep.value,
                builtin=False,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                loader=ep.load,
            )
    for name, obj in extra or []:
        try:
            pm.register(obj, name=name)
            pm.meta[name] = PluginMeta(name, getattr(obj, "__name__", type(obj).__name__), builtin=False)
        except Exception as exc:  # a malformed hookimpl is reported, not fatal
            pm.record_error(name, exc, "register")
    _refuse_wrappers(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        # a hookimpl with no matching hookspec: report the plugin and drop it
        plugin_name = pm.get_name(exc.plugin) if exc.plugin is not None else "unknown"
        pm.record_error(plugin_name or "unknown", exc, "validate")
        if exc.plugin is not None:
            pm.unregister(exc.plugin)
    return pm


def _refuse_wrappers(pm: SkyplexPluginManager) -> None:
    """Drop every plugin that marks a hook implementation ``wrapper=True`` or ``hookwrapper=True``.

    The kernel calls each implementation on its own (one plugin raising must not stop the others),
    so there is no single call for a wrapper to surround; accepting one would silently skip it.
    """
    for plugin in list(pm.get_plugins()):
        name = pm.get_name(plugin) or "unknown"
        for caller in pm.get_hookcallers(plugin) or []:
            wrapped = [i for i in caller.get_hookimpls() if i.plugin is plugin and (i.wrapper or i.hookwrapper)]
            if wrapped:
                pm.record_error(
                    name,
                    pluggy.PluginValidationError(
                        plugin,
                        f"hook {caller.name} is marked wrapper=True/hookwrapper=True; skyplex calls each "
                        "implementation separately and does not support wrappers (remove the marker)",
                    ),
                    "validate",
                )
                pm.unregister(plugin)
                pm.meta.pop(name, None)
                break


def _register_module(
    pm: SkyplexPluginManager,
    name: str,
    module: str,
    *,
    builtin: bool,
    distribution: str | None = None,
    version: str | None = None,
    loader=None,
) -> None:
    try:
        obj = loader() if loader is not None else importlib.import_module(module)
        pm.register(obj, name=name)
    except Exception as exc:
        pm.record_error(name, exc, "import")
        return
    if builtin:
        distribution, version = "skyplex", _own_version()
    pm.meta[name] = PluginMeta(name, module, builtin, distribution, version)


def _own_version() -> str | None:
    try:
        return md.version("skyplex")
    except md.PackageNotFoundError:
        return None
