"""Hook implementations of skyplex-depyf: the inspector, the commands and the routes, by reference."""

from skyplex import hookimpl


@hookimpl
def skyplex_register_inspectors(register):
    """Register the ``depyf`` inspector (decompiles a function to verified source)."""
    register("depyf", "skyplex_depyf.inspector:DepyfInspector",
             description="depyf: bytecode back to source, verified by recompiling")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex depyf decompile``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add ``POST /plugins/depyf/decompile``."""
    from .routes import register

    register(router, kernel)
