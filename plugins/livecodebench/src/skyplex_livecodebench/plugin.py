"""skyplex hook implementations for LiveCodeBench: connections only, each implementation imported on first use."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_evaluators(register):
    """Register the ``livecodebench`` evaluator."""
    register("livecodebench", "skyplex_livecodebench.evaluator:LiveCodeBenchEvaluator",
             description="LiveCodeBench code generation: sandboxed grading, pass@k by contest window")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex livecodebench grade|score|generate|leaderboard|plot``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Add the routes under ``/plugins/livecodebench`` (grading, scenarios, runs, leaderboard, plots, generate)."""
    from .routes import register

    register(router, kernel)
