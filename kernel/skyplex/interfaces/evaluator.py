"""Evaluators score subjects (models, systems) on a suite and report with uncertainty."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from .common import SkyplexModel

#: progress(done, total, message) -- evaluators call it as work completes.
ProgressCallback = Callable[[int, int, str], None]


class Subject(SkyplexModel):
    name: str
    backend: str | None = Field(default=None, description="Model backend that produces its outputs.")
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Suite(SkyplexModel):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class Score(SkyplexModel):
    subject: str
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None


class ItemRecord(SkyplexModel):
    item_id: str
    subject: str
    score: float | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Report(SkyplexModel):
    evaluator: str
    suite: str
    scores: list[Score] = Field(default_factory=list)
    items: list[ItemRecord] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Evaluator(ABC):
    name: str = "unnamed"

    @abstractmethod
    def evaluate(
        self, subjects: Sequence[Subject], suite: Suite, *, progress: ProgressCallback | None = None
    ) -> Report: ...
