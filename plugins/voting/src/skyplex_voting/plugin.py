"""skyplex hook implementations for voting inference systems: connections only, each implementation
imported on first use."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_evaluators(register):
    """Register the ``voting`` evaluator."""
    register("voting", "skyplex_voting.evaluator:VotingEvaluator",
             description="Voting inference systems: accuracy of K-call majority votes, fitted law and optimal K")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex voting sample|fit|curve|plot``."""
    from .cli import register

    register(cli)


@hookimpl
def skyplex_register_routes(router, kernel):
    """Law, fitting, voting and sampling routes under ``/plugins/voting``."""
    from .routes import register

    register(router, kernel)
