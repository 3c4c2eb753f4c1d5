"""What every action kind implements: validate, classify, stage (run), commit with pre-images, undo."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from skyplex.errors import ConflictError, SkyplexError  # ConflictError: a step the action's state does not allow

from .faults import NO_FAULTS, FaultPoints

Classification = Literal["read-only", "reversible", "compensatable", "irreversible"]


class ActionFailed(SkyplexError):
    """The action itself failed (bad SQL, refused request, sandbox error); its effects were not applied."""

    status_code = 422
    error_type = "action_failed"


class ApprovalRequired(SkyplexError):
    """An irreversible action, or a model-proposed reverse call, needs explicit approval before it runs."""

    status_code = 403
    error_type = "approval_required"


def _not_recorded(undo_data: dict[str, Any]) -> None:
    raise RuntimeError("this context cannot record undo data")


@dataclass
class ActionContext:
    """What a handler gets for one action, and nothing more: its id, payload, preview, a private work
    folder, a way to save undo data durably before changing anything, and the fault points."""

    id: str
    payload: dict[str, Any]
    workdir: Path
    preview: dict[str, Any]
    record_undo_data: Callable[[dict[str, Any]], None] = _not_recorded
    faults: FaultPoints = field(default=NO_FAULTS)


class ServiceAccess(Protocol):
    """What REST actions and the credential proxy may use: the configured services and the vault."""

    @property
    def services(self) -> dict[str, Any]: ...

    @property
    def vault(self) -> Any: ...


@runtime_checkable
class ReversibleByModel(Protocol):
    """An action kind whose committed actions may have no derivable compensation; a model may then
    propose a reverse call, which the kind describes facts for and checks before a person approves it."""

    def needs_reverse(self, payload: dict[str, Any], outcome: dict[str, Any]) -> bool:
        """True when the committed action can only be undone by an approved model-proposed reverse."""

    def reverse_facts(self, payload: dict[str, Any], outcome: dict[str, Any], undo_data: dict[str, Any] | None) -> str:
        """What the model is shown about the forward call (no secrets)."""

    def check_reverse(self, payload: dict[str, Any], proposed: dict[str, Any],
                      undo_data: dict[str, Any] | None) -> dict[str, Any]:
        """The proposed reverse as a call that may be sent once approved; InvalidInputError if refused."""


class ActionHandler(ABC):
    """One action kind. Methods that change real state must be idempotent: recovery may repeat them."""

    kind: str = ""

    @abstractmethod
    def validate(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload, normalised; raise InvalidInputError saying what is wrong."""

    @abstractmethod
    def classify(self, payload: dict[str, Any]) -> Classification:
        """How far the action can be taken back once committed."""

    def resources(self, payload: dict[str, Any]) -> set[str]:
        """What the action may touch, for ordering undos (two actions overlap when these intersect)."""
        return set()

    @abstractmethod
    def run(self, ctx: ActionContext) -> dict[str, Any]:
        """Stage the action and return its preview (diff, affected rows, requests); nothing real changes."""

    @abstractmethod
    def prepare_commit(self, ctx: ActionContext) -> dict[str, Any]:
        """Check the staged effect still applies and capture what undo needs (saved durably before applying)."""

    @abstractmethod
    def apply(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any]:
        """Apply the staged effect for real; return the outcome."""

    @abstractmethod
    def rollback(self, ctx: ActionContext, undo_data: dict[str, Any]) -> None:
        """Recovery after a crash mid-commit: put back exactly what was there before (idempotent)."""

    @abstractmethod
    def undo(self, ctx: ActionContext, undo_data: dict[str, Any], outcome: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        """Reverse a committed action; return what was done (including whether it restored exactly)."""

    def classify_outcome(self, payload: dict[str, Any], outcome: dict[str, Any], current: Classification) -> Classification:
        """The classification once committed: the response may show that no compensation can be derived."""
        return current

    def discard(self, ctx: ActionContext) -> None:
        """Drop a staged (ran, not committed) effect."""

    def recover_commit(self, ctx: ActionContext, undo_data: dict[str, Any]) -> dict[str, Any] | None:
        """After a crash mid-commit: an outcome when the kind can safely complete the commit instead
        of rolling it back (REST with idempotency keys), else None to roll back."""
        return None
