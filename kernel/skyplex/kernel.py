"""The Kernel: owns a plugin manager, the registries filled through it, the store and the jobs.

There is no global kernel: create one (``Kernel()``), use it, close it. Tests make as many as they like.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .config import Settings
from .errors import DuplicateNameError, InvalidInputError, NotFoundError, PluginError
from .interfaces import KINDS
from .plugins import PluginLoadError, SkyplexPluginManager, make_plugin_manager

if TYPE_CHECKING:
    from .jobs import JobManager
    from .store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

#: kind -> the registry hook that fills it
REGISTRY_HOOKS: dict[str, str] = {kind: f"skyplex_register_{kind}s" for kind in KINDS}


@dataclass
class Entry:
    """One registered name: who registered it, how to build it, and what it says about itself.

    ``factory`` is a callable, or a ``"package.module:attr"`` reference imported on first use, so
    registering never imports a plugin's implementation (and its numpy, SQLAlchemy, ...).
    """

    kind: str
    name: str
    factory: Callable[..., Any] | str
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        """The factory itself, importing it first when it was registered by reference."""
        if isinstance(self.factory, str):
            module_name, _, attr = self.factory.partition(":")
            try:
                obj: Any = importlib.import_module(module_name)
                for part in attr.split("."):
                    obj = getattr(obj, part)
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"plugin {self.plugin!r}: cannot load {self.kind} {self.name!r} from {self.factory!r}: {exc}"
                ) from exc
            if not callable(obj):
                raise PluginError(f"plugin {self.plugin!r}: {self.factory!r} is not callable")
            self.factory = obj
        return self.factory

    def describe(self) -> dict[str, Any]:
        # a factory registered by reference is not imported just to be listed
        doc = "" if isinstance(self.factory, str) else (inspect.getdoc(self.factory) or "")
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "description": self.meta.get("description") or (doc.splitlines()[0] if doc else ""),
            **{k: v for k, v in self.meta.items() if k not in ("description", "check")},
        }


class Registry(Generic[T]):
    """Names of one kind -> factories; instances built lazily and cached per name."""

    def __init__(self, kind: str, kernel: Kernel) -> None:
        self.kind = kind
        self._kernel = kernel
        self._entries: dict[str, Entry] = {}
        self._instances: dict[str, T] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: Callable[..., T] | str, *, plugin: str, **meta: Any) -> None:
        if not isinstance(name, str) or not name or not name.replace("-", "_").replace(".", "_").isidentifier():
            raise InvalidInputError(
                f"plugin {plugin!r} tried to register {self.kind} name {name!r}; names are non-empty "
                "identifiers (letters, digits, '_', '-', '.')",
                field="name",
            )
        if isinstance(factory, str):
            module_name, sep, attr = factory.partition(":")
            if not sep or not module_name or not attr:
                raise InvalidInputError(
                    f"plugin {plugin!r} registered {self.kind} {name!r} with factory {factory!r}; "
                    "a factory given as text must be 'package.module:attr'",
                    field="factory",
                )
        elif not callable(factory):
            raise InvalidInputError(f"plugin {plugin!r} registered {self.kind} {name!r} with a non-callable factory")
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} {name!r} is registered by both plugin {first!r} and plugin {plugin!r}; "
                f"uninstall one, or limit loading with SKYPLEX_PLUGINS"
            )
        self._entries[name] = Entry(self.kind, name, factory, plugin, meta)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise NotFoundError(
                f"unknown {self.kind} {name!r}; installed {self.kind}s: {known}. "
                f"Install the plugin that provides it, or run `skyplex plugins` to see what loaded.",
                field=self.kind,
            ) from None

    def describe(self) -> list[dict[str, Any]]:
        return [self._entries[n].describe() for n in self.names()]

    def create(self, name: str, **options: Any) -> T:
        """A new instance of ``name`` built with ``options`` (and the kernel, if the factory takes it)."""
        entry = self.entry(name)
        factory = entry.resolve()
        kwargs = dict(options)
        if _accepts_kwarg(factory, "kernel"):
            kwargs["kernel"] = self._kernel
        try:
            obj = factory(**kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"cannot create {self.kind} {name!r} with options {sorted(options)}: {exc}") from exc
        base = KINDS[self.kind]
        if not isinstance(obj, base):
            raise PluginError(
                f"plugin {entry.plugin!r}: {self.kind} {name!r} factory returned {type(obj).__name__}, "
                f"which is not a {base.__name__}"
            )
        if getattr(obj, "name", None) in (None, "unnamed"):
            obj.name = name
        return obj

    def unavailable_reason(self, name: str) -> str | None:
        """Why ``name`` cannot run here (a missing dependency, missing weights), or None when it can.

        The instance is built (cheaply: factories load nothing heavy) and the check its plugin
        registered as ``check="package.module:function"`` meta is called with it; the function
        returns None or a sentence saying what is missing and how to install it. Errors building the
        instance are reasons too.
        """
        from .errors import SkyplexError

        entry = self.entry(name)
        try:
            obj = self.get(name)
            check = entry.meta.get("check")
            if not check:
                return None
            return Entry(self.kind, name, check, entry.plugin).resolve()(obj)
        except SkyplexError as exc:
            return exc.message
        except ImportError as exc:  # an optional dependency of that backend is missing
            return f"missing dependency: {exc.name or exc}"

    def get(self, name: str) -> T:
        """The shared instance of ``name``, built on first use with the settings' options for it."""
        with self._lock:
            if name not in self._instances:
                options = self._kernel.settings.models.get(name, {}) if self.kind == "model" else {}
                if self.kind != "model":
                    options = self._kernel.settings.plugins.get(name, {})
                self._instances[name] = self.create(name, **options)
            return self._instances[name]

    def loaded(self) -> dict[str, T]:
        return dict(self._instances)


