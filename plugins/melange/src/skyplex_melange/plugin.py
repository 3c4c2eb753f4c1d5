"""skyplex hook implementations for Mélange. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


def melange_allocator(**options):
    """Mélange: cheapest GPU mix for a workload under a latency SLO."""
    # imported on first use: the solver stack (numpy, pulp) must not slow down every `skyplex` command
    from .allocator import MelangeAllocator

    return MelangeAllocator(**options)


@hookimpl
def skyplex_register_allocators(register):
    """Register the ``melange`` allocator."""
    register("melange", melange_allocator, description="Mélange: cheapest GPU mix for a workload under a latency SLO")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex melange allocate|profile|plot``."""
    from .cli import melange

    cli.add_command(melange)
