"""Conformance kit for a trainer: the contract every caller relies on."""

from __future__ import annotations

import pytest

from ...interfaces import DatasetArtifact, DatasetSpec, FinetuneSpec, TrainingResult
from ._base import must_override


class TrainerConformance:
    """Contract of a trainer. Override ``trainer`` and ``dataset_spec``; ``finetune_spec`` (a
    function of the built DatasetArtifact) is optional -- fine-tuning is skipped without it."""

    @pytest.fixture
    def trainer(self):
        must_override("trainer")

    @pytest.fixture
    def dataset_spec(self) -> DatasetSpec:
        must_override("dataset_spec")

    @pytest.fixture
    def finetune_spec(self):
        return None

    def test_builds_dataset(self, trainer, dataset_spec):
        import os

        art = trainer.build_dataset(dataset_spec)
        assert isinstance(art, DatasetArtifact)
        assert art.num_examples > 0 and os.path.exists(art.path)

    def test_finetunes(self, trainer, dataset_spec, finetune_spec):
        if finetune_spec is None:
            pytest.skip("no finetune_spec fixture")
        spec = finetune_spec(trainer.build_dataset(dataset_spec))
        assert isinstance(spec, FinetuneSpec)
        assert isinstance(trainer.finetune(spec), TrainingResult)
