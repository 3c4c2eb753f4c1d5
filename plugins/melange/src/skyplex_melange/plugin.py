"""skyplex hook implementations for Mélange. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_allocators(register):
    """Register the ``melange`` allocator."""
    register("melange", "skyplex_melange.allocator:MelangeAllocator", description="Mélange: cheapest GPU mix for a workload under a latency SLO")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex melange allocate|profile|plot``."""
    from .cli import melange

    cli.add_command(melange)
