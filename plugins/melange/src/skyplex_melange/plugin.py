"""skyplex hook implementations for Mélange: connections only, each implementation imported on first use."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_allocators(register):
    """Register the ``melange`` allocator."""
    register("melange", "skyplex_melange.allocator:MelangeAllocator",
             description="Mélange: cheapest GPU mix for a workload under a latency SLO")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex melange allocate|plot|profile``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add ``/plugins/melange/catalogue`` and ``/plugins/melange/plot``."""
    from .routes import register

    register(router, kernel)
