"""Gateway routes under /plugins/goex: propose from natural language, approve, events, journal check.

The generic executor routes (/v1/executors/goex/...) already cover propose/run/commit/undo/journal.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from skyplex.interfaces.executor import ActionRecord


class RequestBody(BaseModel):
    request: str = Field(description="What the user wants, in words.")
    model: str = "local"
    root: str | None = Field(default=None, description="Folder the action may change.")
    database: str | None = Field(default=None, description="SQLite database the action may change.")
    url: str | None = Field(default=None, description="PostgreSQL URL the action may change.")
    run: bool = True


class JournalCheck(BaseModel):
    intact: bool
    problems: list[str]


def register(router, kernel) -> None:
    """Add the plugin's routes to ``router`` (mounted at ``/plugins/goex``)."""

    def ex():
        return kernel.executors.get("goex")

    @router.post("/requests", response_model=ActionRecord)
    def from_request(body: RequestBody) -> ActionRecord:
        """A model proposes an action for the request; it is journalled and run staged for review."""
        from .flow import propose_from_request

        targets = {"root": body.root, "database": body.database, "url": body.url}
        return propose_from_request(ex(), kernel.models.get(body.model), body.request, targets, run=body.run)

    @router.post("/actions/{action_id}/approve", response_model=ActionRecord)
    def approve(action_id: str) -> ActionRecord:
        return ex().approve(action_id, by="gateway")

    @router.post("/actions/{action_id}/undo", response_model=ActionRecord)
    def undo(action_id: str, force: bool = False, model: str | None = None) -> ActionRecord:
        # `model` names a kernel backend asked for a reverse call when none can be derived; it then
        # waits for POST .../approve before it is sent
        return ex().undo(action_id, force=force, model=model)

    @router.get("/actions/{action_id}/events")
    def events(action_id: str) -> list[dict[str, Any]]:
        ex().get(action_id)  # 404 for unknown ids
        return ex().events(action_id)

    @router.get("/journal/verify", response_model=JournalCheck)
    def verify() -> JournalCheck:
        problems = ex().verify_journal()
        return JournalCheck(intact=not problems, problems=problems)
