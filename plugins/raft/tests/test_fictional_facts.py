"""The fictional corpus written one fact per document, and sibling distractors: the same institutions and
facts as the one-document layout, every answer in one document only, and builds whose oracle-absent
examples show the asked entity's other facts, so its name is in every document whether the answer is or not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyplex.errors import InvalidInputError
from skyplex_raft.builder import RaftOptions, build_examples
from skyplex_raft.fictional import fictional_corpus
from skyplex_raft.questions import check_quote


@settings(max_examples=30, deadline=None)
@given(entities=st.integers(1, 120), seed=st.integers(0, 10_000))
def test_the_facts_layout_holds_the_same_facts_one_per_document(entities, seed):
    whole, whole_questions = fictional_corpus(entities, seed)
    chunks, questions = fictional_corpus(entities, seed, layout="facts")
    by_id = {c.id: c for c in chunks}
    assert len(chunks) == 3 * entities and len({c.text for c in chunks}) == 3 * entities
    assert [(q.question, q.answer) for q in questions] == [(q.question, q.answer) for q in whole_questions]
    assert sorted({c.title for c in chunks}) == sorted(c.title for c in whole)
    for q in questions:
        check_quote(q, by_id[q.oracle_id])
        assert [c.id for c in chunks if q.answer in c.text] == [q.oracle_id]
    for c in chunks:  # each document names its institution in its heading and its sentence
        assert c.text.startswith(c.title + "\n\n") and c.text.count(c.title) == 2


def test_the_entity_layout_is_the_default_and_a_bad_layout_is_named():
    assert fictional_corpus(9, 4) == fictional_corpus(9, 4, layout="entity")
    with pytest.raises(InvalidInputError, match="layout='pages'"):
        fictional_corpus(9, 4, layout="pages")


@settings(max_examples=20, deadline=None)
@given(entities=st.integers(4, 60), seed=st.integers(0, 10_000), k=st.integers(1, 4), p=st.floats(0, 1),
       test_fraction=st.sampled_from([0.0, 0.3]))
def test_sibling_distractors_are_the_entity_s_other_facts_first(entities, seed, k, p, test_fraction):
    chunks, questions = fictional_corpus(entities, seed, layout="facts")
    examples, skipped = build_examples(chunks, questions, RaftOptions(k=k, p=p, seed=seed, abstain=True,
                                                                      test_fraction=test_fraction,
                                                                      distractors="siblings"))
    by_id = {c.id: c for c in chunks}
    test_oracles = {by_id[e.question.oracle_id].text for e in examples if e.split == "test"}
    assert skipped == {"skipped_too_few_distractors": 0} and len(examples) == len(questions)
    for e in examples:
        oracle = by_id[e.question.oracle_id]
        distractors = [d for d in e.documents if d.id != oracle.id]
        assert len(e.documents) == k and (oracle in e.documents) is e.oracle_present
        assert all(e.question.answer not in d.text for d in distractors)
        # the siblings a distractor may be: the entity's other facts without the answer (the founding fact
        # answers two questions), and for a train example none that is a held-out question's oracle
        siblings = [c for c in chunks if c.title == oracle.title and c.id != oracle.id
                    and e.question.answer not in c.text and (e.split == "test" or c.text not in test_oracles)]
        assert sum(d.title == oracle.title for d in distractors) == min(len(distractors), len(siblings))
        if not e.oracle_present and len(siblings) >= k:
            # without the oracle, every document shown names the asked entity
            assert all(oracle.title in d.text for d in e.documents)
