"""Curriculum over distractor hardness: a curriculum build gives half the train questions random (easy)
distractors, stage 0, and the rest BM25's hard negatives, stage 1, leaving the held-out split as a plain
build makes it; a curriculum fine-tune trains on the stages in order, each getting an equal share of the
steps. The schedule is searched with hypothesis; the build over API-doc and fictional corpora."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.testing.docs import run_cli
from skyplex_raft.builder import RaftOptions, build_examples, write_jsonl
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.finetune import LoraOptions, batch_order, fingerprint
from skyplex_raft.questions import template_questions

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key(example) -> tuple:
    return example.question.id, example.oracle_present, tuple(d.id for d in example.documents)


@SETTINGS
@given(stages=st.lists(st.integers(0, 3), min_size=1, max_size=40), steps=st.integers(1, 120),
       batch_size=st.integers(1, 4), seed=st.integers(0, 1000))
def test_the_schedule_goes_through_the_stages_in_order(stages, steps, batch_size, seed):
    batches = batch_order(len(stages), steps, batch_size, seed, stages=stages)
    assert len(batches) == steps and all(len(b) == batch_size for b in batches)
    levels = sorted(set(stages))
    step_levels = []
    for batch in batches:
        assert len({stages[i] for i in batch}) == 1  # a step never mixes stages
        step_levels.append(stages[batch[0]])
    assert step_levels == sorted(step_levels)  # easy first, never back
    shares = Counter(step_levels)
    # every stage gets an equal share of the steps, to one step (a stage gets none only when steps are fewer)
    assert max(shares.values()) - min(shares.values()) <= 1 and len(shares) == min(len(levels), steps)
    for level in shares:
        drawn = [i for b in batches for i in b if stages[i] == level]
        members = sorted(i for i, s in enumerate(stages) if s == level)
        for start in range(0, len(drawn) - len(members) + 1, len(members)):
            # each pass over a stage draws each of its examples once
            assert sorted(drawn[start:start + len(members)]) == members


def test_without_stages_the_order_is_the_plain_shuffle():
    assert batch_order(10, 7, 2, 3) == batch_order(10, 7, 2, 3, stages=None)
    with pytest.raises(ValueError, match="3 stages for 4 examples"):
        batch_order(4, 2, 1, 0, stages=[0, 1, 1])


def test_curriculum_changes_the_run_and_the_default_run_keeps_its_fingerprint(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    plain, curriculum = LoraOptions(), LoraOptions(curriculum=True)
    assert fingerprint(data, "local", plain) != fingerprint(data, "local", curriculum)
    assert fingerprint(data, "local", plain) == fingerprint(data, "local", LoraOptions(threads=3))


def check_curriculum(chunks, questions, options: RaftOptions) -> list:
    examples, _ = build_examples(chunks, questions, options)
    plain, _ = build_examples(chunks, questions, RaftOptions(**{**vars(options), "curriculum": False}))
    train = [e for e in examples if e.split == "train"]
    stages = {e.question.id: e.stage for e in train}
    assert Counter(stages.values())[0] == len(stages) // 2 and set(stages.values()) <= {0, 1}
    assert all(e.to_chat()["raft"]["stage"] == e.stage for e in train)
    assert all(e.stage is None and "stage" not in e.to_chat()["raft"] for e in examples if e.split == "test")
    # the held-out split is the plain build's, and so is every hard (stage 1) train example
    assert [key(e) for e in examples if e.split == "test"] == [key(e) for e in plain if e.split == "test"]
    plain_train = {key(e) for e in plain if e.split == "train"}
    assert all(key(e) in plain_train for e in train if e.stage == 1)
    share = sum(e.oracle_present for e in train) / len(train)
    assert abs(share - options.p) <= 0.02
    return train


@SETTINGS
@given(n=st.integers(30, 60), seed=st.integers(0, 10_000), p=st.floats(0, 1), k=st.integers(1, 4),
       pairing=st.booleans())
def test_curriculum_builds_over_generated_api_corpora(n, seed, p, k, pairing, make_corpus):
    chunks = make_corpus(n, seed)
    train = check_curriculum(chunks, template_questions(chunks),
                             RaftOptions(k=k, p=p, seed=seed, pairing=pairing, abstain=True, curriculum=True))
    for e in train:
        assert len(e.documents) == k and all(e.question.answer not in d.text for d in e.documents
                                             if d.id != e.question.oracle_id)


def test_easy_distractors_are_rarely_namesakes_and_hard_ones_mostly_are():
    chunks, questions = fictional_corpus(90, 4)
    train = check_curriculum(chunks, questions, RaftOptions(k=2, p=0.5, seed=4, abstain=True, curriculum=True))

    def namesake_share(stage: int) -> float:
        shown = [(e, d) for e in train if e.stage == stage for d in e.documents if d.id != e.question.oracle_id]
        same = sum(d.title.split()[0] == e.question.question.split("the ")[-1].split()[0] for e, d in shown)
        return same / len(shown)

    assert namesake_share(1) > 0.8 > 0.3 > namesake_share(0)


def test_curriculum_needs_bm25_and_a_staged_dataset(tmp_path, make_corpus):
    with pytest.raises(InvalidInputError, match="curriculum with distractors='random'"):
        RaftOptions(curriculum=True, distractors="random").validate()
    chunks = make_corpus(30, 1)
    examples, _ = build_examples(chunks, template_questions(chunks), RaftOptions(k=2))
    plain = tmp_path / "plain.jsonl"
    write_jsonl([e for e in examples if e.split == "train"], plain)
    result = run_cli(["raft", "finetune", "--dataset", str(plain), "--out", str(tmp_path / "o"), "--curriculum"],
                     plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "a curriculum needs every record's raft.stage" in lines[0]
    result = run_cli(["raft", "build", "--source", "python:json,shlex", "-k", "2", "--curriculum", "--distractors",
                      "random", "--out", str(tmp_path / "x.jsonl")], plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 2 and "leave distractors at bm25" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_builds_a_staged_dataset(tmp_path):
    out = tmp_path / "c.jsonl"
    result = run_cli(["raft", "build", "--source", "python:json,shlex,textwrap", "-k", "2", "--curriculum",
                      "--out", str(out), "--json"], plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metadata"]["curriculum"] is True
    stages = Counter(json.loads(line)["raft"]["stage"] for line in out.read_text().splitlines())
    assert set(stages) == {0, 1} and abs(stages[0] - stages[1]) <= 1
