"""Schedulers decide the order, grouping, batching and deduplication of requests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from .common import SkyplexModel


class ScheduledRequest(SkyplexModel):
    """One request to schedule: a prompt, or structured fields a scheduler may reorder."""

    id: str
    prompt: str | None = None
    fields: dict[str, Any] | None = Field(default=None, description="Named values, e.g. a table row.")
    model: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Schedule(SkyplexModel):
    scheduler: str
    order: list[str] = Field(description="Request ids in the order to run them (duplicates left out).")
    batches: list[list[str]] = Field(default_factory=list, description="Ids grouped into batches, in order.")
    dedup: dict[str, str] = Field(default_factory=dict, description="Duplicate id -> id whose result it reuses.")
    field_orders: dict[str, list[str]] = Field(default_factory=dict, description="Per request, field order.")
    metrics: dict[str, float] = Field(default_factory=dict, description="e.g. predicted prefix hit rate.")
    details: dict[str, Any] = Field(default_factory=dict)


class Scheduler(ABC):
    name: str = "unnamed"

    @abstractmethod
    def plan(self, requests: Sequence[ScheduledRequest], options: dict[str, Any] | None = None) -> Schedule:
        """A schedule covering every request exactly once (directly or through ``dedup``)."""
