"""Trainers build fine-tuning datasets and fine-tune models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import Field

from .common import SkyplexModel
from .evaluator import ProgressCallback


class DatasetSpec(SkyplexModel):
    source: str = Field(description="Where the raw documents / questions come from.")
    output: str | None = Field(default=None, description="Where to write the dataset.")
    options: dict[str, Any] = Field(default_factory=dict)


class DatasetArtifact(SkyplexModel):
    path: str
    num_examples: int = Field(ge=0)
    format: str = "jsonl"
    metadata: dict[str, Any] = Field(default_factory=dict)


class FinetuneSpec(SkyplexModel):
    dataset: str
    base_model: str
    output: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class TrainingResult(SkyplexModel):
    model_path: str
    metrics: dict[str, float] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Trainer(ABC):
    name: str = "unnamed"

    @abstractmethod
    def build_dataset(self, spec: DatasetSpec, *, progress: ProgressCallback | None = None) -> DatasetArtifact: ...

    @abstractmethod
    def finetune(self, spec: FinetuneSpec, *, progress: ProgressCallback | None = None) -> TrainingResult: ...
