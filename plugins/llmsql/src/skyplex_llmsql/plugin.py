"""skyplex hook implementations for LLM-SQL. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_schedulers(register):
    """Register the ``llmsql`` scheduler."""
    register("llmsql", "skyplex_llmsql.scheduler:LLMSQLScheduler",
             description="LLM-SQL: dedup + GGR field/row reordering of table rows for prefix-cache reuse")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex llmsql query|plan``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add ``POST /plugins/llmsql/query`` and ``POST /plugins/llmsql/plan``."""
    from .routes import register

    register(router, kernel)
