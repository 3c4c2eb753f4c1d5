"""skyplex hook implementations for RAFT: connections only, each implementation imported on first use."""

from __future__ import annotations

from skyplex import hookimpl


@hookimpl
def skyplex_register_trainers(register):
    """Register the ``raft`` trainer (RAFT dataset builder and LoRA fine-tuning)."""
    register("raft", "skyplex_raft.trainer:RaftTrainer",
             description="RAFT: open-book QA training data with an oracle document among retrieved distractors")


@hookimpl
def skyplex_register_evaluators(register):
    """Register the ``raft`` evaluator (open-book QA with and without the oracle document)."""
    register("raft", "skyplex_raft.evaluate:RaftEvaluator",
             description="RAFT: open-book QA exact match, F1 and quote precision/recall, oracle present and absent")


@hookimpl
def skyplex_register_commands(cli):
    """Add ``skyplex raft build|finetune|eval``."""
    from .cli import register

    register(cli)
