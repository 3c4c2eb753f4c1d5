"""Paired training examples: each paired train question comes once with its oracle and once without it, the
same question and the same distractors otherwise, so only the presence of the answer tells the two targets
apart; the oracle share stays P within 2 points and the held-out split is the one an unpaired build makes.
Searched over generated API-doc and fictional corpora, and run through the CLI and the trainer."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.interfaces import DatasetSpec
from skyplex.testing.docs import run_cli
from skyplex_raft.builder import ABSTAIN_ANSWER, RaftOptions, build_examples, held_out_path, paired_count
from skyplex_raft.evaluate import final_answer
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.questions import template_questions
from skyplex_raft.trainer import RaftTrainer, options_from

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key(example) -> tuple:
    return example.question.id, example.oracle_present, tuple(d.id for d in example.documents)


def check_pairs(examples, options: RaftOptions) -> None:
    """Every invariant of a paired build, checked on its examples."""
    train = [e for e in examples if e.split == "train"]
    by_question = defaultdict(list)
    for e in train:
        by_question[e.question.id].append(e)
    pairs = {qid: group for qid, group in by_question.items() if len(group) == 2}
    assert all(len(group) in (1, 2) for group in by_question.values())
    assert len(pairs) == paired_count(len(by_question), options.p)
    for qid, group in by_question.items():
        if qid in pairs:
            with_oracle, without = sorted(group, key=lambda e: not e.oracle_present)
            assert with_oracle.oracle_present and not without.oracle_present
            assert with_oracle.question == without.question  # the same question, word for word
            oracle = with_oracle.question.oracle_id
            assert oracle in {d.id for d in with_oracle.documents} and oracle not in {d.id for d in without.documents}
            assert len(with_oracle.documents) == len(without.documents) == options.k
            # the distractors shown with the oracle are all shown without it too: one document differs
            assert {d.id for d in with_oracle.documents} - {oracle} < {d.id for d in without.documents}
            if options.abstain:
                assert final_answer(without.target()) == ABSTAIN_ANSWER
                assert final_answer(with_oracle.target()) == with_oracle.question.answer
        else:
            # a question left unpaired keeps its oracle when P leans that way, and lacks it otherwise
            assert group[0].oracle_present is (options.p >= 0.5)
    share = sum(e.oracle_present for e in train) / len(train)
    assert abs(share - options.p) <= 0.02


@SETTINGS
@given(n=st.integers(30, 60), seed=st.integers(0, 10_000), p=st.floats(0, 1), k=st.integers(1, 4),
       mode=st.sampled_from(["bm25", "random"]), abstain=st.booleans())
def test_pairs_over_generated_api_corpora(n, seed, p, k, mode, abstain, make_corpus):
    chunks = make_corpus(n, seed)
    questions = template_questions(chunks)
    options = RaftOptions(k=k, p=p, distractors=mode, seed=seed, abstain=abstain, pairing=True)
    examples, _ = build_examples(chunks, questions, options)
    check_pairs(examples, options)
    # the held-out split is never paired, and is the one the same build without pairing holds out
    unpaired, _ = build_examples(chunks, questions, RaftOptions(k=k, p=p, distractors=mode, seed=seed,
                                                                abstain=abstain))
    assert [key(e) for e in examples if e.split == "test"] == [key(e) for e in unpaired if e.split == "test"]
    assert len({e.question.id for e in examples if e.split == "test"}) == sum(e.split == "test" for e in examples)


@settings(max_examples=20, deadline=None)
@given(entities=st.integers(30, 90), seed=st.integers(0, 10_000), p=st.floats(0.3, 0.8), k=st.integers(1, 3))
def test_pairs_over_fictional_entities(entities, seed, p, k):
    chunks, questions = fictional_corpus(entities, seed)
    options = RaftOptions(k=k, p=p, seed=seed, abstain=True, pairing=True, test_fraction=0.3)
    examples, _ = build_examples(chunks, questions, options)
    check_pairs(examples, options)


@pytest.mark.parametrize(("n", "p", "paired"), [(100, 0.5, 100), (100, 0.8, 25), (100, 0.2, 25), (100, 0.0, 0),
                                                (100, 1.0, 0), (3, 0.5, 3), (0, 0.5, 0)])
def test_paired_count(n, p, paired):
    assert paired_count(n, p) == paired


def test_the_same_seed_pairs_the_same_way():
    chunks, questions = fictional_corpus(40, 3)
    options = RaftOptions(k=2, p=0.6, seed=3, abstain=True, pairing=True)
    assert [key(e) for e in build_examples(chunks, questions, options)[0]] == \
        [key(e) for e in build_examples(chunks, questions, options)[0]]


def test_cli_and_trainer_build_paired_datasets(tmp_path):
    out = tmp_path / "paired.jsonl"
    result = run_cli(["raft", "build", "--source", "python:json,shlex,textwrap", "-k", "2", "-p", "0.5", "--abstain",
                      "--pairing", "--out", str(out), "--json"], plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)["metadata"]
    assert meta["pairing"] is True
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    counts = defaultdict(list)
    for row in rows:
        counts[row["raft"]["question_id"]].append(row["raft"]["oracle_present"])
    assert sorted(map(sorted, counts.values())) == [[False, True]] * len(counts)  # P 0.5: every question paired
    test_ids = [json.loads(line)["raft"]["question_id"] for line in held_out_path(out).read_text().splitlines()]
    assert len(test_ids) == len(set(test_ids))

    assert options_from({"pairing": "yes"})[0].pairing is True
    art = RaftTrainer().build_dataset(DatasetSpec(source="python:json,shlex", output=str(tmp_path / "t.jsonl"),
                                                  options={"k": 2, "p": 0.5, "pairing": True}))
    assert art.metadata["pairing"] is True and art.num_examples == 2 * len({
        json.loads(line)["raft"]["question_id"] for line in (tmp_path / "t.jsonl").read_text().splitlines()})
