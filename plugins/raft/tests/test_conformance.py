"""skyplex-raft against the kernel's conformance kits: the trainer contract, the entry point, the shape."""

from __future__ import annotations

import json

import pytest
from skyplex.interfaces import DatasetSpec, FinetuneSpec
from skyplex.testing import EntryPointConformance, PluginShapeConformance, TrainerConformance
from skyplex_raft.trainer import RaftTrainer


class TestRaftTrainerConformance(TrainerConformance):
    @pytest.fixture
    def trainer(self):
        return RaftTrainer()

    @pytest.fixture
    def dataset_spec(self, tmp_path):
        return DatasetSpec(source="python:json,textwrap,shlex", output=str(tmp_path / "raft.jsonl"),
                           options={"k": 3, "p": 0.8, "seed": 1})

    @pytest.fixture
    def finetune_spec(self, tmp_path, skyplex_model_cache_dir):
        pytest.importorskip("peft")

        def spec(artifact):  # one LoRA step on short sequences: the contract, not the quality
            return FinetuneSpec(dataset=artifact.path, base_model="local", output=str(tmp_path / "ft"),
                                options={"max_steps": 1, "max_seq_len": 48, "r": 2, "merge": False,
                                         "data_dir": str(skyplex_model_cache_dir)})
        return spec


class TestRaftEntryPoint(EntryPointConformance):
    plugin_name = "raft"
    expected = {"trainer": ["raft"], "evaluator": ["raft"]}


class TestRaftShape(PluginShapeConformance):
    package = "skyplex_raft"


def test_trainer_writes_both_splits_and_reports_progress(tmp_path):
    seen = []
    spec = DatasetSpec(source="python:json,textwrap,shlex", output=str(tmp_path / "d.jsonl"), options={"k": 3})
    art = RaftTrainer().build_dataset(spec, progress=lambda done, total, msg: seen.append(done / total))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    train = [json.loads(x) for x in open(art.path)]
    test = [json.loads(x) for x in open(art.metadata["test_path"])]
    assert len(train) == art.num_examples and len(test) == art.metadata["test_examples"] > 0
    assert not {r["raft"]["oracle_id"] for r in test} & {d for r in train for d in r["raft"]["document_ids"]}


@pytest.mark.parametrize(("options", "message"), [
    ({"p": 2}, "p=2.0 is outside"), ({"k": "many"}, "option k='many' is not a int"),
    ({"colour": 1}, "unknown option 'colour'"), ({"k": 500}, "k=500 needs 500 distractor documents"),
])
def test_trainer_refuses_bad_options(tmp_path, options, message):
    from skyplex.errors import InvalidInputError

    spec = DatasetSpec(source="python:json,textwrap,shlex", output=str(tmp_path / "d.jsonl"), options=options)
    with pytest.raises(InvalidInputError, match=message):
        RaftTrainer().build_dataset(spec)
