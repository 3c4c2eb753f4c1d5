"""What one ``skyplex`` invocation carries: global options, a lazily built Kernel, plugin commands.

The state lives on the root click context (``ctx.obj``), never in a global, so tests can run many
invocations in one process and inject their own kernel factory::

    runner.invoke(cli, ["plugins"], obj=CliState(kernel_factory=lambda s: Kernel(settings=s, pm=pm)))
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..config import Settings
from ..errors import DuplicateNameError

if TYPE_CHECKING:
    from rich.console import Console

    from ..kernel import Kernel

log = logging.getLogger(__name__)

#: Builds the kernel for an invocation from its settings; tests swap it for one with extra plugins.
KernelFactory = Callable[[Settings], "Kernel"]
F = TypeVar("F", bound=Callable[..., Any])

REGISTER_COMMANDS_HOOK = "skyplex_register_commands"
#: the built-in plugin's name (``skyplex.builtins.PLUGIN_NAME``, not imported here to keep this light)
BUILTIN_PLUGIN = "skyplex"


def default_kernel_factory(settings: Settings) -> Kernel:
    """The kernel the installed ``skyplex`` command uses: built-ins plus installed plugins."""
    from ..kernel import Kernel

    return Kernel(settings=settings)


class CliState:
    """Global options of one invocation, and the Kernel built from them on first use."""

    def __init__(self, kernel_factory: KernelFactory | None = None) -> None:
        self.kernel_factory: KernelFactory = kernel_factory or default_kernel_factory
        self.config: Path | None = None
        self.data_dir: Path | None = None
        self.json: bool = False
        self.verbose: bool = False
        self._settings: Settings | None = None
        self._kernel: Kernel | None = None
        self._plugin_commands: dict[str, click.Command] | None = None
        self._plugin_owner: dict[str, str] = {}
        self._log_handler: logging.Handler | None = None
        self._log_level: int | None = None
        self._out: Console | None = None
        self._err: Console | None = None

    # options ---------------------------------------------------------------------------------
    def configure(
        self,
        *,
        config: Path | None = None,
        data_dir: Path | None = None,
        json: bool = False,
        verbose: bool = False,
    ) -> None:
        """Take the root group's options. Settings already in use are kept (the kernel exists)."""
        if self._kernel is None:
            self.config = config
            self.data_dir = data_dir
            self._settings = None
        self.json = self.json or json
        self.verbose = self.verbose or verbose
        self._setup_logging()

    def _setup_logging(self) -> None:
        # A handler on the "skyplex" logger only (not the root logger), removed again in close(),
        # so in-process invocations (tests) leave logging as they found it.
        logger = logging.getLogger("skyplex")
        if self._log_handler is None:
            self._log_handler = logging.StreamHandler(sys.stderr)
            self._log_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logger.addHandler(self._log_handler)
            self._log_level = logger.level
        level = logging.DEBUG if self.verbose else logging.WARNING
        self._log_handler.setLevel(level)
        logger.setLevel(level)

    # consoles --------------------------------------------------------------------------------
    @property
    def out(self) -> Console:
        """Rich console on stdout (tables, results)."""
        if self._out is None:
            from rich.console import Console

            self._out = Console(highlight=False, soft_wrap=True)
        return self._out

    @property
    def err(self) -> Console:
        """Rich console on stderr (spinners, progress bars, notes), so stdout stays pipeable."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    # kernel ----------------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """Settings from the environment, ``--config`` and ``--data-dir`` (in rising priority)."""
        if self._settings is None:
            self._settings = Settings.load(self.config, data_dir=self.data_dir)
        return self._settings

    @property
    def kernel(self) -> Kernel:
        """The kernel of this invocation, built and started on first use, closed with the context."""
        return self._built_kernel().startup()  # startup() runs the startup hooks once

    def _built_kernel(self) -> Kernel:
        # Listing plugin commands (e.g. for --help) needs the plugins but not their startup hooks,
        # which may open connections; commands that use the kernel start it through `kernel`.
        if self._kernel is None:
            self._kernel = self.kernel_factory(self.settings)
        return self._kernel

    def plugin_commands(self, reserved: Collection[str] = ()) -> dict[str, click.Command]:
        """Commands added by plugins through ``skyplex_register_commands``, by name.

        Each plugin gets its own collecting group, so the kernel knows who added what: a name
        already taken (by a built-in command or an earlier plugin) is reported against the later
        plugin instead of silently replacing a command; a plugin whose hook raised adds nothing.
        """
        if self._plugin_commands is None:
            kernel = self._built_kernel()
            collectors: dict[str, click.Group] = {}

            def hook_args(plugin: str) -> dict[str, Any]:
                collectors[plugin] = click.Group(name=plugin)
                return {"cli": collectors[plugin]}

            errors_before = len(kernel.hook_errors)
            kernel.call_each(REGISTER_COMMANDS_HOOK, hook_args)
            failed = {e.plugin for e in kernel.hook_errors[errors_before:]}
            commands: dict[str, click.Command] = {}
            for plugin, group in collectors.items():
                if plugin in failed:
                    continue
                if plugin == BUILTIN_PLUGIN:
                    # the root group serves the built-in commands itself (without a kernel); record
                    # their owner so `skyplex plugins` shows them
                    self._plugin_owner.update({name: plugin for name in group.commands})
                    continue
                for name, command in group.commands.items():
                    owner = self._plugin_owner.get(name) or ("skyplex (built-in)" if name in reserved else None)
                    if owner == BUILTIN_PLUGIN:
                        owner = "skyplex (built-in)"
                    if owner is not None:
                        exc = DuplicateNameError(
                            f"plugin {plugin!r} adds command {name!r}, which {owner} already provides; "
                            f"the plugin's command was skipped (rename it)",
                            field="command",
                        )
                        kernel.hook_errors.append(kernel.pm.record_error(plugin, exc, REGISTER_COMMANDS_HOOK))
                        continue
                    commands[name] = command
                    self._plugin_owner[name] = plugin
            self._plugin_commands = commands
        return self._plugin_commands

    def commands_of(self, plugin: str) -> list[str]:
        """The CLI commands ``plugin`` added (after :meth:`plugin_commands` ran), sorted."""
        return sorted(name for name, owner in self._plugin_owner.items() if owner == plugin)

    def command_owner(self, name: str) -> str | None:
        """Which plugin added command ``name`` (after :meth:`plugin_commands` ran)."""
        return self._plugin_owner.get(name)

    def close(self) -> None:
        """Close the kernel (jobs, store, backends) and remove the log handler."""
        try:
            if self._kernel is not None:
                self._kernel.close()
                self._kernel = None
        finally:
            if self._log_handler is not None:
                logger = logging.getLogger("skyplex")
                logger.removeHandler(self._log_handler)
                logger.setLevel(self._log_level or logging.NOTSET)
                self._log_handler = None


def ensure_state(ctx: click.Context) -> CliState:
    """The invocation's :class:`CliState`, created on the root context if needed and configured
    from the root group's options (which click has parsed before any subcommand is looked up)."""
    root = ctx.find_root()
    state = root.obj if isinstance(root.obj, CliState) else None
    if state is None:
        state = CliState()
        root.obj = state
    params = root.params
    # Cheap and idempotent, so it runs on every lookup: an eager --help looks commands up before
    # the other root options are parsed, and a later call then sees them.
    state.configure(
        config=params.get("config"),
        data_dir=params.get("data_dir"),
        json=bool(params.get("json_output")),
        verbose=bool(params.get("verbose")),
    )
    if not getattr(root, "_skyplex_close_registered", False):
        root.call_on_close(state.close)
        root._skyplex_close_registered = True  # type: ignore[attr-defined]
    return state


def pass_state(f: F) -> F:
    """Decorator: call the command with the invocation's :class:`CliState` as first argument."""

    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(f, ensure_state(ctx), *args, **kwargs)

    return functools.update_wrapper(wrapper, f)  # type: ignore[return-value]


def pass_kernel(f: F) -> F:
    """Decorator: call the command with the invocation's started :class:`~skyplex.Kernel` first."""

    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(f, ensure_state(ctx).kernel, *args, **kwargs)

    return functools.update_wrapper(wrapper, f)  # type: ignore[return-value]
