"""What a job is, as stored and shown: the ``Job`` row model, its statuses and the timing constants
the job manager works by."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .interfaces.common import SkyplexModel

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
LIVE_STATUSES: tuple[str, ...] = ("queued", "running")
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

#: progress is written at most this often per job (the latest value is always written eventually)
PROGRESS_MIN_INTERVAL_S = 0.2
#: how often the housekeeping thread looks for cancel requests made by other processes
CANCEL_POLL_S = 0.5
#: how often a manager tells the store its jobs are still alive
HEARTBEAT_S = 5.0
#: a live job whose owner has been silent this long is taken for dead, when its pid cannot be checked
STALE_AFTER_S = 300.0
#: how often a manager looks for jobs orphaned by dead processes (besides once at start)
RECOVERY_S = 30.0


class Job(SkyplexModel):
    """One job as stored: what it is, where it stands, and how it ended."""

    id: str = Field(description="uuid4 hex")
    kind: str = Field(default="job", description="What sort of work: 'evaluation', 'proof', 'dataset', ...")
    name: str
    status: JobStatus
    progress: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction done, 0..1.")
    done: int = Field(default=0, ge=0)
    total: int | None = Field(default=None, ge=0)
    message: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = Field(default=None, description="'ExcType: message' when the job failed.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner: str = Field(description="hostname:pid:manager-id of the process that runs it.")
    cancel_requested: bool = False

    @property
    def final(self) -> bool:
        """True once the job has succeeded, failed or been cancelled (it will not change again)."""
        return self.status in FINAL_STATUSES

    @classmethod
    def from_row(cls, row: Any) -> Job:
        data = dict(row._mapping)
        data.pop("heartbeat_at", None)
        data["params"] = data.get("params") or {}
        return cls.model_validate(data)
