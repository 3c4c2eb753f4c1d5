"""The RAFT builder's guarantees, searched over generated corpora with hypothesis, plus real API docs."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.builder import BEGIN, END, RaftOptions, build_examples, quotes_in, write_jsonl
from skyplex_raft.documents import api_doc_chunks, load_corpus, section_chunks
from skyplex_raft.questions import Question, check_quote, template_questions

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(chunks, **kw):
    """RAFT examples for every templated question of ``chunks``."""
    return build_examples(chunks, template_questions(chunks), RaftOptions(**kw))


@SETTINGS
@given(n=st.integers(30, 60), seed=st.integers(0, 10_000), p=st.floats(0, 1), k=st.integers(1, 5),
       mode=st.sampled_from(["bm25", "random"]))
def test_invariants_over_generated_corpora(n, seed, p, k, mode, make_corpus):
    chunks = make_corpus(n, seed)
    by_id = {c.id: c for c in chunks}
    examples, _ = build(chunks, k=k, p=p, distractors=mode, seed=seed)
    assert len(examples) >= 50
    # the share of oracle-present examples is P (exactly round(P*n) per split, so within 1/n overall)
    share = sum(e.oracle_present for e in examples) / len(examples)
    assert abs(share - p) <= 0.02
    for e in examples:
        oracle = by_id[e.question.oracle_id]
        assert len(e.documents) == k
        assert (oracle in e.documents) == e.oracle_present
        distractors = [d for d in e.documents if d.id != oracle.id]
        assert len(distractors) == (k - 1 if e.oracle_present else k)
        for d in distractors:  # never the oracle, never a document holding the gold answer
            assert d.text != oracle.text and e.question.answer not in d.text
        # the target quotes the oracle verbatim and the answer lies in the quote
        quotes = quotes_in(e.target())
        assert quotes and all(q in oracle.text for q in quotes) and e.question.answer in quotes[0]
        assert e.target().endswith(f"<ANSWER>: {e.question.answer}")


@SETTINGS
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.1, 0.5))
def test_no_test_oracle_appears_in_train(seed, fraction, make_corpus):
    examples, _ = build(make_corpus(40, seed), k=4, test_fraction=fraction, seed=seed)
    test_oracles = {e.question.oracle_id for e in examples if e.split == "test"}
    assert test_oracles
    for e in examples:
        if e.split == "train":
            assert e.question.oracle_id not in test_oracles
            assert not {d.id for d in e.documents} & test_oracles


def test_oracle_position_is_roughly_uniform(make_corpus):
    k = 4
    positions = Counter()
    for seed in range(6):
        examples, _ = build(make_corpus(60, seed), k=k, p=1.0, seed=seed)
        for e in examples:
            positions[[d.id for d in e.documents].index(e.question.oracle_id)] += 1
    total = sum(positions.values())
    assert total >= 600
    # expected 1/k each; a fixed position (the authors' oracle-first layout) would put 100% in one
    for pos in range(k):
        assert abs(positions[pos] / total - 1 / k) < 0.05, positions


def test_bm25_distractors_are_harder_than_random(make_corpus):
    """Hard negatives share more question words with the question than random picks do."""
    from skyplex_raft.builder import tokens

    def overlap(mode):
        examples, _ = build(make_corpus(80, 3), k=3, p=0.0, distractors=mode, seed=1)
        return sum(len(set(tokens(e.question.question)) & set(tokens(" ".join(d.text for d in e.documents))))
                   for e in examples) / len(examples)

    assert overlap("bm25") > overlap("random")


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_outside_unit_interval_is_refused(p, make_corpus):
    with pytest.raises(InvalidInputError, match="outside \\[0, 1\\]"):
        build(make_corpus(10), p=p)


def test_k_larger_than_corpus_is_refused(make_corpus):
    with pytest.raises(InvalidInputError, match="k=50 needs 50 distractor documents.*corpus has only 10 chunks"):
        build(make_corpus(10), k=50)


def test_mismatched_quote_is_refused(make_corpus):
    chunk = make_corpus(3)[0]
    bad = Question(id="q1", oracle_id=chunk.id, question="?", answer="Return", quote="Return nothing at all",
                   template="returns")
    with pytest.raises(InvalidInputError, match="not verbatim"):
        check_quote(bad, chunk)
    with pytest.raises(InvalidInputError, match="not in the corpus"):
        build_examples(make_corpus(6)[1:], [bad], RaftOptions(k=2))


def test_real_api_docs_give_checkable_questions(make_corpus):
    chunks = api_doc_chunks(["json", "textwrap", "shlex"])
    questions = template_questions(chunks)
    by_id = {c.id: c for c in chunks}
    returns = [q for q in questions if q.template == "returns"]
    assert any(q.question == "Which parameters does `textwrap.wrap` take?" for q in questions)
    assert returns
    for q in questions:
        assert q.answer in q.quote and q.quote in by_id[q.oracle_id].text
    examples, _ = build_examples(chunks, questions, RaftOptions(k=3))
    assert sum(e.split == "test" for e in examples) > 0


def test_jsonl_is_chat_format_without_duplicates(tmp_path, make_corpus):
    examples, _ = build(make_corpus(30), k=3)
    path = tmp_path / "d.jsonl"
    n = write_jsonl(examples + examples[:5], path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert n == len(rows) == len(examples)
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        user, answer = row["messages"][1]["content"], row["messages"][2]["content"]
        assert user.count("<DOCUMENT>") == 3 and BEGIN in answer and END in answer


def test_empty_and_binary_documents_are_refused_by_name(tmp_path, make_corpus):
    empty, binary = tmp_path / "empty.md", tmp_path / "blob.txt"
    empty.write_text("  \n")
    binary.write_bytes(b"\x00\x01\x02abc")
    with pytest.raises(InvalidInputError, match="empty.md: the document is empty"):
        section_chunks(empty)
    with pytest.raises(InvalidInputError, match="blob.txt: looks binary"):
        load_corpus(str(binary))


def test_markdown_sections_give_questions(tmp_path, make_corpus):
    doc = tmp_path / "guide.md"
    doc.write_text("# Setup\n\nInstall the package with pip first.\n\n## Usage\n\nCall build with a source.\n")
    chunks = section_chunks(doc)
    questions = template_questions(chunks)
    assert [c.title for c in chunks] == ["Setup", "Usage"]
    assert {q.answer for q in questions} == {"Install the package with pip first.", "Call build with a source."}


def test_bm25_ranks_the_same_api_first_on_real_docs():
    """On real stdlib docs the hard negatives for a question about one function are its near namesakes."""
    import random

    from skyplex_raft.builder import DistractorPicker

    chunks = api_doc_chunks(["json", "textwrap", "shlex", "os", "re"])
    by_id = {c.id: c for c in chunks}
    questions = {q.question: q for q in template_questions(chunks)}
    picker = DistractorPicker(chunks, "bm25", random.Random(0))
    q = questions["Which parameters does `textwrap.wrap` take?"]
    picked = [d.title for d in picker.pick(q, by_id[q.oracle_id], 3)]
    assert all(title.startswith("textwrap.") for title in picked) and "textwrap.wrap" not in picked
    q = questions["Which parameters does `json.dumps` take?"]
    assert all(d.title.startswith("json.") for d in picker.pick(q, by_id[q.oracle_id], 3))
