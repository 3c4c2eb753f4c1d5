"""Abstention: in abstain mode an example without its oracle teaches "The documents do not contain the
answer." instead of a quote of a document the model never saw, and the evaluator scores abstaining
(rate with and without the oracle, precision and recall). Built over the real API docs of installed
stdlib modules and searched over generated corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import DatasetSpec, Subject, Suite
from skyplex.testing.docs import run_cli
from skyplex.testing.fakes import ScriptedModelBackend
from skyplex_raft.builder import (
    ABSTAIN_ANSWER,
    ABSTAIN_SYSTEM_PROMPT,
    BEGIN,
    SYSTEM_PROMPT,
    RaftOptions,
    build_examples,
    held_out_path,
    quotes_in,
    write_jsonl,
)
from skyplex_raft.documents import api_doc_chunks
from skyplex_raft.evaluate import RaftEvaluator, final_answer, is_abstention, score_reply
from skyplex_raft.questions import template_questions
from skyplex_raft.trainer import RaftTrainer, options_from

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REAL_MODULES = ["json", "textwrap", "shlex", "difflib", "base64", "gzip", "fnmatch", "pprint"]


@pytest.fixture(scope="module")
def real_chunks():
    """Chunks of real API documentation: the docstrings of installed stdlib modules."""
    return api_doc_chunks(REAL_MODULES)


@pytest.fixture(scope="module")
def abstain_split(tmp_path_factory, real_chunks) -> Path:
    """The held-out split of an abstain-mode build over the real docs (half the examples lack their oracle)."""
    examples, _ = build_examples(real_chunks, template_questions(real_chunks),
                                 RaftOptions(k=2, p=0.5, test_fraction=0.4, abstain=True))
    out = tmp_path_factory.mktemp("abstain") / "d.jsonl"
    write_jsonl([e for e in examples if e.split == "train"], out)
    write_jsonl([e for e in examples if e.split == "test"], held_out_path(out))
    return held_out_path(out)


def test_real_docs_abstain_exactly_where_the_oracle_is_missing(real_chunks):
    examples, _ = build_examples(real_chunks, template_questions(real_chunks), RaftOptions(k=3, p=0.7, abstain=True))
    absent = [e for e in examples if not e.oracle_present]
    assert absent and len(absent) < len(examples)
    for e in examples:
        record = e.to_chat()
        target = record["messages"][2]["content"]
        # every example carries the same system turn, so the prompt says nothing of the oracle's presence
        assert record["messages"][0]["content"] == ABSTAIN_SYSTEM_PROMPT
        assert record["raft"]["abstain"] is (not e.oracle_present)
        if e.oracle_present:
            assert final_answer(target) == e.question.answer and quotes_in(target)
        else:
            # no quote of the unseen oracle: nothing it says can be checked against the documents shown
            assert final_answer(target) == ABSTAIN_ANSWER and BEGIN not in target
            assert not is_abstention(e.question.answer)


def test_without_abstain_mode_the_targets_are_raft_s(real_chunks):
    examples, _ = build_examples(real_chunks, template_questions(real_chunks), RaftOptions(k=3, p=0.5))
    assert all(e.to_chat()["messages"][0]["content"] == SYSTEM_PROMPT for e in examples)
    assert all(final_answer(e.target()) == e.question.answer and not e.to_chat()["raft"]["abstain"]
               for e in examples)


def test_no_real_gold_answer_reads_as_an_abstention(real_chunks):
    """The detector must not mistake a documented answer for a refusal, or abstain scores mean nothing."""
    answers = [q.answer for q in template_questions(real_chunks)]
    assert len(answers) > 50
    assert [a for a in answers if is_abstention(a)] == []


@pytest.mark.parametrize("answer", [
    ABSTAIN_ANSWER, "the documents don't contain the answer", "The document does not mention it.",
    "This is not in the documents.", "It cannot be determined from the context.", "No document states this.",
    "The provided context does not provide the answer"])
def test_abstentions_in_other_words_are_recognised(answer):
    assert is_abstention(answer)


@pytest.mark.parametrize("answer", ["(obj, *, skipkeys=False)", "Return a list of the lines", "a document",
                                    "None", "not", "It does not raise", "Returns the context manager"])
def test_answers_are_not_abstentions(answer):
    assert not is_abstention(answer)


@SETTINGS
@given(n=st.integers(30, 50), seed=st.integers(0, 10_000), p=st.floats(0, 1), k=st.integers(1, 4))
def test_abstaining_targets_follow_the_oracle_over_generated_corpora(n, seed, p, k, make_corpus):
    chunks = make_corpus(n, seed)
    examples, _ = build_examples(chunks, template_questions(chunks), RaftOptions(k=k, p=p, seed=seed, abstain=True))
    share = sum(e.abstains for e in examples) / len(examples)
    assert abs(share - (1 - p)) <= 0.02  # the abstaining share is 1 - P, as the oracle-absent share is
    for e in examples:
        item = {"oracle_present": e.oracle_present}
        assert is_abstention(final_answer(e.target())) == e.abstains == (not item["oracle_present"])
        # the gold target scores full marks on abstaining: precise when it abstains, never falsely
        assert score_reply_of(e)["abstain"] == float(not e.oracle_present)


def score_reply_of(example) -> dict:
    from skyplex_raft.evaluate import EvalItem

    docs = [d.text for d in example.documents]
    item = EvalItem(question_id=example.question.id, question=example.question.question, documents=docs,
                    oracle_present=example.oracle_present,
                    oracle_text=next((d.text for d in example.documents if d.id == example.question.oracle_id), None),
                    answer=example.question.answer, messages=[])
    return score_reply(item, example.target())


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def evaluate(split: Path, reply_for) -> dict[str, tuple[float, int]]:
    backend = ScriptedModelBackend({"Question: " + r["messages"][1]["content"].rsplit("Question: ", 1)[1]: reply_for(r)
                                    for r in records(split)})
    report = RaftEvaluator(backends={"m": backend}).evaluate(
        [Subject(name="m", backend="m")], Suite(name="s", options={"dataset": str(split), "bootstrap": 100,
                                                                   "max_tokens": 4096}))
    return {s.metric: (s.value, s.n) for s in report.scores}


def test_the_gold_targets_abstain_precisely_and_completely(abstain_split):
    items = records(abstain_split)
    absent = sum(not r["raft"]["oracle_present"] for r in items)
    assert 0 < absent < len(items)
    scores = evaluate(abstain_split, lambda r: r["messages"][2]["content"])
    assert scores["abstain@distractors"] == (1.0, absent)
    assert scores["abstain@oracle"] == (0.0, len(items) - absent)  # no false abstention
    assert scores["abstain_precision"] == (1.0, absent) and scores["abstain_recall"] == (1.0, absent)
    assert "abstain_precision@oracle" not in scores


def test_always_abstaining_is_complete_but_imprecise(abstain_split):
    items = records(abstain_split)
    absent = sum(not r["raft"]["oracle_present"] for r in items)
    scores = evaluate(abstain_split, lambda r: f"<ANSWER>: {ABSTAIN_ANSWER}")
    assert scores["abstain@oracle"][0] == 1.0 and scores["abstain_recall"][0] == 1.0
    assert scores["abstain_precision"] == (pytest.approx(absent / len(items)), len(items))
    assert scores["exact_match"][0] == 0.0


def test_never_abstaining_has_no_recall_and_no_precision_to_report(abstain_split):
    scores = evaluate(abstain_split, lambda r: f"<ANSWER>: {r['raft']['answer']}")
    assert scores["abstain"][0] == 0.0 and scores["abstain_recall"][0] == 0.0
    assert "abstain_precision" not in scores  # no abstentions: precision is undefined, not 0 or 1


def test_cli_builds_an_abstaining_dataset_from_real_docs(tmp_path):
    out = tmp_path / "a.jsonl"
    result = run_cli(["raft", "build", "--source", "python:json,shlex,textwrap", "-k", "2", "-p", "0.6", "--abstain",
                      "--out", str(out), "--json"], plugins={"raft"}, data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)["metadata"]
    rows = records(out) + records(held_out_path(out))
    assert meta["abstain"] is True
    assert meta["abstain_examples"] == sum(not r["raft"]["oracle_present"] for r in rows) > 0
    assert all(final_answer(r["messages"][2]["content"]) == ABSTAIN_ANSWER for r in rows
               if not r["raft"]["oracle_present"])


def test_the_trainer_reads_abstain_as_a_flag(tmp_path):
    assert options_from({"abstain": "false"})[0].abstain is False
    assert options_from({"abstain": True})[0].abstain is True
    with pytest.raises(InvalidInputError, match="abstain='maybe' is not a true/false flag"):
        options_from({"abstain": "maybe"})
    art = RaftTrainer().build_dataset(DatasetSpec(source="python:json,shlex", output=str(tmp_path / "t.jsonl"),
                                                  options={"k": 2, "p": 0.5, "abstain": "true"}))
    assert art.metadata["abstain_examples"] > 0