def _accepts_kwarg(fn: Callable[..., Any], kw: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return kw in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class Kernel:
    """The running core. ``strict=True`` turns plugin failures into exceptions (useful in tests)."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        pm: SkyplexPluginManager | None = None,
        strict: bool = False,
    ) -> None:
        self.settings = settings or Settings.load()
        self.pm = pm or make_plugin_manager()
        self.strict = strict
        self.hook_errors: list[PluginLoadError] = []
        self.registries: dict[str, Registry] = {kind: Registry(kind, self) for kind in KINDS}
        self._store: Store | None = None
        self._jobs: JobManager | None = None
        self._started = False
        self._lock = threading.Lock()
        if self.strict and self.pm.load_errors:
            err = self.pm.load_errors[0]
            raise PluginError(f"plugin {err.plugin!r} failed to load: {err.error}")
        self.pm.hook.skyplex_configure.call_historic(kwargs={"config": self.settings})
        for kind, hook in REGISTRY_HOOKS.items():
            registry = self.registries[kind]
            self.call_each(hook, lambda plugin, registry=registry: {"register": _bound_register(registry, plugin)})

    # registries by kind ------------------------------------------------------------------
    @property
    def allocators(self) -> Registry:
        return self.registries["allocator"]

    @property
    def schedulers(self) -> Registry:
        return self.registries["scheduler"]

    @property
    def executors(self) -> Registry:
        return self.registries["executor"]

    @property
    def auditors(self) -> Registry:
        return self.registries["auditor"]

    @property
    def evaluators(self) -> Registry:
        return self.registries["evaluator"]

    @property
    def trainers(self) -> Registry:
        return self.registries["trainer"]

    @property
    def inspectors(self) -> Registry:
        return self.registries["inspector"]

    @property
    def models(self) -> Registry:
        return self.registries["model"]

    def registry(self, kind: str) -> Registry:
        try:
            return self.registries[kind]
        except KeyError:
            raise NotFoundError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}", field="kind") from None

    # hooks ---------------------------------------------------------------------------------
    def call_each(self, hook_name: str, kwargs: dict[str, Any] | Callable[[str], dict[str, Any]]) -> list[Any]:
        """Call every implementation of ``hook_name`` one by one, so one raising never stops the rest.

        ``kwargs`` may be a function of the plugin's name (registry hooks bind ``register`` per plugin).
        Failures are recorded in ``hook_errors`` (or raised when ``strict``).
        """
        caller = getattr(self.pm.hook, hook_name)
        results = []
        # pluggy keeps implementations in ascending priority (trylast, plain, tryfirst; each in
        # registration order) and calls them from the end: tryfirst first, the latest plain one
        # before earlier ones, trylast last. Walk the same way so pluggy's markers mean what they say.
        # Wrappers never get here: the plugin manager refuses them at load time.
        for impl in reversed(caller.get_hookimpls()):
            plugin = impl.plugin_name
            if impl.wrapper or impl.hookwrapper:  # registered after loading, past the load-time check
                exc = PluginError(f"plugin {plugin!r}: {hook_name} is a wrapper; skyplex does not support hook wrappers")
                if self.strict:
                    raise exc
                self.hook_errors.append(self.pm.record_error(plugin, exc, hook_name))
                continue
            args = kwargs(plugin) if callable(kwargs) else kwargs
            try:
                res = impl.function(**{k: args[k] for k in impl.argnames})
            except Exception as exc:
                if self.strict:
                    raise
                self.hook_errors.append(self.pm.record_error(plugin, exc, hook_name))
                continue
            if res is not None:
                results.append(res)
        return results

    @property
    def plugin_errors(self) -> list[PluginLoadError]:
        return list(self.pm.load_errors)

    def plugins(self) -> list[dict[str, Any]]:
        """Every loaded plugin: name, version, what it registered, which hooks it implements."""
        out = []
        for name, meta in sorted(self.pm.meta.items()):
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            kinds = sorted({kind for kind, reg in self.registries.items() for e in reg._entries.values() if e.plugin == name})
            provides = {
                kind: sorted(e.name for e in reg._entries.values() if e.plugin == name)
                for kind, reg in self.registries.items()
            }
            out.append(
                {
                    "name": name,
                    "module": meta.module,
                    "builtin": meta.builtin,
                    "distribution": meta.distribution,
                    "version": meta.version,
                    "kinds": kinds,
                    "provides": {k: v for k, v in provides.items() if v},
                    "hooks": hooks,
                    "errors": [e.to_dict() for e in self.pm.load_errors if e.plugin == name],
                }
            )
        return out

    # store and jobs (created on first use) -----------------------------------------------------
    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from .store import Store

                self._store = Store(self.settings.resolved_database_url)
            return self._store

    @property
    def jobs(self) -> JobManager:
        store = self.store
        with self._lock:
            if self._jobs is None:
                from .jobs import JobManager

                self._jobs = JobManager(
                    store,
                    workers=self.settings.job_workers,
                    on_finished=lambda job: self.call_each("skyplex_job_finished", {"kernel": self, "job": job}),
                )
            return self._jobs

    # lifecycle ---------------------------------------------------------------------------------
    def startup(self) -> Kernel:
        if not self._started:
            self._started = True
            self.call_each("skyplex_startup", {"kernel": self})
        return self

    def close(self) -> None:
        if self._started:
            self.call_each("skyplex_shutdown", {"kernel": self})
            self._started = False
        for reg in self.registries.values():
            for obj in reg.loaded().values():
                close = getattr(obj, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # closing must not hide the other closes
                        log.exception("closing %s failed", obj)
        if self._jobs is not None:
            self._jobs.shutdown()
            self._jobs = None
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def __enter__(self) -> Kernel:
        return self.startup()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bound_register(registry: Registry, plugin: str) -> Callable[..., None]:
    def register(name: str, factory: Callable[..., Any], **meta: Any) -> None:
        registry.register(name, factory, plugin=plugin, **meta)

    register.__doc__ = f"Register a {registry.kind}: register(name, factory, **meta)."
    return register
