"""skyplex hook implementations for RAFT: connections only, each implementation imported on first use."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_trainers(register):
    """Register the ``raft`` trainer (RAFT dataset builder)."""
    register("raft", "skyplex_raft.trainer:RaftTrainer",
             description="RAFT: open-book QA training data with an oracle document among retrieved distractors")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex raft build``."""
    from .cli import register

    register(cli)
