"""skyplex hook implementations for the arena. Importing this module is cheap: work is deferred."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_evaluators(register):
    """Register the ``arena`` evaluator."""
    register("arena", "skyplex_arena.evaluator:ArenaEvaluator", description="Chatbot Arena: Bradley-Terry ratings with CIs from pairwise votes")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex arena leaderboard|import|votes|voters``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """The battle page, battles, votes, leaderboards and plots under ``/plugins/arena``."""
    from .routes import register

    register(router, kernel)
