"""skyplex hook implementations for GoEX. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_executors(register):
    """Register the ``goex`` executor."""
    register("goex", "skyplex_goex.executor:GoexExecutor", description="GoEX: LLM actions with staging, post-facto commit/undo and confinement")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex goex run|status|undo|log``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add /plugins/goex/... routes (propose from text, run, commit, undo, journal)."""
    from .routes import register

    register(router, kernel)
