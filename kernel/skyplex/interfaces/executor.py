"""Executors run actions (filesystem, database, API) so that they can be reviewed and undone."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import SkyplexModel

ActionStatus = Literal["proposed", "running", "ran", "committed", "undone", "failed", "discarded"]


class Action(SkyplexModel):
    kind: str = Field(description="Which domain, e.g. 'fs', 'sqlite', 'postgres', 'rest'.")
    payload: dict[str, Any] = Field(description="What to do, in the kind's own terms.")
    description: str = ""


class ActionRecord(SkyplexModel):
    id: str
    executor: str
    action: Action
    status: ActionStatus
    preview: dict[str, Any] = Field(default_factory=dict, description="Diff / affected rows before commit.")
    outcome: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class Executor(ABC):
    name: str = "unnamed"

    @abstractmethod
    def propose(self, action: Action) -> ActionRecord:
        """Journal the intent; nothing is changed yet."""

    @abstractmethod
    def run(self, action_id: str) -> ActionRecord:
        """Run the action in confinement; its effect is visible in ``preview`` but not applied."""

    @abstractmethod
    def commit(self, action_id: str) -> ActionRecord:
        """Apply the effect for real, keeping what is needed to undo it."""

    @abstractmethod
    def undo(self, action_id: str) -> ActionRecord:
        """Reverse a committed action (or discard a ran one)."""

    @abstractmethod
    def journal(self, limit: int = 100) -> list[ActionRecord]:
        """Most recent actions first."""
