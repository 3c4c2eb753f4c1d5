"""The fictional-entity corpus that abstention is measured on: deterministic for a seed, every answer in
its own document and no other (so a model cannot read it from a distractor or know it from
pretraining), namesakes as the retrieved distractors, and abstain-mode builds over it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.builder import ABSTAIN_ANSWER, RaftOptions, build_examples, quotes_in
from skyplex_raft.evaluate import final_answer, is_abstention
from skyplex_raft.fictional import KINDS, fictional_corpus
from skyplex_raft.questions import check_quote


def test_the_same_seed_gives_the_same_corpus():
    assert fictional_corpus(30, 5) == fictional_corpus(30, 5)
    assert fictional_corpus(30, 5)[0] != fictional_corpus(30, 6)[0]


@settings(max_examples=40, deadline=None)
@given(entities=st.integers(1, 120), seed=st.integers(0, 10_000))
def test_every_answer_is_in_its_own_document_and_no_other(entities, seed):
    chunks, questions = fictional_corpus(entities, seed)
    by_id = {c.id: c for c in chunks}
    assert len(chunks) == entities and len(questions) == 3 * entities
    assert len({c.title for c in chunks}) == entities and len({c.text for c in chunks}) == entities
    for q in questions:
        check_quote(q, by_id[q.oracle_id])
        assert q.answer in q.quote and by_id[q.oracle_id].title in q.question
        assert [c.id for c in chunks if q.answer in c.text] == [q.oracle_id]
        assert not is_abstention(q.answer)


def test_names_recur_across_kinds_so_namesakes_exist():
    chunks, _ = fictional_corpus(60, 0)
    names = [c.title.split()[0] for c in chunks]
    assert all(c.title.split()[1] in KINDS for c in chunks)
    assert sum(names.count(n) > 1 for n in names) >= len(chunks) // 2


def _shares_a_word(title: str, other: str) -> bool:
    return bool(set(title.split()) & set(other.split()))


@settings(max_examples=25, deadline=None)
@given(entities=st.integers(20, 80), seed=st.integers(0, 10_000), k=st.integers(1, 4), p=st.floats(0, 1))
def test_abstain_builds_show_namesakes_first_and_abstain_exactly_without_the_oracle(entities, seed, k, p):
    chunks, questions = fictional_corpus(entities, seed)
    by_id = {c.id: c for c in chunks}
    examples, skipped = build_examples(chunks, questions, RaftOptions(k=k, p=p, seed=seed, abstain=True,
                                                                      test_fraction=0.3))
    assert skipped == {"skipped_too_few_distractors": 0} and len(examples) == len(questions)
    test_oracles = {e.question.oracle_id for e in examples if e.split == "test"}
    for e in examples:
        oracle = by_id[e.question.oracle_id]
        pool = chunks if e.split == "test" else [c for c in chunks if c.id not in test_oracles]
        namesakes = [c for c in pool if c.id != oracle.id and _shares_a_word(oracle.title, c.title)]
        distractors = [d for d in e.documents if d.id != oracle.id]
        assert len(distractors) == (k - 1 if e.oracle_present else k)
        # BM25 ranks documents on the same name or kind first: the hard negatives
        assert sum(_shares_a_word(oracle.title, d.title) for d in distractors) == min(len(distractors), len(namesakes))
        target = e.target()
        if e.oracle_present:
            assert final_answer(target) == e.question.answer and quotes_in(target) == [e.question.quote]
        else:
            assert final_answer(target) == ABSTAIN_ANSWER and not quotes_in(target)
            assert all(e.question.answer not in d.text for d in e.documents)


@pytest.mark.parametrize("entities", [0, -3, 2001])
def test_a_count_out_of_range_is_refused(entities):
    with pytest.raises(InvalidInputError, match=f"entities={entities}: give between 1 and 2000"):
        fictional_corpus(entities)
