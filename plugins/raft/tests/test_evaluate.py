"""The ``raft`` evaluator: the kit's contract on the real local SmolLM2, the scoring searched with
hypothesis, and scripted replies whose right scores are known (gold answers, torn quotes, distractor quotes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex.interfaces import Subject, Suite
from skyplex.testing import EvaluatorConformance
from skyplex.testing.fakes import ScriptedModelBackend
from skyplex_raft.builder import BEGIN, END, RaftOptions, build_examples, held_out_path, write_jsonl
from skyplex_raft.evaluate import (
    RaftEvaluator,
    bootstrap_ci,
    exact_match,
    final_answer,
    load_items,
    normalize,
    token_f1,
)
from skyplex_raft.questions import template_questions


@pytest.fixture(scope="module")
def test_split(tmp_path_factory, make_corpus) -> Path:
    """A held-out split of a generated corpus (both conditions present: P=0.5)."""
    chunks = make_corpus(30, 7)
    examples, _ = build_examples(chunks, template_questions(chunks), RaftOptions(k=2, p=0.5, test_fraction=0.4))
    out = tmp_path_factory.mktemp("raft") / "d.jsonl"
    write_jsonl([e for e in examples if e.split == "train"], out)
    write_jsonl([e for e in examples if e.split == "test"], held_out_path(out))
    return held_out_path(out)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class TestRaftEvaluatorConformance(EvaluatorConformance):
    @pytest.fixture
    def evaluator(self, skyplex_local_backend):
        return RaftEvaluator(backends={"local": skyplex_local_backend})

    @pytest.fixture
    def subjects(self):
        return [Subject(name="base", backend="local", params={"documents": False}),
                Subject(name="base+rag", backend="local")]

    @pytest.fixture
    def suite(self, test_split):
        return Suite(name="raft-tiny", options={"dataset": str(test_split), "limit": 1, "max_tokens": 4,
                                                "bootstrap": 200})


def scripted(test_split: Path, reply_for) -> ScriptedModelBackend:
    return ScriptedModelBackend({"Question: " + r["messages"][1]["content"].rsplit("Question: ", 1)[1]: reply_for(r)
                                 for r in records(test_split)})


def run(test_split: Path, backend, **params) -> dict[str, float]:
    report = RaftEvaluator(backends={"m": backend}).evaluate(
        [Subject(name="m", backend="m", params=params)],
        Suite(name="s", options={"dataset": str(test_split), "max_tokens": 4096, "bootstrap": 100}))
    return {s.metric: s.value for s in report.scores}


def test_the_gold_target_scores_full_marks(test_split):
    scores = run(test_split, scripted(test_split, lambda r: r["messages"][2]["content"]))
    assert scores["exact_match"] == scores["f1"] == 1.0
    assert scores["quote_precision@oracle"] == 1.0 and scores["quote_recall@oracle"] == 1.0
    # RAFT's target quotes the oracle even when it is not shown: such a quote is not in the documents
    assert scores["quote_precision@distractors"] == 0.0
    assert "quote_recall@distractors" not in scores


def test_a_quote_of_a_distractor_is_precise_but_misses_the_oracle(test_split):
    def reply(r):
        user, meta = r["messages"][1]["content"], r["raft"]
        docs = user.split("<DOCUMENT>")[1:]
        distractor = next(d.split("</DOCUMENT>")[0] for i, d in enumerate(docs) if i != meta["oracle_position"])
        return f"{BEGIN}{distractor.splitlines()[0]}{END} <ANSWER>: {meta['answer']}"
    scores = run(test_split, scripted(test_split, reply))
    assert scores["quote_precision"] == 1.0 and scores["quote_recall@oracle"] == 0.0
    assert scores["exact_match"] == 1.0


def test_an_invented_quote_is_imprecise_and_a_wrong_answer_scores_zero(test_split):
    scores = run(test_split, scripted(test_split, lambda r: f"{BEGIN}words found nowhere at all{END} <ANSWER>: zebra"))
    assert scores["quote_precision"] == 0.0 and scores["quote_recall@oracle"] == 0.0
    assert scores["exact_match"] == scores["f1"] == 0.0


def test_closed_book_sees_no_documents(test_split):
    backend = scripted(test_split, lambda r: r["messages"][2]["content"])
    scores = run(test_split, backend, documents=False)
    # quoting the oracle is no credit when the documents were not shown
    assert scores["quote_precision"] == 0.0 and scores["quote_recall@oracle"] == 0.0
    assert all("<DOCUMENT>" not in str(p) for batch in backend.calls for p in batch[0])


def test_conditions_split_the_items(test_split):
    items = load_items(test_split)
    present = sum(i.oracle_present for i in items)
    report = RaftEvaluator(backends={"m": scripted(test_split, lambda r: "<ANSWER>: x")}).evaluate(
        [Subject(name="m", backend="m")], Suite(name="s", options={"dataset": str(test_split), "bootstrap": 50}))
    n = {s.metric: s.n for s in report.scores}
    assert n["exact_match@oracle"] == present and n["exact_match@distractors"] == len(items) - present > 0
    assert n["exact_match"] == len(items) == len({r.item_id for r in report.items})


@settings(max_examples=200, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_f1_is_a_symmetric_share(a, b):
    f = token_f1(a, b)
    assert 0.0 <= f <= 1.0 and f == pytest.approx(token_f1(b, a))
    if exact_match(a, b):
        assert f == 1.0
    if normalize(a) and normalize(b) and not set(normalize(a).split()) & set(normalize(b).split()):
        assert f == 0.0


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=30), answer=st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=30))
def test_final_answer_is_what_follows_the_last_marker(before, answer):
    assert final_answer(f"{before}<ANSWER>: {answer}") == answer.strip()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=1, max_size=50), seed=st.integers(0, 100))
def test_bootstrap_interval_brackets_the_mean(values, seed):
    low, high = bootstrap_ci(values, resamples=200, seed=seed)
    mean = sum(values) / len(values)
    assert low <= mean + 1e-12 and mean - 1e-12 <= high
    if len(set(values)) == 1:
        assert high - low == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("options", "subjects", "message"), [
    ({}, None, "needs options.dataset"),
    ({"dataset": "MISSING"}, None, "no such file"),
    ({"dataset": "BAD"}, None, "line 1: not a RAFT record"),
    ({"dataset": "OK", "limit": 0}, None, "must be at least 1"),
    ({"dataset": "OK"}, [Subject(name="a", backend="m"), Subject(name="a", backend="m")], "subject names must differ"),
    ({"dataset": "OK"}, [Subject(name="a", model="NOT_A_MODEL")], "is not a folder holding a model"),
    ({"dataset": "OK"}, [Subject(name="a", backend="nothing")], "backend 'nothing' is unknown"),
])
def test_bad_input_is_named(tmp_path, test_split, options, subjects, message):
    (tmp_path / "bad.jsonl").write_text('{"messages": []}\n')
    paths = {"MISSING": tmp_path / "none.jsonl", "BAD": tmp_path / "bad.jsonl", "OK": test_split}
    options = {k: str(paths[v]) if v in paths else v for k, v in options.items()}
    subjects = [s.model_copy(update={"model": str(tmp_path)}) if s.model else s
                for s in (subjects or [Subject(name="a", backend="m")])]
    with pytest.raises(InvalidInputError, match=message):
        RaftEvaluator(backends={"m": ScriptedModelBackend([])}).evaluate(subjects, Suite(name="s", options=options))
