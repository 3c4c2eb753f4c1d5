"""skyplex-goex: the GoEX runtime for LLM actions, as a skyplex executor.

Every action (shell commands over a folder, SQL against SQLite or PostgreSQL, REST calls) is journalled
before it runs, runs confined (a sandbox over a staged copy, an uncommitted transaction, a dry run),
shows its effect for review, and is applied only on commit, keeping what is needed to undo it later.
"""

from __future__ import annotations

__all__ = ["GoexExecutor"]


def __getattr__(name: str):
    if name == "GoexExecutor":  # lazy: importing the package stays cheap
        from .executor import GoexExecutor

        return GoexExecutor
    raise AttributeError(name)
